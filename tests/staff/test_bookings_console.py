"""Staff console, bookings (retreat/booking/console.py, retreat/booking/staff_views.py): who may use each route,
the list and its filters, a bank transfer marked received, cancelling on the applicant's behalf or the clinic's
with an audited refund override, cancelling a cancelled cohort's bookings with refunds, and the waitlist offered
the seats a coordinator adds."""

import re

import pytest
import sqlalchemy as sa

from retreat import create_app
from retreat.booking import cohorts, services
from retreat.booking.models import Booking, WaitlistEntry
from retreat.core.audit import AuditEntry
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger, providers, refunds
from retreat.payments.models import Payment
from retreat.staff.models import ROLES
from tests.booking.support import APPLICANT, eligible_token, make_cohort, review_token
from tests.conftest import STAFF_PASSWORD
from tests.staff.test_programs_console import assert_error_at, text_of
from tests.test_security import csrf_token_of

BANK_DETAILS = "Pay to Cedar House Clinic, account 12345678, routing 021000021."
TOTAL, DEPOSIT = 497_000, 99_400  # the seven-day program of tests.booking.support, shared room
_applicants = 0


@pytest.fixture
def bank_transfers(app):
    app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK_DETAILS
    return app


def book(cohort, *, provider: str | None = None, first: str | None = None, token: str | None = None) -> Booking:
    """A booking made the way an applicant makes one; each with its own name and email."""
    global _applicants
    _applicants += 1
    first = first or f"Applicant{_applicants}"
    applicant = APPLICANT | {"first_name": first, "email": f"{first.lower()}@example.org"}
    return services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=token or eligible_token(),
                                   lodging="shared", applicant=applicant, payment_provider=provider).booking


def pay(booking: Booking, cents: int, kind: str = "deposit") -> None:
    services.payment_received(booking.reference, kind=kind, amount_cents=cents, provider="demo",
                              provider_reference=providers.DemoProvider.new_reference())


def fresh(booking: Booking) -> Booking:
    db.session.rollback()
    db.session.expire_all()
    return db.session.scalar(sa.select(Booking).where(Booking.reference == booking.reference))


def payments(booking: Booking) -> list[Payment]:
    db.session.rollback()
    return ledger.payments_of(booking.id)


def audit_entries(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def emails(kind: str) -> list[OutboxEmail]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == kind).order_by(OutboxEmail.id)))


def flashes(response) -> str:
    return " ".join(re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S))


# --- Access -----------------------------------------------------------------------------------------------------

READERS = {"coordinator", "finance", "admin", "clinician"}  # clinicians: to record a diagnosis for the superbill
ROUTES = (
    ("GET", "/staff/bookings", READERS),
    ("GET", "/staff/bookings/{reference}", READERS),
    ("POST", "/staff/bookings/{reference}/diagnosis", {"clinician"}),
    ("POST", "/staff/bookings/{reference}/transfer", {"finance", "admin"}),
    ("POST", "/staff/bookings/{reference}/cancel", {"coordinator", "admin"}),
    ("POST", "/staff/cohorts/{cohort_id}/cancel-bookings", {"coordinator", "admin"}),
)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_use_exactly_its_booking_routes(client, login_as, bank_transfers, role):
    cohort = make_cohort()
    booking = book(cohort, provider="offline", first="Private")
    login_as(role)
    for method, url, allowed in ROUTES:
        response = client.open(url.format(reference=booking.reference, cohort_id=cohort.id), method=method,
                               data={})
        if role in allowed:
            assert response.status_code in (200, 422), (method, url, response.status_code)
        else:
            assert response.status_code == 403, (method, url)
            assert "Private" not in response.get_data(as_text=True)
    assert fresh(booking).status == "held" and payments(booking) == [], "an empty form changes nothing"


def test_anonymous_visitors_are_sent_to_sign_in(client, bank_transfers):
    cohort = make_cohort()
    booking = book(cohort, provider="offline")
    for method, url, _ in ROUTES:
        response = client.open(url.format(reference=booking.reference, cohort_id=cohort.id), method=method)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"], url


def test_each_role_sees_only_the_actions_it_may_take(app, client, login_as, staff_user, bank_transfers):
    booking = book(make_cohort(), provider="offline")
    url = f"/staff/bookings/{booking.reference}"
    login_as("finance")
    page = client.get(url).get_data(as_text=True)
    assert "Mark bank transfer received" in page and "Cancel this booking" not in page
    coordinator = app.test_client()
    coordinator.post("/staff/login", data={"email": staff_user("coordinator").email, "password": STAFF_PASSWORD})
    page = coordinator.get(url).get_data(as_text=True)
    assert "Cancel this booking" in page and "Mark bank transfer received" not in page


def test_unknown_references_are_not_found(client, login_as):
    login_as("admin")
    for method, url in (("GET", "/staff/bookings/RT-NOPE99"), ("POST", "/staff/bookings/RT-NOPE99/transfer"),
                        ("POST", "/staff/bookings/RT-NOPE99/cancel"), ("GET", "/staff/bookings/" + "X" * 300)):
        assert client.open(url, method=method, data={}).status_code == 404, url


# --- The list and a booking's page ----------------------------------------------------------------------------------

def test_the_list_filters_by_cohort_status_payment_and_search(client, login_as, bank_transfers):
    first, second = make_cohort(), make_cohort()
    ana = book(first, first="Ana")
    ben = book(first, first="Ben", provider="offline")
    cai = book(second, first="Cai")
    pay(ana, DEPOSIT)
    login_as("coordinator")

    def listed(query: str = "") -> set[str]:
        response = client.get("/staff/bookings" + query)
        assert response.status_code == 200
        return set(re.findall(r"RT-[A-Z0-9]{6}", response.get_data(as_text=True)))

    assert listed() == {ana.reference, ben.reference, cai.reference}
    assert listed(f"?cohort={second.id}") == {cai.reference}
    assert listed("?status=confirmed") == {ana.reference}
    assert listed("?provider=offline") == {ben.reference}
    assert listed(f"?q={ben.reference[-4:].lower()}") == {ben.reference}
    assert listed("?q=CAI@EXAMPLE") == {cai.reference}
    assert listed("?q=ana rivera") == {ana.reference}
    assert listed("?q=100%25_") == set()
    assert client.get("/staff/bookings?status=bogus").status_code == 422


def test_a_bookings_page_shows_its_price_money_and_history_but_no_health_data(client, login_as):
    booking = book(make_cohort(), token=review_token(approved=True), first="Eve")
    pay(booking, DEPOSIT)
    login_as("finance")
    response = client.get(f"/staff/bookings/{booking.reference}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text_of(response)
    for shown in ("Confirmed", "eve@example.org", "+1 555 123 4567", "version 1", "$4,970.00", "$994.00",
                  "$3,976.00", "booking.confirmed", "payment.deposit", "Demo payment"):
        assert shown in page, shown
    for hidden in ("lamotrigine", "PHQ", "medication", "eligible", "review"):
        assert hidden not in page, hidden


# --- Bank transfers ---------------------------------------------------------------------------------------------

def test_finance_marks_a_bank_transfer_received_and_the_booking_is_confirmed(client, login_as, bank_transfers):
    booking = book(make_cohort(), provider="offline", first="Ana")
    assert booking.status == "held"
    user = login_as("finance")
    page = client.get(f"/staff/bookings/{booking.reference}")
    assert 'value="994.00"' in page.get_data(as_text=True), "the deposit due is offered"
    response = client.post(f"/staff/bookings/{booking.reference}/transfer", data={
        "transfer-amount": "$994.00", "transfer-bank_reference": "  WIRE 2027-0042 ", "transfer-note": "Chase"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/bookings/{booking.reference}"
    assert fresh(booking).status == "confirmed"
    [payment] = payments(booking)
    assert (payment.kind, payment.provider, payment.provider_reference, payment.amount_cents,
            payment.recorded_by_id, payment.note) == ("deposit", "offline", "WIRE 2027-0042", DEPOSIT, user.id, "Chase")
    [entry] = audit_entries("payment.deposit")
    assert entry.actor_email == user.email and entry.target_id == booking.reference
    assert [e.to_address for e in emails("receipt_deposit")] == ["ana@example.org"]
    page = client.get(response.headers["Location"])
    assert "Bank transfer of $994.00 recorded; the booking is confirmed" in flashes(page)
    assert "WIRE 2027-0042" in text_of(page) and user.name in text_of(page)


def test_a_transfer_of_the_whole_price_pays_in_full(client, login_as, bank_transfers):
    booking = book(make_cohort(), provider="offline")
    login_as("admin")
    response = client.post(f"/staff/bookings/{booking.reference}/transfer", data={
        "transfer-amount": "4970", "transfer-bank_reference": "WIRE-1"})
    assert response.status_code == 303
    assert fresh(booking).status == "paid_in_full"


def test_a_bank_reference_is_recorded_once(client, login_as, bank_transfers):
    cohort = make_cohort()
    first, second = book(cohort, provider="offline"), book(cohort, provider="offline")
    login_as("finance")
    data = {"transfer-amount": "994", "transfer-bank_reference": "WIRE-77"}
    assert client.post(f"/staff/bookings/{first.reference}/transfer", data=data).status_code == 303
    again = client.post(f"/staff/bookings/{second.reference}/transfer",
                        data=data | {"transfer-bank_reference": "wire-77"})
    assert again.status_code == 422
    assert_error_at(again, "transfer-bank_reference", f"This bank reference is recorded already (booking "
                                                      f"{first.reference}, $994.00)")
    assert fresh(second).status == "held" and payments(second) == []
    assert fresh(first).status == "confirmed" and len(payments(first)) == 1


TRANSFER_MISTAKES = (
    ("", "W-1", "transfer-amount", "Give the amount received, in dollars."),
    ("nine hundred", "W-1", "transfer-amount", "Give an amount in dollars, for example 994 or 994.50."),
    ("994.001", "W-1", "transfer-amount", "Give an amount in dollars"),
    ("500", "W-1", "transfer-amount", "The deposit due is $994.00"),
    ("4970.01", "W-1", "transfer-amount", "That is more than is owed ($4,970.00)"),
    ("994", "   ", "transfer-bank_reference", "Give the reference of the transfer on the clinic's bank statement."),
    ("994", "W" * 101, "transfer-bank_reference", "Keep it to 100 characters or fewer"),
)


def test_a_transfer_form_with_a_mistake_shows_it_and_records_nothing(client, login_as, bank_transfers):
    booking = book(make_cohort(), provider="offline")
    login_as("finance")
    for amount, reference, field, message in TRANSFER_MISTAKES:
        response = client.post(f"/staff/bookings/{booking.reference}/transfer", data={
            "transfer-amount": amount, "transfer-bank_reference": reference})
        assert response.status_code == 422, (amount, reference)
        assert_error_at(response, field, message)
    assert fresh(booking).status == "held" and payments(booking) == []


def test_card_bookings_and_bookings_awaiting_review_take_no_bank_transfer(client, login_as, bank_transfers):
    cohort = make_cohort()
    card = book(cohort)
    in_review = book(cohort, provider="offline", token=review_token())
    assert in_review.status == "pending_review"
    login_as("finance")
    assert "Mark bank transfer received" not in client.get(f"/staff/bookings/{card.reference}").get_data(as_text=True)
    data = {"transfer-amount": "994", "transfer-bank_reference": "W-9"}
    for booking, message in ((card, "This booking is paid by card"),
                             (in_review, "A clinician has not approved this booking yet")):
        response = client.post(f"/staff/bookings/{booking.reference}/transfer", data=data)
        assert response.status_code == 303
        assert message in flashes(client.get(response.headers["Location"]))
        assert payments(booking) == []


# --- Cancelling one booking -------------------------------------------------------------------------------------

def test_a_coordinator_cancels_for_the_applicant_and_the_policy_refund_is_given(client, login_as):
    booking = book(make_cohort(starts_in_days=60), first="Ana")
    pay(booking, DEPOSIT)
    user = login_as("coordinator")
    page = text_of(client.get(f"/staff/bookings/{booking.reference}"))
    assert "refund $894.00: 30 days or more before the start" in page
    response = client.post(f"/staff/bookings/{booking.reference}/cancel", data={"cancel-by": "applicant"})
    assert response.status_code == 303
    assert fresh(booking).status == "cancelled"
    assert ledger.paid_cents(booking.id) == 100_00, "the $100 administrative fee is kept"
    [entry] = audit_entries("booking.cancelled")
    assert entry.actor_email == user.email
    assert entry.details["reason"] == "cancelled by staff at the applicant's request"
    assert not audit_entries("booking.refund_override")
    assert "is cancelled; refund $894.00" in flashes(client.get(response.headers["Location"]))
    assert [e.to_address for e in emails("booking_cancelled")] == ["ana@example.org"]


def test_the_clinic_cancelling_refunds_everything_paid(client, login_as):
    booking = book(make_cohort(starts_in_days=60))
    pay(booking, DEPOSIT)
    login_as("admin")
    response = client.post(f"/staff/bookings/{booking.reference}/cancel", data={"cancel-by": "clinic"})
    assert response.status_code == 303
    assert fresh(booking).status == "cancelled" and ledger.paid_cents(booking.id) == 0


def test_a_refund_override_needs_a_reason_and_is_audited(client, login_as):
    booking = book(make_cohort(starts_in_days=10))
    pay(booking, DEPOSIT)
    user = login_as("coordinator")
    url = f"/staff/bookings/{booking.reference}/cancel"
    assert "refund $0.00: fewer than 14 days" in text_of(client.get(f"/staff/bookings/{booking.reference}"))

    no_reason = client.post(url, data={"cancel-by": "applicant", "cancel-refund": "500"})
    assert no_reason.status_code == 422
    assert_error_at(no_reason, "cancel-reason", "Give the reason for refunding a different amount")
    too_much = client.post(url, data={"cancel-by": "applicant", "cancel-refund": "995", "cancel-reason": "x"})
    assert too_much.status_code == 422
    assert_error_at(too_much, "cancel-refund", "Refund between $0 and what was paid ($994.00).")
    no_choice = client.post(url, data={"cancel-refund": "500", "cancel-reason": "x"})
    assert no_choice.status_code == 422
    assert_error_at(no_choice, "cancel-by-0", "Choose who is cancelling.")
    assert fresh(booking).status == "confirmed" and ledger.paid_cents(booking.id) == DEPOSIT

    response = client.post(url, data={"cancel-by": "applicant", "cancel-refund": "500",
                                      "cancel-reason": "Hospitalised; the director agreed."})
    assert response.status_code == 303
    assert fresh(booking).status == "cancelled"
    assert ledger.paid_cents(booking.id) == DEPOSIT - 500_00
    [override] = audit_entries("booking.refund_override")
    assert override.actor_email == user.email and override.target_id == booking.reference
    assert override.details == {"policy_refund_cents": 0, "refund_cents": 500_00,
                                "reason": "Hospitalised; the director agreed."}
    assert "refund $500.00 (set by staff)" in flashes(client.get(response.headers["Location"]))


def test_a_cancelled_booking_cannot_be_cancelled_again(client, login_as):
    booking = book(make_cohort())
    services.cancel_booking(booking)
    login_as("coordinator")
    page = client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
    assert "Cancel this booking" not in page
    response = client.post(f"/staff/bookings/{booking.reference}/cancel", data={"cancel-by": "clinic"})
    assert response.status_code == 303
    assert "cancelled already" in flashes(client.get(response.headers["Location"]))
    assert len(audit_entries("booking.cancelled")) == 1


# --- A cancelled cohort's bookings ------------------------------------------------------------------------------

def cancelled_cohort_with_bookings(bank: bool = False):
    cohort = make_cohort(6)
    confirmed = book(cohort, first="Ana")
    pay(confirmed, DEPOSIT)
    paid_in_full = book(cohort, first="Ben")
    pay(paid_in_full, DEPOSIT)
    pay(paid_in_full, TOTAL - DEPOSIT, kind="balance")
    held = book(cohort, first="Cai")
    gone = book(cohort, first="Dee")
    services.cancel_booking(gone)
    cohorts.cancel_cohort(cohort.id)
    return cohort, (confirmed, paid_in_full, held), gone


def test_a_cancelled_cohorts_bookings_are_cancelled_and_everything_paid_refunded(client, login_as):
    cohort, active, gone = cancelled_cohort_with_bookings()
    confirmed, paid_in_full, held = active
    assert fresh(paid_in_full).status == "paid_in_full"
    user = login_as("coordinator")
    page = text_of(client.get(f"/staff/cohorts/{cohort.id}"))
    assert "3 bookings still active; $5,964.00 paid in total is refunded." in page

    unconfirmed = client.post(f"/staff/cohorts/{cohort.id}/cancel-bookings", data={})
    assert unconfirmed.status_code == 422
    assert_error_at(unconfirmed, "acknowledge", "Tick the box to confirm")
    assert [fresh(b).status for b in active] == ["confirmed", "paid_in_full", "held"]

    response = client.post(f"/staff/cohorts/{cohort.id}/cancel-bookings", data={"acknowledge": "y"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/cohorts/{cohort.id}"
    assert [fresh(b).status for b in active] == ["cancelled"] * 3
    assert [ledger.paid_cents(b.id) for b in active] == [0, 0, 0]
    for booking in active:
        [entry] = [e for e in audit_entries("booking.cancelled") if e.target_id == booking.reference]
        assert entry.actor_email == user.email and entry.details["reason"] == "cohort cancelled by the clinic"
    [summary] = audit_entries("cohort.cancel_bookings")
    assert summary.details == {"cancelled": {confirmed.reference: DEPOSIT, paid_in_full.reference: TOTAL,
                                             held.reference: 0}, "failed": {}}
    assert sorted(e.to_address for e in emails("refund_issued")) == ["ana@example.org", "ben@example.org"]
    after = client.get(response.headers["Location"])
    assert f"Cancelled 3 bookings: {confirmed.reference} ($994.00 refunded)" in flashes(after)
    assert "No booking of these dates is still active." in text_of(after)


def test_a_provider_failure_leaves_that_refund_pending_and_every_booking_cancelled(client, login_as, monkeypatch):
    cohort, active, _ = cancelled_cohort_with_bookings()
    confirmed, paid_in_full, held = active
    original_refund = providers.DemoProvider.refund

    def refund_failing_for_ben(provider, payment, cents, *, idempotency_key):
        if payment.booking_id == paid_in_full.id:
            raise providers.ProviderUnavailable("The payment provider did not answer; try again.")
        return original_refund(provider, payment, cents, idempotency_key=idempotency_key)

    monkeypatch.setattr(providers.DemoProvider, "refund", refund_failing_for_ben)
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel-bookings", data={"acknowledge": "y"})
    assert response.status_code == 303
    assert [fresh(b).status for b in active] == ["cancelled", "cancelled", "cancelled"]
    # Ben's refund is decided with the cancellation and waits for the provider: counted as returned, not in the
    # ledger yet, never refunded twice.
    assert ledger.paid_cents(paid_in_full.id) == 0
    assert [p.kind for p in ledger.payments_of(paid_in_full.id)] == ["deposit", "balance"]
    assert sum(r.amount_cents for r in refunds.pending_of(paid_in_full.id)) == TOTAL
    page = client.get(response.headers["Location"])
    assert f"{paid_in_full.reference} ($4,970.00 refunded, waiting to be sent: retried automatically)" in flashes(page)
    assert "No booking of these dates is still active." in text_of(page)
    [summary] = audit_entries("cohort.cancel_bookings")
    assert summary.details["failed"] == {}
    detail = client.get(f"/staff/bookings/{paid_in_full.reference}").get_data(as_text=True)
    assert "Refunds waiting to be sent" in detail

    monkeypatch.setattr(providers.DemoProvider, "refund", original_refund)
    assert len(refunds.retry_pending().sent) == 2  # the balance and the deposit
    assert refunds.retry_pending().sent == []
    assert [p.kind for p in ledger.payments_of(paid_in_full.id)] == ["deposit", "balance", "refund", "refund"]
    assert ledger.paid_cents(paid_in_full.id) == 0


def test_bookings_are_refunded_only_once_the_dates_are_cancelled(client, login_as):
    cohort = make_cohort()
    booking = book(cohort)
    pay(booking, DEPOSIT)
    login_as("coordinator")
    assert "Cancel these bookings" not in client.get(f"/staff/cohorts/{cohort.id}").get_data(as_text=True)
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel-bookings", data={"acknowledge": "y"})
    assert response.status_code == 303
    assert "Cancel the dates first" in flashes(client.get(response.headers["Location"]))
    assert fresh(booking).status == "confirmed"


def test_bank_transfer_refunds_of_a_cancelled_cohort_are_listed_as_owed(client, login_as, bank_transfers):
    cohort = make_cohort()
    booking = book(cohort, provider="offline")
    services.payment_received(booking.reference, kind="deposit", amount_cents=DEPOSIT, provider="offline",
                              provider_reference="WIRE-5")
    cohorts.cancel_cohort(cohort.id)
    login_as("admin")
    response = client.post(f"/staff/cohorts/{cohort.id}/cancel-bookings", data={"acknowledge": "y"})
    assert f"{booking.reference} ($994.00 refunded, owed by bank transfer)" in flashes(
        client.get(response.headers["Location"]))
    [_, refund] = payments(booking)
    assert (refund.amount_cents, refund.status) == (-DEPOSIT, "pending")
    assert "$994.00 of refunds owed by bank transfer" in text_of(client.get(f"/staff/bookings/{booking.reference}"))


# --- Seats added are offered to the waitlist ----------------------------------------------------------------------

def test_raising_the_capacity_offers_the_new_seat_to_the_first_waiting(client, login_as):
    cohort = make_cohort(1)
    book(cohort)
    first = services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                                   applicant=APPLICANT | {"email": "first@example.org"}).entry
    services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                           applicant=APPLICANT | {"email": "second@example.org"})
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/capacity", data={"capacity": "2"})
    assert response.status_code == 303
    db.session.rollback()
    entry = db.session.get(WaitlistEntry, first.id)
    assert entry.status == "offered"
    offered = db.session.get(Booking, entry.booking_id)
    assert (offered.status, offered.applicant_email) == ("held", "first@example.org")
    assert [e.to_address for e in emails("waitlist_offer")] == ["first@example.org"]
    waiting = db.session.scalars(sa.select(WaitlistEntry.status).where(WaitlistEntry.id != first.id)).all()
    assert waiting == ["waiting"], "one seat added, one offer"


# --- CSRF -------------------------------------------------------------------------------------------------------

@pytest.fixture
def protected_client(app, database_url, staff_user):
    """A finance user signed in to the app with CSRF protection on, as in production."""
    protected = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, WTF_CSRF_ENABLED=True,
                           BANK_TRANSFER_INSTRUCTIONS=BANK_DETAILS)
    user = staff_user("finance")
    client = protected.test_client()
    token = csrf_token_of(client.get("/staff/login"))
    assert client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD,
                                             "csrf_token": token}).status_code == 302
    db.session.rollback()  # the test's read snapshot predates the sign-in the other app wrote (SQLite refuses)
    yield client
    with protected.app_context():
        db.session.remove()
        db.engine.dispose()


def test_marking_a_transfer_needs_the_forms_csrf_token(bank_transfers, protected_client):
    booking = book(make_cohort(), provider="offline")
    url = f"/staff/bookings/{booking.reference}"
    data = {"transfer-amount": "994", "transfer-bank_reference": "WIRE-8"}
    assert protected_client.post(f"{url}/transfer", data=data).status_code == 400
    assert payments(booking) == []
    data["transfer-csrf_token"] = csrf_token_of(protected_client.get(url))
    assert protected_client.post(f"{url}/transfer", data=data).status_code == 303
    assert fresh(booking).status == "confirmed"
