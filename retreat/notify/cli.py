import click
from flask.cli import AppGroup

from retreat.core.jobs import one_host_at_a_time
from retreat.notify.services import KEEP_SENT_BODY_DAYS, purge_sent_bodies, send_pending

notify_cli = AppGroup("notify", help="Outbound email.")


@notify_cli.command("send")
@click.option("--limit", default=200, show_default=True, help="At most this many emails in one run.")
@one_host_at_a_time("notify send")
def send(limit: int):
    """Send queued emails; failures stay queued for the next run (run it from cron every minute)."""
    click.echo(f"Sent {send_pending(limit)} email(s).")


@notify_cli.command("purge")
@click.option("--older-than-days", default=KEEP_SENT_BODY_DAYS, show_default=True, type=click.IntRange(min=1),
              help="Empty the bodies of emails sent longer ago than this.")
@one_host_at_a_time("notify purge")
def purge(older_than_days: int):
    """Empty the bodies of sent emails older than this (they hold live manage and approval links); subject,
    recipient, kind and times stay. Unsent emails are kept whole. Run it daily from cron."""
    count = purge_sent_bodies(older_than_days)
    click.echo(f"Emptied the bodies of {count} email(s) sent more than {older_than_days} days ago.")
