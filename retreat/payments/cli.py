from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from retreat.core.clock import now
from retreat.payments import refunds, stripe_provider
from retreat.payments.providers import ProviderUnavailable

payments_cli = AppGroup("payments", help="Card payments (Stripe) and refunds.")


@payments_cli.command("reconcile")
@click.option("--since-hours", default=72, show_default=True, type=click.IntRange(1, 24 * 90),
              help="Look at PaymentIntents created in this many past hours.")
def reconcile(since_hours: int):
    """Record Stripe payments and refunds the ledger lacks (a webhook that never arrived), finish refunds left
    pending, and send the rest. Safe to repeat: run it from cron every hour."""
    if not current_app.config.get("STRIPE_SECRET_KEY"):
        raise click.ClickException("Stripe is not configured (STRIPE_SECRET_KEY): nothing to reconcile.")
    try:
        result = stripe_provider.reconcile(since=now() - timedelta(hours=since_hours))
    except ProviderUnavailable as unavailable:
        raise click.ClickException(unavailable.message) from unavailable
    for line in result.repairs + result.left_alone:
        click.echo(line)
    if result.repairs:
        click.echo(f"Repaired {len(result.repairs)} difference(s) of the last {since_hours} hours.")
    else:
        click.echo(f"Nothing to repair: the ledger has every Stripe payment of the last {since_hours} hours.")


@payments_cli.command("retry-refunds")
def retry_refunds():
    """Send the refunds left pending (a provider that failed, or a crash after the change that owed them): each
    is looked for at the provider first, so none is made twice. Safe to repeat: run it from cron every 10
    minutes. Those still pending are listed here and in the finance console (month close)."""
    result = refunds.retry_pending()
    for row in result.sent + result.still_pending:
        click.echo(refunds.describe(row))
    click.echo(f"Sent {len(result.sent)} refund(s); {len(result.still_pending)} still pending.")
