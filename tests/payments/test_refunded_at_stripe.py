"""A refund made in Stripe's dashboard that returns everything a booking paid cancels the booking as cancelled by
the clinic: its seat is freed and offered to the waitlist, and the manage page, the staff booking page and the
finance pages all say it is cancelled, refunded in full and owes nothing. A partial refund moves money only."""

import re
from html import unescape

import pytest

from retreat.booking import availability, services
from retreat.booking.models import WaitlistEntry
from retreat.core.clock import today
from retreat.extensions import db
from retreat.payment_events import stripe as stripe_events
from retreat.payments import ledger, stripe_provider
from tests.booking.support import APPLICANT, eligible_token, make_cohort
from tests.payments.support import book, deposit_intent, emails, fresh, payments
from tests.support.localstripe import event_body, post_event

pytestmark = pytest.mark.localstripe


def text(response) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def full_cohort_with_a_waitlist(localstripe):
    """A one-seat cohort: a confirmed booking paid by card, and someone waiting for the seat."""
    cohort = make_cohort(capacity=1)
    booking = book(cohort)
    intent = localstripe.pay(deposit_intent(booking))
    stripe_events.confirm_from_return(booking, intent.id)
    waiting = services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                                     applicant={**APPLICANT, "email": "waiting@example.org"})
    assert fresh(booking).status == "confirmed" and availability.seats_left(cohort) == 0
    return cohort, fresh(booking), intent, waiting.entry


def charge_refunded(localstripe, intent_id: str) -> bytes:
    intent = localstripe.client.v1.payment_intents.retrieve(intent_id)
    return event_body("charge.refunded",
                      localstripe.client.v1.charges.retrieve(stripe_provider.object_id(intent.latest_charge)))


def assert_every_page_says_cancelled_and_refunded(client, login_as, booking, token):
    deposit = "$994.00"
    manage = text(client.get(f"/bookings/manage/{token}"))
    assert "This booking is cancelled" in manage
    assert "We are refunding $994" in manage and "Nothing more is owed." in manage
    assert "Paid, less refunds $0.00" in manage
    assert "Pay the" not in manage and "Cancel this booking" not in manage

    login_as("coordinator", "finance")
    staff = client.get(f"/staff/bookings/{booking.reference}")
    staff_html = staff.get_data(as_text=True)
    assert re.search(r"<strong>Cancelled</strong>", staff_html)
    assert 'data-total="owed">$0.00<' in staff_html
    assert 'data-total="paid">$0.00 ' in staff_html and f'data-total="refunded">{deposit}<' in staff_html
    assert "cancelled by the clinic: everything paid was refunded at the payment provider" in text(staff)
    assert "Cancel this booking" not in text(staff)

    finance = client.get(f"/staff/finance/bookings/{booking.reference}").get_data(as_text=True)
    assert "<dd>Cancelled</dd>" in finance
    for total, value in (("paid", deposit), ("refunded", f"-{deposit}"), ("net-paid", "$0.00"), ("owed", "$0.00")):
        assert re.search(rf'data-total="{total}"><span class="[^"]*">{re.escape(value)}<', finance), total
    close = client.get("/staff/finance/close", query_string={"month": f"{today():%Y-%m}"}).get_data(as_text=True)
    assert booking.reference not in close.split('id="owed-heading"')[1].split("</section>")[0]


def test_a_full_refund_in_the_dashboard_cancels_the_booking_and_frees_its_seat(stripe_app, localstripe, client,
                                                                                login_as):
    cohort, booking, intent, entry = full_cohort_with_a_waitlist(localstripe)
    token = services.manage_token(booking)
    dashboard = localstripe.client.v1.refunds.create(params={"payment_intent": intent.id})

    response = post_event(client, charge_refunded(localstripe, intent.id), stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    assert response.status_code == 200 and response.get_json() == {"status": "handled"}

    cancelled = fresh(booking)
    assert cancelled.status == "cancelled"
    assert [(p.kind, p.amount_cents, p.provider_reference) for p in payments(booking)] == [
        ("deposit", booking.deposit_cents, intent.id), ("refund", -booking.deposit_cents, dashboard.id)]
    assert ledger.paid_cents(booking.id) == 0 and services.outstanding_cents(cancelled) == 0
    assert len(localstripe.refunds_of(intent.id)) == 1  # no refund made on top of the dashboard's
    [told] = emails("booking_cancelled")
    assert told.to_address == booking.applicant_email
    assert "Refund: $994.00 of the $994.00 you paid (cancelled by the clinic" in told.body
    # The seat went to the first on the waitlist.
    offered = db.session.get(WaitlistEntry, entry.id)
    assert offered.status == "offered" and offered.booking.status == "held"
    assert [e.to_address for e in emails("waitlist_offer")] == ["waiting@example.org"]

    assert_every_page_says_cancelled_and_refunded(client, login_as, booking, token)


def test_reconcile_finds_the_full_refund_when_the_webhook_was_lost(stripe_app, localstripe):
    cohort, booking, intent, entry = full_cohort_with_a_waitlist(localstripe)
    localstripe.client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 400_00})
    localstripe.client.v1.refunds.create(params={"payment_intent": intent.id, "amount": booking.deposit_cents - 400_00})

    output = stripe_app.test_cli_runner().invoke(args=["payments", "reconcile"]).output
    assert (f"{booking.reference}: everything it paid was refunded at Stripe, so it is cancelled by the clinic and "
            "its seat is free") in output
    assert fresh(booking).status == "cancelled"
    assert db.session.get(WaitlistEntry, entry.id).status == "offered"


def test_a_partial_refund_in_the_dashboard_keeps_the_booking_and_what_it_owes(stripe_app, localstripe, client):
    cohort, booking, intent, entry = full_cohort_with_a_waitlist(localstripe)
    localstripe.client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 50_00})
    post_event(client, charge_refunded(localstripe, intent.id), stripe_app.config["STRIPE_WEBHOOK_SECRET"])
    kept = fresh(booking)
    assert kept.status == "confirmed" and db.session.get(WaitlistEntry, entry.id).status == "waiting"
    assert ledger.paid_cents(booking.id) == booking.deposit_cents - 50_00
    # A goodwill refund is not owed again: the balance due is the same on every page.
    assert services.outstanding_cents(kept) == booking.total_cents - booking.deposit_cents
    manage = text(client.get(f"/bookings/manage/{services.manage_token(kept)}"))
    assert "The balance of $3,976 is due" in manage and "Pay the balance ($3,976)" in manage
