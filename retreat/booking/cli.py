"""`flask bookings ...`: the booking jobs cron runs. Each command is one call of a booking service, safe to run
again at any time (a second run finds nothing left to do) and safe to overlap with the web app (the services
take the cohort lock). `remind` is added to this group by retreat/arrival/cli.py (it sends arrival's reminders too)."""

import click
from flask.cli import AppGroup

from retreat.booking import services
from retreat.core.errors import DomainError
from retreat.core.jobs import one_host_at_a_time

CRON_HELP = """Booking jobs for cron.

\b
Suggested crontab (as the app's user, in the app's folder, with its environment):
  */5 * * * *  flask --app wsgi bookings expire
  */2 * * * *  flask --app wsgi notify send
  0 8 * * *    flask --app wsgi bookings remind
  30 8 * * *   flask --app wsgi bookings charge-balances
"""

bookings_cli = AppGroup("bookings", help=CRON_HELP)


@bookings_cli.command("expire")
@one_host_at_a_time("bookings expire")
def expire():
    """Mark holds past their time as expired and offer their seats to the waitlist (every 5 minutes).

    A lapsed hold stops counting against the seats at once; this writes it down, emails the applicant and
    offers the seat to the first person waiting."""
    click.echo(f"Expired {services.expire_lapsed_holds()} lapsed hold(s).")


@bookings_cli.command("charge-balances")
@one_host_at_a_time("bookings charge-balances")
def charge_balances():
    """Charge the saved card of each confirmed booking whose balance, or monthly part, is due today or earlier (daily).

    Only bookings whose applicant agreed to it when paying the deposit (or chose monthly parts); a declined card is
    emailed to the applicant, who pays from their booking page. A monthly part is tried again once a day for 3 days,
    then listed in the staff to-do; running this twice on a day charges nothing twice."""
    charged, failed = services.charge_due_balances()
    click.echo(f"Charged {charged} balance(s); {failed} card(s) declined, applicants emailed.")
    charged, failed = services.charge_due_installments()
    click.echo(f"Charged {charged} monthly part(s); {failed} not charged, applicants emailed.")


@bookings_cli.command("offer-seats")
@click.option("--cohort", "cohort_id", type=click.IntRange(1, 2**31 - 1), required=True,
              help="The cohort's id (from the staff console).")
def offer_seats(cohort_id: int):
    """Offer a cohort's free seats to its waitlist now (the console does this when seats are raised)."""
    try:
        offered = services.offer_seats_of(cohort_id)
    except DomainError as refusal:
        raise click.ClickException(refusal.message) from None
    click.echo(f"Offered {offered} seat(s) to the waitlist of cohort {cohort_id}.")
