"""What a result page says about booking with its pre-screen, and what makes it true: a booking uses the pre-screen;
when the booking ends unused (the applicant cancels, the hold lapses unpaid, the clinic cancels) the pre-screen
books again for the rest of its 30 days, and a clinician's decline never frees it. The eligible result offers to
email its link (rate-limited, the address kept in the outbox only), and the review wording comes from
REVIEW_HOLD_HOURS."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from retreat import create_app
from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.core.audit import AuditEntry
from retreat.core.errors import DomainError, ValidationFailed
from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import review
from retreat.screening import services as screening_services
from retreat.screening.models import Screening
from tests.booking.support import APPLICANT, confirm_email, make_cohort
from tests.booking.test_concurrency import book as racing_book
from tests.booking.test_concurrency import race, racing_app  # noqa: F401  (the fixture)
from tests.pricing.test_estimate_pages import parse
from tests.screening.test_review_queue import review_answers, valid_answers


def submitted(answers=None):
    return screening_services.submit(answers or valid_answers())


def book(cohort, token):
    return booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=token,
                                           lodging="shared", applicant=dict(APPLICANT)).booking


def screening_of(token) -> Screening:
    db.session.expire_all()
    return screening_services.by_token(token)


def state_shown(client, token) -> str | None:
    page = parse(client.get(f"/screening/result/{token}"))
    marker = page.find("p", class_="booking-state")
    return marker["data-state"] if marker else None


def choose_links(client, token) -> list:
    page = parse(client.get(f"/screening/result/{token}"))
    return [a for a in page.find_all("a") if a.attrs.get("href") == f"/bookings/new/{token}"]


# --- Freeing a pre-screen: by how its booking ended ----------------------------------------------------------------

def cancel_by_applicant(booking, staff_user):
    booking_services.cancel_booking(booking, by="applicant")


def cancel_by_clinic(booking, staff_user):
    booking_services.cancel_booking(booking, by="clinic", actor=staff_user)


def expire_unpaid(booking, staff_user):
    with time_machine.travel(booking.hold_expires_at + timedelta(minutes=1), tick=False):
        assert booking_services.expire_lapsed_holds() == 1


def cancel_the_cohort(booking, staff_user):
    from retreat.booking import cohorts
    cohorts.cancel_cohort(booking.cohort_id)
    [result] = cohorts.cancel_cohort_bookings(booking.cohort_id, staff=staff_user)
    assert result.cancelled


@pytest.mark.parametrize(("end", "freed"), [
    (cancel_by_applicant, True),
    (cancel_by_clinic, True),
    (expire_unpaid, True),
    (cancel_the_cohort, True),
], ids=lambda value: getattr(value, "__name__", str(value)))
def test_a_booking_that_ends_unused_frees_its_pre_screen_to_book_again(app, client, staff_user, end, freed):
    token = submitted().token
    first = book(make_cohort(), token)
    assert screening_of(token).token_used_at is not None
    assert state_shown(client, token) == "used" and not choose_links(client, token)

    end(db.session.get(Booking, first.id), staff_user("coordinator"))

    screening = screening_of(token)
    assert (screening.token_used_at is None) is freed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "screening.freed_for_booking", AuditEntry.target_id == str(screening.id))) == 1
    assert state_shown(client, token) == "freed" and choose_links(client, token)
    again = book(make_cohort(), token)  # within its 30 days: it books again, and is used again
    assert again.screening_id == screening.id and screening_of(token).token_used_at is not None
    assert state_shown(client, token) == "used"


def test_a_clinicians_decline_never_frees_the_pre_screen(app, client, staff_user):
    clinician = staff_user("clinician")
    token = screening_services.submit(review_answers()).token
    booking = book(make_cohort(), token)
    assert booking.status == "pending_review"
    confirm_email(booking)  # the seat request reaches the clinicians' queue
    screening = screening_of(token)
    review.decide(screening.id, "declined", "Not suitable now.", clinician)
    assert db.session.get(Booking, booking.id).status == "declined"
    assert screening_of(token).token_used_at is not None
    # Nor does a later cancellation of another kind: the pre-screen stays declined and used.
    assert not screening_services.free_for_booking(screening.id)
    with pytest.raises((DomainError, ValidationFailed)):
        book(make_cohort(), token)


def test_freeing_keeps_the_pre_screens_thirty_days(app, client):
    with time_machine.travel("2027-01-10T12:00:00+00:00", tick=False) as traveller:
        token = submitted().token
        booking = book(make_cohort(), token)
        traveller.shift(timedelta(days=20))
        booking_services.cancel_booking(db.session.get(Booking, booking.id), by="applicant")
        assert state_shown(client, token) == "freed"
        traveller.shift(timedelta(days=10))
        assert state_shown(client, token) == "expired"
        assert not choose_links(client, token)
        with pytest.raises(ValidationFailed) as expired:
            book(make_cohort(), token)
        assert "expired" in str(expired.value.fields["screening_token"])


def test_a_lapsed_hold_paid_late_takes_its_pre_screen_back_unless_it_booked_again(app):
    cohort = make_cohort(3)
    token = submitted().token
    lapsed = book(cohort, token)
    with time_machine.travel(lapsed.hold_expires_at + timedelta(minutes=1), tick=False):
        booking_services.expire_lapsed_holds()
        assert screening_of(token).token_used_at is None
        again = book(cohort, token)  # booked again with the freed pre-screen
        outcome = booking_services.payment_received(lapsed.reference, kind="deposit",
                                                    amount_cents=lapsed.deposit_cents, provider="demo",
                                                    provider_reference="demo_late")
        assert outcome.refunded_unplaced  # one pre-screen, one live booking
        assert db.session.get(Booking, lapsed.id).status == "expired"
        assert db.session.get(Booking, again.id).status == "held"

    other = submitted().token
    late = book(cohort, other)
    with time_machine.travel(late.hold_expires_at + timedelta(minutes=1), tick=False):
        booking_services.expire_lapsed_holds()
        outcome = booking_services.payment_received(late.reference, kind="deposit", amount_cents=late.deposit_cents,
                                                    provider="demo", provider_reference="demo_late_2")
        assert outcome.booking.status == "confirmed"
        assert screening_of(other).token_used_at is not None


def test_two_bookings_racing_with_one_pre_screen_give_one_booking(app, racing_app):  # noqa: F811
    cohort_id = make_cohort(5).id
    token = submitted().token
    outcomes = race(racing_app, [racing_book(cohort_id, token, f"racer{n}@example.org") for n in range(2)])
    assert sum(not isinstance(outcome, Exception) for outcome in outcomes) == 1, outcomes
    assert all(isinstance(o, ValidationFailed | DomainError) for o in outcomes if isinstance(o, Exception))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 1


# --- Emailing the link -----------------------------------------------------------------------------------------

def test_the_eligible_result_emails_its_link_once_and_keeps_the_address_only_in_the_outbox(app, client):
    app.config.update(CLINIC_EMAIL="hello@clinic.example", CLINIC_PHONE="+1 555 010 0000")
    token = submitted().token
    page = parse(client.get(f"/screening/result/{token}"))
    section = page.by_id("email-link")
    assert "it is private" in section.find("h2").text()
    assert "Anyone with the link can see this page" in section.text()
    form = section.find("form")
    assert form["action"] == f"/screening/result/{token}/email#email-link"
    assert page.find("label", for_="email").text() == "Your email address"

    sent = client.post(f"/screening/result/{token}/email", data={"email": " ana.li@example.org "})
    assert sent.status_code == 303
    assert sent.headers["Location"].endswith(f"/screening/result/{token}?emailed=1#email-link")
    [email] = db.session.scalars(sa.select(OutboxEmail)).all()
    assert email.kind == "screening_result_link" and email.to_address == "ana.li@example.org"
    assert f"http://localhost/screening/result/{token}" in email.body
    assert "hello@clinic.example" in email.body and "+1 555 010 0000" in email.body and "988" in email.body
    for health in ("eligible", "PHQ", "answers"):
        assert health not in email.body
    assert "We have emailed you the link" in parse(client.get(sent.headers["Location"])).by_id("email-link").text()
    assert "ana.li" not in sent.headers["Location"]
    screening = screening_of(token)
    assert screening.contact_encrypted is None
    stored = b"".join(bytes(value or b"") for value in db.session.execute(sa.select(
        Screening.answers_encrypted, Screening.findings_encrypted, Screening.contact_encrypted)).one())
    assert b"ana.li" not in stored
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        sa.cast(AuditEntry.details, sa.String).contains("ana.li")))


@pytest.mark.parametrize(("email", "reason"), [
    ("", "Enter your email address."),
    ("ana@", "Enter an email address like name@example.com."),
    ("a" * 250 + "@x.org", "Enter at most 254 characters."),
])
def test_a_bad_address_is_refused_next_to_the_field(client, email, reason):
    token = submitted().token
    response = client.post(f"/screening/result/{token}/email", data={"email": email})
    assert response.status_code == 422
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = parse(response)
    assert reason in page.by_id("email-error").text()
    assert page.find("input", name="email")["aria-invalid"] == "true"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 0


@pytest.mark.parametrize("answers", [valid_answers(age=17), review_answers()], ids=["ineligible", "review"])
def test_only_an_eligible_result_that_can_book_emails_its_link(client, answers):
    token = submitted(answers).token
    assert parse(client.get(f"/screening/result/{token}")).by_id("email-link") is None
    response = client.post(f"/screening/result/{token}/email", data={"email": "ana@example.org"})
    assert response.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 0


def test_emailing_the_link_is_rate_limited(database_url):
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_PUBLIC_WRITE="2 per minute")
    with limited.app_context():
        try:
            client = limited.test_client()
            statuses = [client.post("/screening/result/" + "x" * 43 + "/email", data={"email": "a@b.org"})
                        .status_code for _ in range(3)]
            assert statuses == [404, 404, 429]
        finally:
            db.session.remove()
            db.engine.dispose()


# --- Review wording from the one setting -------------------------------------------------------------------------

@pytest.mark.parametrize("hours", [72, 48])
def test_the_review_wording_says_the_review_hold(app, client, hours):
    app.config["REVIEW_HOLD_HOURS"] = hours
    token = submitted(review_answers()).token
    before = parse(client.get(f"/screening/result/{token}")).by_id("review-request").text()
    assert f"within {hours} hours" in " ".join(before.split())
    contact = {"first_name": "Ana", "last_name": "Li", "email": "ana@example.org", "phone": "555 010 2222"}
    assert client.post(f"/screening/result/{token}/review", data=contact).status_code == 303
    after = " ".join(parse(client.get(f"/screening/result/{token}")).by_id("review-request").text().split())
    assert f"within {hours} hours" in after and f"for {hours} hours while a clinician decides" in after
    assert "working day" not in after
