import click
from flask.cli import AppGroup

from retreat.notify.services import send_pending

notify_cli = AppGroup("notify", help="Outbound email.")


@notify_cli.command("send")
@click.option("--limit", default=200, show_default=True, help="At most this many emails in one run.")
def send(limit: int):
    """Send queued emails; failures stay queued for the next run (run it from cron every minute)."""
    click.echo(f"Sent {send_pending(limit)} email(s).")
