"""`flask payments reconcile`: what Stripe has and the ledger lacks (a webhook that never arrived)."""

from datetime import timedelta

import click
from flask import current_app

from retreat.core.clock import now
from retreat.core.jobs import one_host_at_a_time
from retreat.payment_events import stripe as events
from retreat.payments.cli import payments_cli
from retreat.payments.contract import ProviderUnavailable


@payments_cli.command("reconcile")
@click.option("--since-hours", default=72, show_default=True, type=click.IntRange(1, 24 * 90),
              help="Look at PaymentIntents created in this many past hours.")
@one_host_at_a_time("payments reconcile")
def reconcile(since_hours: int):
    """Record Stripe payments and refunds the ledger lacks (a webhook that never arrived), finish refunds left
    pending, and send the rest. Safe to repeat: run it from cron every hour."""
    if not current_app.config.get("STRIPE_SECRET_KEY"):
        raise click.ClickException("Stripe is not configured (STRIPE_SECRET_KEY): nothing to reconcile.")
    try:
        result = events.reconcile(since=now() - timedelta(hours=since_hours))
    except ProviderUnavailable as unavailable:
        raise click.ClickException(unavailable.message) from unavailable
    for line in result.repairs + result.left_alone:
        click.echo(line)
    if result.repairs:
        click.echo(f"Repaired {len(result.repairs)} difference(s) of the last {since_hours} hours.")
    else:
        click.echo(f"Nothing to repair: the ledger has every Stripe payment of the last {since_hours} hours.")
