"""`flask bookings remind`: the daily reminders, added to booking's `bookings` group from here because it sends the
checklist reminders of arrival (above booking) beside booking's own balance reminders."""

import click

from retreat.arrival.reminders import send_checklist_reminders
from retreat.booking import services
from retreat.booking.cli import bookings_cli
from retreat.core.jobs import one_host_at_a_time


@bookings_cli.command("remind")
@one_host_at_a_time("bookings remind")
def remind():
    """Email the reminders due today (daily; each is sent once): the balance due in 21 and 7 days, and what is left
    before arrival 21, 7 and 2 days before the start."""
    click.echo(f"Queued {services.send_balance_reminders()} balance reminder(s).")
    click.echo(f"Queued {send_checklist_reminders()} checklist reminder(s).")
