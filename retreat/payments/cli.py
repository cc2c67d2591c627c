"""`flask payments ...`: refunds left pending (and, from payment_events, reconciling with Stripe)."""

import click
from flask.cli import AppGroup

from retreat.core.jobs import one_host_at_a_time
from retreat.payments import refunds

payments_cli = AppGroup("payments", help="Card payments (Stripe) and refunds.")


@payments_cli.command("retry-refunds")
@one_host_at_a_time("payments retry-refunds")
def retry_refunds():
    """Send the refunds left pending (a provider that failed, or a crash after the change that owed them): each
    is looked for at the provider first, so none is made twice. Safe to repeat: run it from cron every 10
    minutes. Those still pending are listed here and in the finance console (month close)."""
    result = refunds.retry_pending()
    for row in result.sent + result.still_pending:
        click.echo(refunds.describe(row))
    click.echo(f"Sent {len(result.sent)} refund(s); {len(result.still_pending)} still pending.")
