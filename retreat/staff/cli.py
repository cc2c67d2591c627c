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
