import sys

import click
from flask.cli import AppGroup

from retreat.core.errors import ValidationFailed
from retreat.staff import services
from retreat.staff.models import ROLES

staff_cli = AppGroup("staff", help="Staff accounts.")


def _read_password() -> str:
    """Twice at a prompt on a terminal, or one line from standard input; never a command-line argument."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt="Password again")
    return sys.stdin.readline().rstrip("\n")


@staff_cli.command("create")
@click.option("--email", required=True)
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice(ROLES),
              help="Repeat for several roles.")
@click.option("--name", default="", help="Defaults to the part of the email before @.")
def create(email: str, roles: tuple[str, ...], name: str):
    """Create a staff user (the first admin, say). The password is asked twice, or read from standard input."""
    password = _read_password()
    try:
        user, _ = services.create_user(email, name or email.split("@")[0], roles, password=password)
    except ValidationFailed as refusal:
        for field, reasons in refusal.fields.items():
            click.echo(f"{field}: {' '.join(reasons)}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Created {user.email} with roles {', '.join(user.roles)}.")


# --- flask staff token ... (staff API tokens for automation; see retreat/staff/api_tokens.py) ----------------

token_cli = AppGroup("token", help="Staff API tokens for automation (the finance payments export).")
staff_cli.add_command(token_cli)


@token_cli.command("create")
@click.option("--email", required=True, help="The finance user the token acts as.")
@click.option("--name", default="Command line", show_default=True, help="What the token is for.")
def token_create(email: str, name: str):
    """Make an API token for a finance user and print it, once, on standard output (only it, for scripts).
    Only its hash is stored: keep it in a secret store."""
    from retreat.staff import api_tokens

    user = services.find_by_email(email)
    if user is None:
        click.echo(f"email: There is no staff user {email.strip().lower()}.", err=True)
        raise SystemExit(1)
    try:
        record, token = api_tokens.create_token(user, name)
    except ValidationFailed as refusal:
        for field, reasons in refusal.fields.items():
            click.echo(f"{field}: {' '.join(reasons)}", err=True)
        raise SystemExit(1) from None
    click.echo(token)
    click.echo(f"Made API token {record.prefix}… ({record.name}) for {user.email}. It is shown only now; "
               "an admin can revoke it in the staff console.", err=True)
