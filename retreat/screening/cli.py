import click
from flask.cli import AppGroup

from retreat.core import crypto
from retreat.core.crypto import DecryptionError
from retreat.core.jobs import one_host_at_a_time
from retreat.screening import review, services

screening_cli = AppGroup("screening", help="Pre-screens.")


@screening_cli.command("purge")
@click.option("--older-than-days", default=services.PURGE_AFTER_DAYS, show_default=True,
              type=click.IntRange(min=1),
              help="Purge decided screens whose last step (submission or decision) is older than this.")
@one_host_at_a_time("screening purge")
def purge(older_than_days: int):
    """Remove the health data (answers, reasons, PHQ-9 score, contact details, clinician notes) of decided screens
    that led to no booking (run it daily from cron). A review still pending or waiting for records is never
    purged. Outcome, urgency, review status and times stay."""
    count = services.purge_old_answers(older_than_days)
    click.echo(f"Purged the answers of {count} screening(s) older than {older_than_days} days.")


@screening_cli.command("rotate-keys")
@one_host_at_a_time("screening rotate-keys")
def rotate_keys():
    """Re-encrypt answers, findings (reasons and PHQ-9 score), contact details and notes under the newest key, the
    first of SCREENING_ENCRYPTION_KEYS. Afterwards the older keys can be removed from the configuration."""
    try:
        count = review.rotate_encryption()
        others = {name: rotate_all() for name, rotate_all in crypto.ROTATIONS.items()}
    except DecryptionError as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    click.echo(f"Re-encrypted {count} screening(s) under the newest key.")
    for name, rows in others.items():
        click.echo(f"Re-encrypted {rows} {name} under the newest key.")
