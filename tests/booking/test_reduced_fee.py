"""A reduced fee (sliding scale, scholarship), asked for on the booking form and decided by staff.

Expected figures come from domain/pricing.md, not from the code under test: the $4,970 program (shared room);
deposit 20% rounded up to the dollar, at least $500, the balance due 14 days before the start (the whole price when
the dates start within those days); the floor is REDUCED_FEE_FLOOR_PERCENT (50 by default) of the list price, so
$2,485.
"""

from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import time_machine

from retreat.booking import fee_requests, plans, services
from retreat.booking import hold_rules as holds
from retreat.booking.models import Booking, FeeRequest
from retreat.core.audit import AuditEntry
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.payments import ledger
from retreat.screening import review
from tests.booking.support import APPLICANT, eligible_token, make_cohort, review_token
from tests.booking.test_booking_pages import book, booking_count, manage_token_of
from tests.booking.test_concurrency import answers, race, racing_app  # noqa: F401  (racing_app: a fixture)
from tests.booking.test_holds import applicant, limits, post_booking  # noqa: F401  (limits: a fixture)
from tests.conftest import STAFF_PASSWORD

REASON = "I was laid off in October and support two children."
LIST, FLOOR = 497_000, 248_500


def ask(cohort=None, *, token=None, reason=REASON, confirm=True, **changes) -> services.Created:
    """Book with a request for a reduced fee through the service, and (by default) confirm the email address."""
    cohort = cohort or make_cohort()
    created = services.create_booking(policy_accepted=True, cohort_id=cohort.id,
                                      screening_token=token or eligible_token(), lodging="shared",
                                      applicant=changes.pop("applicant", dict(APPLICANT)),
                                      fee_request_reason=reason, **changes)
    if confirm:
        services.confirm_email(created.booking.reference, holds.email_confirmation_token(created.booking))
    return created


def fresh(booking: Booking) -> Booking:
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def emails(kind: str) -> list[OutboxEmail]:
    return list(db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == kind)))


# --- Asking on the booking form ----------------------------------------------------------------------------------

def test_asking_on_the_form_holds_the_seat_as_for_a_review_and_nothing_can_be_paid(app, client):
    cohort = make_cohort()
    with time_machine.travel(now(), tick=False):
        response = book(client, eligible_token(), cohort, reduced_fee="y", reduced_fee_reason=f"  {REASON}  ")
    assert response.status_code == 303
    assert not response.headers["Location"].endswith("/pay"), "to the manage page, not the payment page"
    token = manage_token_of(response)
    booking = services.booking_by_manage_token(token)
    request = db.session.scalars(sa.select(FeeRequest)).one()
    assert (request.booking_id, request.status, request.reason, request.requested_from_cents) == (
        booking.id, "requested", REASON, LIST)
    assert booking.status == "held" and booking.total_cents == LIST
    assert booking.hold_expires_at == booking.created_at + timedelta(minutes=30), "a card hold until confirmed"
    assert services.next_payment(booking) is None

    held = emails("booking_held")[0].body
    assert "reduced fee" in held and holds.email_confirmation_token(booking) in held and "$4,970" in held

    manage = client.get(f"/bookings/manage/{token}").get_data(as_text=True)
    assert "Nothing can be paid yet." in manage
    assert "the clinic&#39;s decision on your request for a reduced fee" in manage
    assert "(828) 555-0142" in manage and "Pay the deposit" not in manage

    pay = client.get(f"/bookings/manage/{token}/pay")
    assert pay.status_code == 303
    flashed = client.get(pay.headers["Location"]).get_data(as_text=True)
    assert "Nothing can be paid yet: we are waiting for the clinic&#39;s decision" in flashed
    assert "(828) 555-0142" in flashed

    services.confirm_email(booking.reference, holds.email_confirmation_token(booking))
    assert fresh(booking).hold_expires_at == booking.created_at + timedelta(hours=72), "kept as for a review"


BAD_REQUESTS = [  # (what the form sends, the field named, words of the refusal)
    ({"reduced_fee": "y", "reduced_fee_reason": "   "}, "reduced_fee_reason", "Tell us in a few words"),
    ({"reduced_fee": "y"}, "reduced_fee_reason", "Tell us in a few words"),
    ({"reduced_fee": "y", "reduced_fee_reason": "x" * 501}, "reduced_fee_reason", "at most 500 characters"),
    ({"reduced_fee": "y", "reduced_fee_reason": "Between\x07 jobs"}, "reduced_fee_reason", "control characters"),
    ({"reduced_fee_reason": REASON}, "reduced_fee", "Tick this box"),
    ({"reduced_fee": "y", "reduced_fee_reason": REASON, "starts_in_days": 3}, "reduced_fee", "start too soon"),
]


def test_a_bad_request_is_a_form_error_naming_its_field_and_holds_nothing(app, client):
    soon, later = make_cohort(starts_in_days=3), make_cohort(starts_in_days=60)
    for changes, field, words in BAD_REQUESTS:
        changes = dict(changes)
        cohort = soon if changes.pop("starts_in_days", None) else later
        response = book(client, eligible_token(), cohort, **changes)
        assert response.status_code == 422, changes
        html = response.get_data(as_text=True)
        assert f'href="#{field}"' in html and words in html, changes
    assert booking_count() == 0 and db.session.scalar(sa.select(sa.func.count()).select_from(FeeRequest)) == 0
    html = client.get(f"/bookings/new/{eligible_token()}?cohort={later.id}").get_data(as_text=True)
    assert "I would like to ask for a reduced fee" in html
    assert "Please do not include any health information" in html and 'maxlength="500"' in html


def test_a_paid_booking_or_one_asked_already_cannot_ask(app):
    created = services.create_booking(policy_accepted=True, cohort_id=make_cohort().id,
                                      screening_token=eligible_token(), lodging="shared", applicant=dict(APPLICANT))
    booking = created.booking
    fee_requests.add_request(booking, REASON)
    with pytest.raises(fee_requests.FeeRequestRefused):
        fee_requests.add_request(booking, REASON)
    other = services.create_booking(policy_accepted=True, cohort_id=make_cohort().id,
                                    screening_token=eligible_token(), lodging="shared",
                                    applicant=applicant(5)).booking
    services.payment_received(other.reference, kind="deposit", amount_cents=other.deposit_cents, provider="demo",
                              provider_reference="demo_paid_before_asking")
    with pytest.raises(fee_requests.FeeRequestRefused, match="paid already"):
        fee_requests.add_request(fresh(other), REASON)


def test_repeated_requests_from_one_script_meet_the_hold_limits(app, client, limits):  # noqa: F811
    cohort = make_cohort(10)
    first = post_booking(client, cohort, applicant=applicant(1))
    assert first.status_code == 201
    for number in (1, 2):  # the same applicant again, then another from the same address after one more
        response = client.post(f"/bookings/new/{eligible_token()}",
                               data={"cohort": str(cohort.id), "lodging": "shared", **applicant(number),
                                     "policy_accepted": "y", "reduced_fee": "y", "reduced_fee_reason": REASON},
                               environ_base={"REMOTE_ADDR": "203.0.113.7"})
        assert response.status_code == (429 if number == 1 else 303)
    third = client.post(f"/bookings/new/{eligible_token()}",
                        data={"cohort": str(cohort.id), "lodging": "shared", **applicant(3), "policy_accepted": "y",
                              "reduced_fee": "y", "reduced_fee_reason": REASON},
                        environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert third.status_code == 429, "two live holds per address in a cohort"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FeeRequest)) == 1


# --- Deciding ----------------------------------------------------------------------------------------------------

WHO_MAY_DECIDE = [  # (roles, the answer to a grant posted by them)
    (("finance",), 403), (("clinician",), 403), (("clinician", "finance"), 403), (("coordinator",), 303),
    (("admin",), 303),
]


def test_who_may_decide(app, staff_user):
    bookings = [ask().booking, ask(make_cohort(), applicant=applicant(11)).booking]
    for roles, status in WHO_MAY_DECIDE:
        booking = bookings[0] if roles != ("admin",) else bookings[1]
        client = app.test_client()
        user = staff_user(*roles)
        assert client.post("/staff/login", data={"email": user.email, "password": STAFF_PASSWORD}).status_code == 302
        html = client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
        if "finance" in roles:
            assert "Reduced fee" in html and REASON not in html, "finance sees the request, not the applicant's words"
            assert "fee-decision" not in html
        response = client.post(f"/staff/bookings/{booking.reference}/reduced-fee", data={
            "fee-decision": "grant", "fee-price": "3000", "fee-reason": "Sliding scale tier B."})
        assert response.status_code == status, roles
        assert fresh(booking).total_cents == (300_000 if status == 303 else LIST), roles
        if status == 403:
            with pytest.raises(DomainError) as refused:  # the service refuses them too, whoever calls it
                fee_requests.decide(booking.reference, decision="decline", reason="No", staff=user)
            assert refused.value.status == 403


REFUSED_ON_THE_FORM = [  # (price typed, reason, the field named, words of the refusal)
    ("2484.99", "Tier C", "price", "at least $2,485.00"),
    ("", "Tier C", "price", "Give the price granted"),
    ("2485", "x" * 501, "reason", "at most 500 characters"),
]


def test_a_grant_outside_the_rules_is_refused_on_the_form_by_field(app, client, login_as):
    booking = ask().booking
    login_as("coordinator")
    for price, reason, field, words in REFUSED_ON_THE_FORM:
        response = client.post(f"/staff/bookings/{booking.reference}/reduced-fee",
                               data={"fee-decision": "grant", "fee-price": price, "fee-reason": reason})
        assert response.status_code == 422, (price, reason)
        html = response.get_data(as_text=True)
        assert f'href="#fee-{field}"' in html and words in html, (price, reason)
    assert fresh(booking).total_cents == LIST
    assert db.session.scalars(sa.select(FeeRequest)).one().status == "requested"


# The rules of a decision are a pure check (no database): the floor from config, a reduction, a reason.
DECISION_RULES = [  # (REDUCED_FEE_FLOOR_PERCENT, discount already off, decision, price, reason, refused fields)
    (50, 0, "grant", 248_500, "Tier", set()),
    (50, 0, "grant", 248_499, "Tier", {"price"}),
    (70, 0, "grant", 347_900, "Tier", set()),
    (70, 0, "grant", 347_899, "Tier", {"price"}),
    (100, 0, "grant", 496_999, "Tier", {"price"}),  # a floor of the whole list price leaves nothing to grant
    (50, 0, "grant", LIST, "Tier", {"price"}),  # not a reduction
    (50, 50_000, "grant", LIST - 50_000, "Tier", {"price"}),  # a discount code's price is the one to go below
    (50, 50_000, "grant", 248_500, "Tier", set()),  # the floor is of the list price, not the discounted one
    (50, 0, "grant", None, "Tier", {"price"}),
    (50, 0, "grant", "2485", "Tier", {"price"}),
    (50, 0, "grant", True, "Tier", {"price"}),
    (50, 0, "decline", None, "Fund spent", set()),
    (50, 0, "decline", None, "   ", {"reason"}),
    (50, 0, "decline", None, "x" * 501, {"reason"}),
    (50, 0, "decline", None, "Fund\x00 spent", {"reason"}),
    (50, 0, "approve", None, "Tier", {"decision"}),
    (50, 0, None, 248_500, "", {"decision", "reason"}),
]


@pytest.fixture(scope="module")
def rules_app():
    """An app for its configuration only: the rules below read no database."""
    from retreat import create_app
    return create_app("testing")


@pytest.mark.parametrize(("floor_percent", "discount", "decision", "price", "reason", "refused"), DECISION_RULES)
def test_the_rules_of_a_decision(rules_app, floor_percent, discount, decision, price, reason, refused):
    booking = Booking(total_cents=LIST - discount, discount_cents=discount, reduction_cents=0)
    request = FeeRequest(requested_from_cents=booking.total_cents)
    with rules_app.app_context():
        rules_app.config["REDUCED_FEE_FLOOR_PERCENT"] = floor_percent
        if not refused:
            checked = fee_requests.check_decision(request, booking, decision=decision, price_cents=price,
                                                  reason=reason)
            assert checked == (decision, price if decision == "grant" else None, reason)
        else:
            with pytest.raises(ValidationFailed) as error:
                fee_requests.check_decision(request, booking, decision=decision, price_cents=price, reason=reason)
            assert set(error.value.fields) == refused


RECOMPUTED = [  # (dates start in days, deposit, balance, balance due days from today)
    (60, 60_000, 240_000, 46),  # 20% of $3,000 is $600 (above the $500 minimum); balance due 14 days before
    (10, 300_000, 0, None),  # starts within 14 days: the whole price at once
]


def test_a_grant_sets_the_reduction_and_recomputes_deposit_and_balance(app, client, staff_user):
    coordinator = staff_user("coordinator")
    for number, (starts_in_days, deposit, balance, due_days) in enumerate(RECOMPUTED):
        created = ask(make_cohort(starts_in_days=starts_in_days), applicant=applicant(30 + number))
        booking = created.booking
        hold = fresh(booking).hold_expires_at
        fee_requests.decide(booking.reference, decision="grant", price_cents=300_000, reason="Tier B",
                            staff=coordinator)
        booking = fresh(booking)
        assert (booking.total_cents, booking.reduction_cents, booking.list_price_cents) == (300_000, 197_000, LIST)
        assert (booking.deposit_cents, booking.balance_cents) == (deposit, balance)
        assert booking.balance_due_date == (today() + timedelta(days=due_days) if due_days else None)
        assert booking.hold_expires_at == hold, "a decision extends no hold"
        assert services.next_payment(booking) == ("deposit", deposit)
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "booking.fee_granted")).first()
    assert entry.details["price granted"] == "$3,000.00" and entry.details["list price"] == "$4,970.00"
    assert entry.details["reason"] == "Tier B" and entry.actor_roles == "coordinator"
    html = client.get(f"/bookings/manage/{created.manage_token}").get_data(as_text=True)
    assert "Granted:" in html and "your price is $3,000, reduced from $4,970" in html
    assert "Pay the whole price ($3,000)" in html and "Nothing can be paid yet." not in html


@pytest.mark.parametrize(("plan", "parts_after"), [("full", None), ("installments", 4)])
def test_a_grant_keeps_the_payment_plan_on_the_new_price(app, staff_user, plan, parts_after):
    booking = ask(make_cohort(starts_in_days=200), payment_plan=plan, payment_provider="demo").booking
    fee_requests.decide(booking.reference, decision="grant", price_cents=300_000, reason="Tier B",
                        staff=staff_user("coordinator"))
    booking = fresh(booking)
    assert booking.total_cents == 300_000 and booking.payment_plan == plan
    schedule = plans.schedule_of(booking)
    assert sum(part.amount_cents for part in schedule) == 300_000, "the schedule adds up to the price granted"
    if parts_after is None:
        assert (booking.deposit_cents, booking.balance_cents, booking.balance_due_date) == (300_000, 0, None)
    else:
        assert [part.kind for part in schedule] == ["deposit"] + ["installment"] * parts_after
        assert schedule[0].amount_cents == booking.deposit_cents == 60_000


def test_a_decline_keeps_the_list_price_payable_and_cancelling_free(app, staff_user):
    booking = ask().booking
    fee_requests.decide(booking.reference, decision="decline", reason="Fund spent for this quarter.",
                        staff=staff_user("admin"))
    booking = fresh(booking)
    assert (booking.total_cents, booking.reduction_cents) == (LIST, 0)
    assert services.next_payment(booking) == ("deposit", 99_400)
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "booking.fee_declined")).one()
    assert entry.details == {"price stands": "$4,970.00", "reason": "Fund spent for this quarter."}
    quote = services.cancel_booking(booking, by="applicant", actor="applicant")
    assert quote.refund_cents == 0 and quote.paid_cents == 0 and fresh(booking).status == "cancelled"


def test_only_a_waiting_request_of_a_live_unpaid_hold_can_be_decided(app, staff_user):
    coordinator = staff_user("coordinator")
    for number, state in enumerate(["decided", "lapsed", "paid", "cancelled"]):
        booking = ask(make_cohort(), applicant=applicant(40 + number)).booking
        moment = now()
        if state == "decided":
            fee_requests.decide(booking.reference, decision="decline", reason="No", staff=coordinator)
        elif state == "lapsed":
            moment = fresh(booking).hold_expires_at + timedelta(minutes=1)
        elif state == "paid":  # a bank transfer that came anyway, recorded by finance
            services.payment_received(booking.reference, kind="deposit", amount_cents=99_400, provider="demo",
                                      provider_reference="demo_came_anyway")
            assert ledger.received_cents(booking.id) == 99_400
        else:
            services.cancel_booking(fresh(booking), by="applicant", actor="applicant")
        with time_machine.travel(moment, tick=False), pytest.raises(DomainError) as refused:
            fee_requests.decide(booking.reference, decision="grant", price_cents=300_000, reason="Tier",
                                staff=coordinator)
        assert refused.value.code == "fee_request_refused", state
        assert fresh(booking).total_cents == LIST, state


# --- Both a review and a reduced fee -----------------------------------------------------------------------------

def test_a_booking_waiting_for_both_is_payable_only_when_both_are_resolved(app, client, staff_user):
    coordinator, clinician = staff_user("coordinator"), staff_user("clinician")
    for number, order in enumerate(["fee_first", "review_first"]):
        created = ask(make_cohort(), token=review_token(), applicant=applicant(50 + number))
        booking = created.booking
        assert booking.status == "pending_review"
        assert fee_requests.awaited(fresh(booking)) == ["a clinician's review of your pre-screen",
                                                        "the clinic's decision on your request for a reduced fee"]

        def grant(booking=booking):
            fee_requests.decide(booking.reference, decision="grant", price_cents=300_000, reason="Tier B",
                                staff=coordinator)

        def approve(booking=booking):
            review.decide(booking.screening_id, "approved", "", clinician)

        first, second = (grant, approve) if order == "fee_first" else (approve, grant)
        first()
        waiting = fee_requests.awaited(fresh(booking))
        assert len(waiting) == 1 and services.next_payment(fresh(booking)) is None, order
        manage = client.get(f"/bookings/manage/{created.manage_token}").get_data(as_text=True)
        assert "Nothing can be paid yet." in manage and waiting[0].replace("'", "&#39;") in manage
        second()
        booking = fresh(booking)
        assert booking.status == "held" and fee_requests.awaited(booking) == [], order
        assert services.next_payment(booking) == ("deposit", 60_000), order
    approved = emails("booking_approved")[-1].body
    assert "has still to decide on your request for a reduced fee" in approved
    assert "while you pay the deposit" not in approved


# --- Emails ------------------------------------------------------------------------------------------------------

def test_each_decision_emails_the_applicant_with_their_manage_link(app, staff_user):
    granted = ask()
    fee_requests.decide(granted.booking.reference, decision="grant", price_cents=300_000, reason="Internal note",
                        staff=staff_user("coordinator"))
    declined = ask(make_cohort(), applicant=applicant(7))
    fee_requests.decide(declined.booking.reference, decision="decline", reason="Internal note",
                        staff=staff_user("admin"))
    (grant_email,) = emails("reduced_fee_granted")
    (decline_email,) = emails("reduced_fee_declined")
    assert grant_email.to_address == APPLICANT["email"] and decline_email.to_address == applicant(7)["email"]
    assert "Your price: $3,000 (list price $4,970)" in grant_email.body
    assert "Deposit: $600, then a balance of $2,400" in grant_email.body
    assert f"/bookings/manage/{granted.manage_token}" in grant_email.body
    assert "cannot offer a reduced fee" in decline_email.body and "$4,970" in decline_email.body
    assert "cancel from your booking page at no cost" in decline_email.body
    assert f"/bookings/manage/{declined.manage_token}" in decline_email.body
    for email in (grant_email, decline_email):
        assert "Internal note" not in email.body and REASON not in email.body
        assert "(828) 555-0142" in email.body


def test_coordinators_see_the_request_to_decide_and_the_applicant_s_words(app, client, login_as):
    unconfirmed = ask(confirm=False).booking
    booking = ask(make_cohort(), applicant=applicant(8)).booking
    login_as("coordinator")
    listed = client.get("/staff/bookings?needs=fee_request").get_data(as_text=True)
    assert booking.reference in listed and unconfirmed.reference not in listed
    page = client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
    assert REASON in page and "Not below 50% of the list price ($4,970.00): at least $2,485.00" in page


# --- Races ---------------------------------------------------------------------------------------------------------

def test_coordinators_deciding_at_once_make_one_decision(app, racing_app, staff_user):  # noqa: F811
    booking = ask().booking
    user = staff_user("coordinator")
    coordinator = SimpleNamespace(id=user.id, email=user.email, roles=["coordinator"])
    reference = booking.reference
    attempts = [
        lambda: fee_requests.decide(reference, decision="grant", price_cents=300_000, reason="A", staff=coordinator),
        lambda: fee_requests.decide(reference, decision="grant", price_cents=400_000, reason="B", staff=coordinator),
        lambda: fee_requests.decide(reference, decision="decline", reason="C", staff=coordinator),
        lambda: fee_requests.decide(reference, decision="decline", reason="D", staff=coordinator),
    ]
    assert answers(race(racing_app, attempts)) == Counter({"ok": 1, "fee_request_refused": 3})
    decisions = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(("booking.fee_granted", "booking.fee_declined"))))
    sent = len(emails("reduced_fee_granted")) + len(emails("reduced_fee_declined"))
    assert (decisions, sent) == (1, 1)
    request = db.session.scalars(sa.select(FeeRequest)).one()
    assert fresh(booking).total_cents == (request.granted_total_cents or LIST)
