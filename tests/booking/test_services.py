"""Booking services: holds, prices frozen, payments, cancellation, clinician decisions, expiry, waitlist,
reminders. The demo provider stands in for Stripe here (tests/payments runs the same paths against localstripe)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat.booking import availability, services
from retreat.booking import hold_rules as holds
from retreat.booking.models import Booking, WaitlistEntry
from retreat.booking.states import IllegalTransition
from retreat.core.audit import AuditEntry
from retreat.core.clock import now, today
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger
from retreat.pricing import editing as pricing_admin
from retreat.screening import review
from retreat.screening.models import Screening
from tests.booking.support import (
    APPLICANT,
    confirm_email,
    eligible_token,
    ineligible_token,
    make_cohort,
    review_token,
)


def book(cohort, token=None, **changes):
    values = dict(cohort_id=cohort.id, screening_token=token or eligible_token(), lodging="shared",
                  applicant=dict(APPLICANT))
    values.update(changes)
    return services.create_booking(policy_accepted=True, **values).booking


def pay(booking, kind="deposit", cents=None, reference=None):
    cents = cents if cents is not None else (booking.deposit_cents if kind == "deposit" else booking.balance_cents)
    return services.payment_received(booking.reference, kind=kind, amount_cents=cents, provider="demo",
                                     provider_reference=reference or f"demo_{kind}_{booking.reference}")


def emails(kind):
    return db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == kind)).all()


def test_an_eligible_screening_holds_a_seat_for_30_minutes_with_the_price_frozen(app):
    cohort = make_cohort(3)
    booking = book(cohort)
    assert booking.status == "held"
    assert timedelta(minutes=29) < booking.hold_expires_at - now() <= timedelta(minutes=30)
    assert (booking.total_cents, booking.deposit_cents, booking.balance_cents) == (497_000, 99_400, 397_600)
    assert booking.balance_due_date == cohort.start_date - timedelta(days=14)
    assert availability.seats_left(cohort) == 2
    assert db.session.get(Screening, booking.screening_id).token_used_at is not None
    [held] = emails("booking_held")
    assert held.to_address == APPLICANT["email"] and "/bookings/manage/" in held.body

    pricing_admin_edit_shared_room(15_000)
    assert db.session.get(Booking, booking.id).total_cents == 497_000  # a later price edit leaves it alone
    assert book(cohort).total_cents == 497_000 + 6 * 3_000


def pricing_admin_edit_shared_room(cents: int) -> None:
    pricing_admin.create_price_list_version({"price_lodging_shared": f"{cents / 100:.2f}"}, "Shared rooms cost more")


def test_a_review_screening_holds_the_seat_for_72_hours_and_enters_the_queue_once_the_email_is_confirmed(app):
    start = now()
    with time_machine.travel(start, tick=False):
        booking = book(make_cohort(), review_token())
    assert booking.status == "pending_review"
    assert booking.hold_expires_at == start + timedelta(minutes=30)  # as long as a card hold, at first
    screening = db.session.get(Screening, booking.screening_id)
    assert screening.review_status is None  # a clinician is not asked before the address is shown to be real
    assert services.next_payment(booking) is None  # nothing can be charged before a clinician approves

    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        services.confirm_email(booking.reference, holds.email_confirmation_token(booking))
    booking = db.session.get(Booking, booking.id)
    assert booking.hold_expires_at == start + timedelta(hours=72)
    assert db.session.get(Screening, booking.screening_id).review_status == "pending"


@pytest.mark.parametrize(("make_token", "code", "status"), [
    (ineligible_token, "screening_not_eligible", 403),
    (lambda: "no-such-token", "validation_failed", 422),
])
def test_screenings_that_cannot_book(app, make_token, code, status):
    cohort = make_cohort()
    with pytest.raises(Exception) as refused:
        book(cohort, make_token())
    assert (refused.value.code, refused.value.status) == (code, status)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0


def test_a_token_books_once(app):
    cohort = make_cohort()
    token = eligible_token()
    book(cohort, token)
    with pytest.raises(ValidationFailed) as refused:
        services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=token, lodging="shared",
                                applicant=APPLICANT)
    assert "screening_token" in refused.value.fields


def test_bad_fields_are_each_named_and_nothing_is_written(app):
    cohort = make_cohort()
    with pytest.raises(ValidationFailed) as refused:
        book(cohort, lodging="penthouse", applicant={"first_name": "", "last_name": "B", "email": "nope",
                                                     "phone": "12"})
    assert set(refused.value.fields) == {"lodging", "applicant.first_name", "applicant.email", "applicant.phone"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0


def test_a_full_cohort_holds_nothing_and_an_expired_hold_frees_its_seat_at_once(app):
    cohort = make_cohort(1)
    first = book(cohort)
    with pytest.raises(services.CohortFull):
        book(cohort)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1
    with time_machine.travel(first.hold_expires_at + timedelta(seconds=1), tick=False):
        assert book(cohort).status == "held"  # before `flask bookings expire` ran


def test_paying_the_deposit_confirms_and_the_balance_pays_in_full_once_each(app):
    booking = book(make_cohort())
    outcome = pay(booking)
    assert outcome.created and outcome.booking.status == "confirmed"
    assert not pay(booking).created  # the same provider reference again: nothing changes
    assert services.next_payment(outcome.booking) == ("balance", 397_600)
    assert pay(booking, "balance").booking.status == "paid_in_full"
    assert ledger.paid_cents(booking.id) == 497_000
    assert len(emails("receipt_deposit")) == 1 and len(emails("receipt_balance")) == 1


def test_a_deposit_after_the_hold_lapsed_confirms_if_a_seat_is_free_else_is_refunded(app):
    cohort = make_cohort(1)
    late = book(cohort)
    with time_machine.travel(late.hold_expires_at + timedelta(minutes=1), tick=False):
        services.expire_lapsed_holds()
        assert db.session.get(Booking, late.id).status == "expired"
        assert pay(late).booking.status == "confirmed"

    cohort = make_cohort(1)
    lapsed = book(cohort)
    with time_machine.travel(lapsed.hold_expires_at + timedelta(minutes=1), tick=False):
        book(cohort)  # someone else took the freed seat
        outcome = pay(lapsed)
        assert outcome.refunded_unplaced
        assert db.session.get(Booking, lapsed.id).status in ("held", "expired")
        assert ledger.paid_cents(lapsed.id) == 0


@pytest.mark.parametrize(("days_before", "paid", "refund"), [
    (45, 99_400, 99_400 - 10_000), (20, 99_400, 49_700),
    (10, 497_000, 0),  # starting within 14 days, the whole price was taken at booking
])
def test_cancelling_refunds_what_the_policy_gives(app, days_before, paid, refund):
    booking = book(make_cohort(starts_in_days=days_before))
    pay(booking)
    quote = services.cancellation_quote(booking)
    assert (quote.paid_cents, quote.refund_cents) == (paid, refund)
    services.cancel_booking(booking)
    booking = db.session.get(Booking, booking.id)
    assert booking.status == "cancelled"
    assert ledger.paid_cents(booking.id) == paid - refund
    refunds = [p for p in ledger.payments_of(booking.id) if p.kind == "refund"]
    assert sum(-p.amount_cents for p in refunds) == refund
    with pytest.raises(IllegalTransition):
        services.cancel_booking(booking)


def test_staff_override_of_the_refund_is_audited(app, staff_user):
    coordinator = staff_user("coordinator")
    booking = book(make_cohort(starts_in_days=10))
    pay(booking)
    services.cancel_booking(booking, by="applicant", actor=coordinator, refund_override_cents=50_000,
                            reason="bereavement")
    assert ledger.paid_cents(booking.id) == 497_000 - 50_000  # within 14 days of the start: the whole price
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "booking.refund_override"))
    assert entry.actor_email == coordinator.email and entry.details["refund_cents"] == 50_000


def test_a_clinician_approval_lets_the_applicant_pay_and_a_decline_refunds_everything(app, staff_user):
    clinician = staff_user("clinician")
    approved = book(make_cohort(), review_token())
    confirm_email(approved)
    review.decide(approved.screening_id, "approved", "", clinician)
    approved = db.session.get(Booking, approved.id)
    assert approved.status == "held" and services.next_payment(approved)[0] == "deposit"
    assert len(emails("booking_approved")) == 1

    paid = book(make_cohort(), review_token(approved=True))
    assert paid.status == "held"
    pay(paid)
    screening = db.session.get(Screening, paid.screening_id)
    screening.review_status = "pending"
    db.session.commit()
    review.decide(paid.screening_id, "declined", "Not safe with current medicines.", clinician)
    paid = db.session.get(Booking, paid.id)
    assert paid.status == "declined"
    assert ledger.paid_cents(paid.id) == 0


def test_expiry_marks_lapsed_holds_and_offers_the_seat_to_the_waitlist(app):
    cohort = make_cohort(1)
    held = book(cohort)
    waiting = services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(),
                                     applicant={**APPLICANT, "email": "second@example.org"})
    assert waiting.position == 1
    with time_machine.travel(held.hold_expires_at + timedelta(seconds=1), tick=False):
        assert services.expire_lapsed_holds() == 1
        entry = db.session.get(WaitlistEntry, waiting.entry.id)
        assert entry.status == "offered"
        offered = db.session.get(Booking, entry.booking_id)
        assert offered.status == "held" and offered.applicant_email == "second@example.org"
        assert timedelta(hours=23) < offered.hold_expires_at - now() <= timedelta(hours=24)
        [offer] = emails("waitlist_offer")
        assert offer.to_address == "second@example.org"
        assert availability.seats_left(cohort) == 0


def test_a_cancellation_offers_the_seat_and_the_line_keeps_its_order(app):
    cohort = make_cohort(1)
    booking = book(cohort)
    pay(booking)
    first = services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(), applicant=APPLICANT)
    second = services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(), applicant=APPLICANT)
    assert (first.position, second.position) == (1, 2)
    services.cancel_booking(booking)
    assert db.session.get(WaitlistEntry, first.entry.id).status == "offered"
    assert db.session.get(WaitlistEntry, second.entry.id).status == "waiting"
    assert services.waitlist_position(db.session.get(WaitlistEntry, second.entry.id)) == 1


def test_the_waitlist_refuses_a_cohort_with_seats(app):
    cohort = make_cohort(2)
    with pytest.raises(Exception) as refused:
        services.join_waitlist(cohort_id=cohort.id, screening_token=eligible_token(), applicant=APPLICANT)
    assert refused.value.code == "seats_available"


def test_balance_reminders_go_21_and_7_days_before_due_once_each(app):
    booking = book(make_cohort(starts_in_days=60))
    pay(booking)
    due = db.session.get(Booking, booking.id).balance_due_date
    assert services.send_balance_reminders(on=due - timedelta(days=22)) == 0
    assert services.send_balance_reminders(on=due - timedelta(days=21)) == 1
    assert services.send_balance_reminders(on=due - timedelta(days=20)) == 0
    assert services.send_balance_reminders(on=due - timedelta(days=7)) == 1
    assert services.send_balance_reminders(on=due - timedelta(days=6)) == 0
    assert len(emails("balance_reminder")) == 2
    pay(booking, "balance")
    assert services.send_balance_reminders(on=due - timedelta(days=1)) == 0


def test_a_closed_cohort_takes_no_booking(app):
    cohort = make_cohort()
    cohort.status = "closed"
    db.session.commit()
    with pytest.raises(Exception) as refused:
        book(cohort)
    assert refused.value.code == "cohort_closed"
    assert today() < cohort.start_date


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "phone"])
@pytest.mark.parametrize("bad", ["Al\x00ex", "Al\ud800ex", "Al\x1bex"])
def test_unprintable_characters_are_refused_by_field(app, field, bad):
    with pytest.raises(ValidationFailed) as refused:
        services.check_applicant({**APPLICANT, field: bad})
    assert refused.value.fields == {f"applicant.{field}": ["Remove the invisible control characters from this text."]}


@pytest.mark.parametrize("token", ["\ud800" * 30, "é" * 43, None, 12])
def test_tokens_that_cannot_be_ours_are_unknown(app, token):
    cohort = make_cohort()
    with pytest.raises(ValidationFailed) as refused:
        services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=token, lodging="shared",
                                applicant=APPLICANT)
    assert "screening_token" in refused.value.fields
    with pytest.raises(Exception) as unknown:
        services.booking_by_manage_token(token)
    assert unknown.value.status == 404


def test_an_approval_after_the_review_hold_lapsed_and_the_seat_went_elsewhere_expires_the_booking(app, staff_user):
    cohort = make_cohort(1)
    waiting = book(cohort, review_token())
    confirm_email(waiting)
    waiting = db.session.get(Booking, waiting.id)
    with time_machine.travel(waiting.hold_expires_at + timedelta(minutes=1), tick=False):
        walk_in = book(cohort)
        pay(walk_in)
        review.decide(waiting.screening_id, "approved", "", staff_user("clinician"))
        assert db.session.get(Booking, waiting.id).status == "expired"
        assert len(emails("booking_approved_no_seat")) == 1
        assert availability.seats_left(cohort) == 0


def test_an_approval_after_the_review_hold_lapsed_with_a_seat_still_free_holds_it(app, staff_user):
    cohort = make_cohort(2)
    waiting = book(cohort, review_token())
    confirm_email(waiting)
    waiting = db.session.get(Booking, waiting.id)
    with time_machine.travel(waiting.hold_expires_at + timedelta(minutes=1), tick=False):
        review.decide(waiting.screening_id, "approved", "", staff_user("clinician"))
        approved = db.session.get(Booking, waiting.id)
        assert approved.status == "held" and approved.hold_expires_at > now()


def test_a_payment_after_cancellation_returns_that_payment_only_and_the_kept_fee_stays(app):
    booking = book(make_cohort(starts_in_days=20))
    pay(booking)
    services.cancel_booking(booking)
    assert ledger.paid_cents(booking.id) == 49_700  # half kept, 14-29 days before
    stale_tab = pay(booking, "balance", cents=100_000, reference="demo_stale_tab")
    assert stale_tab.refunded_unplaced
    assert ledger.paid_cents(booking.id) == 49_700
    assert db.session.get(Booking, booking.id).status == "cancelled"


def test_paying_beyond_the_total_returns_the_excess(app):
    booking = book(make_cohort())
    pay(booking)
    pay(booking, "balance")
    twice = pay(booking, "balance", reference="demo_second_balance")
    assert twice.created and twice.refunded_unplaced
    assert ledger.paid_cents(booking.id) == 497_000
    partial = book(make_cohort())
    pay(partial)
    over = pay(partial, "balance", cents=400_000, reference="demo_over")
    assert over.refunded_unplaced and ledger.paid_cents(partial.id) == 497_000
    assert db.session.get(Booking, partial.id).status == "paid_in_full"


def test_a_goodwill_refund_is_not_owed_again(app):
    booking = book(make_cohort())
    pay(booking)
    deposit = ledger.payments_of(booking.id)[0]
    ledger.record_payment(booking, kind="refund", amount_cents=-5_000, provider="demo",
                          provider_reference="demo_goodwill", refund_of=deposit)
    db.session.commit()
    assert services.outstanding_cents(booking) == 397_600


def test_a_cancelled_cohort_takes_no_payment_and_sends_no_reminder(app):
    cohort = make_cohort(starts_in_days=30)
    booking = book(cohort)
    pay(booking)
    cohort.status = "cancelled"
    db.session.commit()
    assert services.next_payment(db.session.get(Booking, booking.id)) is None
    assert services.send_balance_reminders(on=booking.balance_due_date - timedelta(days=7)) == 0
    assert pay(booking, "balance").refunded_unplaced


@pytest.mark.parametrize("reference", ["RT-\x00AAAA", "x" * 21, "", None, "RT-'; --"])
def test_implausible_references_are_unknown(app, reference):
    with pytest.raises(Exception) as unknown:
        services.booking_by_reference(reference)
    assert unknown.value.status == 404


def test_money_that_must_go_back_is_recorded_with_its_refund_and_returned_once_the_provider_can(app, monkeypatch):
    from retreat.payments import providers, refunds
    booking = book(make_cohort())
    pay(booking)
    services.cancel_booking(db.session.get(Booking, booking.id), by="clinic")

    def unreachable(self, payment, cents, *, idempotency_key):
        raise providers.ProviderUnavailable("The card provider cannot be reached.")

    with monkeypatch.context() as patched:
        patched.setattr(providers.DemoProvider, "refund", unreachable)
        late = pay(booking, "balance", reference="demo_late")
    assert late.created and late.refunded_unplaced  # the payment is recorded, its refund decided and pending
    assert [p.kind for p in ledger.payments_of(booking.id)] == ["deposit", "refund", "balance"]
    assert ledger.paid_cents(booking.id) == 0  # the refund still to send counts as returned
    retried = refunds.retry_pending()
    assert len(retried.sent) == 1 and retried.still_pending == []
    assert [p.kind for p in ledger.payments_of(booking.id)] == ["deposit", "refund", "balance", "refund"]
    assert ledger.paid_cents(booking.id) == 0


def test_cancelling_a_cohort_tells_its_waitlist_and_closes_it(app):
    from retreat.booking import cohorts
    cohort = make_cohort(1)
    book(cohort)
    token = eligible_token()
    waiting = services.join_waitlist(cohort_id=cohort.id, screening_token=token,
                                     applicant={**APPLICANT, "email": "waiting@example.org"})
    cohorts.cancel_cohort(cohort.id)
    assert db.session.get(WaitlistEntry, waiting.entry.id).status == "left"
    [told] = emails("waitlist_cohort_cancelled")
    assert told.to_address == "waiting@example.org" and "will not run" in told.body
    other = make_cohort(2)
    assert book(other, token).status == "held"  # the pre-screen still books other dates
