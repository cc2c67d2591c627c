"""Accessibility, proven: axe-core (tests/support/axe.py) on every page of the app, public and staff, at 390 and
1280 px, in the states people meet: a form sent with mistakes, each pre-screen outcome, each booking status on
the manage page with its pay and cancel pages, the waitlist, and each staff page for the role that uses it.
Not one violation, of any impact, is allowed.

The states are made through the services and the database (`build_world`), not by clicking through the
journeys; one browser page walks them all, each loaded once and checked at both widths. `WALK` is the table of
what is visited: (route, state, role, setup). A GET route of the app that no entry visits fails
`test_every_page_is_checked`: a new page is added to WALK with the states its users see.
"""

import io
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import current_app
from PIL import Image
from playwright.sync_api import Page
from werkzeug.exceptions import HTTPException

from retreat.arrival import consent, intake, personal_data, uploads
from retreat.booking import fee_requests, hold_rules
from retreat.booking import services as booking_services
from retreat.booking.availability import seats_left
from retreat.booking.models import Booking
from retreat.booking.rooms_models import Room, RoomPlacement
from retreat.catalog import discounts
from retreat.catalog.models import Cohort, Program
from retreat.catalog.services import estimate_for_program
from retreat.core.clock import now
from retreat.extensions import db
from retreat.screening import forms as screening_forms
from retreat.screening import services as screening_services
from retreat.screening.forms import DRAFT_COOKIE, PAGES, Draft
from retreat.screening.models import Screening
from tests.arrival.test_intake import COMPLETE as INTAKE
from tests.booking.support import APPLICANT, eligible_token, ineligible_token, review_token
from tests.conftest import STAFF_PASSWORD
from tests.e2e.conftest import LONGEST_PROGRAM_SLUG
from tests.finance.support import make_ledger
from tests.screening.test_review_queue import CRISIS_CSSRS, make_screening, review_answers, valid_answers
from tests.support.axe import describe, require_axe, violations

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)
HEIGHT = 900
ROLES = ("clinician", "coordinator", "finance", "admin")
# GET routes that are not pages: files, machine interfaces, health checks.
NOT_PAGES = re.compile(r"^/(static|api|webhooks|healthz|readyz)\b|\.(ics|csv|pdf|json)$|/export/|/download$")
# What shows that a page is in an error state ("... with errors", "... refused"): a summary or a field's error.
ERROR_SHOWN = "[role=alert], .field-errors, .form-errors, [aria-invalid=true]"
LONGEST_FEE_REASON = ("I lost my job in the spring and have been caring for my mother since; our household income is "
                      "about a third of what it was, and savings went on rent. " * 4)[:500]
LONG_MEDICATIONS = ("Sertraline 150 mg each morning\nLamotrigine 200 mg twice a day, titrated since March\n"
                    "Melatonin 3 mg at night; omega-3 supplement; ibuprofen 400 mg when needed for migraines")
BANK_DETAILS = "Transfer to Retreat Clinic LLC, account 000123456, routing 021000021; put your booking reference."


# --- Doing what a person does on a page ------------------------------------------------------------------------

def send(page: Page, button: str, fields: dict[str, str] | None = None, *, nth: int = 0) -> None:
    """Type into fields (by label) and press a form's button, with the browser's own checks off, so the app's
    error messages show (a person whose browser does not check, or who typed what passes its checks)."""
    submit = page.get_by_role("button", name=button, exact=True).nth(nth)
    submit.evaluate("button => { if (button.form) button.form.noValidate = true; }")
    form = submit.locator("xpath=ancestor::form")
    for label, value in (fields or {}).items():
        form.get_by_label(label, exact=True).fill(value)
    with page.expect_navigation():
        submit.click()


def draft_answers(**changes) -> dict:
    """Complete answers as the questionnaire's draft keeps them (the weight with the unit it was typed in)."""
    answers = valid_answers(**changes)
    answers["as_entered"] = {"weight_kg": {"value": answers["weight_kg"], "unit": "kg"}}
    return answers


def hold_draft(page: Page, token: str) -> str:
    """The browser holds this questionnaire draft (its cookie, as the pages set it); returns the site's origin."""
    origin = re.match(r"https?://[^/]+", page.url).group(0)
    page.context.add_cookies([{"name": DRAFT_COOKIE, "value": token, "domain": urlsplit(origin).hostname,
                               "path": "/screening/questions"}])
    return origin


def step_page(index: int, *, errors: bool = False, **changes) -> Callable[[Page, SimpleNamespace], None]:
    """Page `index` of the pre-screen as a person comes back to it (filled from the draft), or reached with the
    pages before it answered and sent blank (its errors shown)."""
    def show(page: Page, world: SimpleNamespace) -> None:
        answers = draft_answers(**changes)
        if errors:
            for each in PAGES:
                if each.index >= index:
                    for question in each.questions():
                        screening_forms._remove(answers, question)
            answers = {key: value for key, value in answers.items() if value != {}}
        origin = hold_draft(page, Draft(answers).token())
        page.goto(f"{origin}/screening/questions/{index}")
        assert page.url.endswith(f"/screening/questions/{index}"), page.url
        if errors:
            page.evaluate("""() => {
                const form = document.querySelector("form.questionnaire");
                for (const input of form.querySelectorAll("input[type=radio], input[type=checkbox]"))
                    input.checked = false;
                for (const input of form.querySelectorAll("input[type=text], input[type=number], input:not([type])"))
                    input.value = "";
            }""")
            send(page, "See my result" if index == len(PAGES) else "Continue")
    return show


def unreadable_draft(page: Page, world: SimpleNamespace) -> None:
    origin = hold_draft(page, "not-a-draft")
    page.goto(f"{origin}/screening/questions/2")


# --- The states, made once through the services ----------------------------------------------------------------

def _booking(cohort: Cohort, token: str | None = None, *, provider: str = "demo", lodging: str = "shared",
             promo_code: str | None = None, plan: str | None = None):
    return booking_services.create_booking(cohort_id=cohort.id, screening_token=token or eligible_token(),
                                           lodging=lodging, applicant=dict(APPLICANT), payment_provider=provider,
                                           policy_accepted=True, promo_code=promo_code, payment_plan=plan)


def _set_status(created, status: str) -> str:
    booking = db.session.get(Booking, created.booking.id)
    booking.status = status
    db.session.commit()
    return created.manage_token


def _pay(created, kind: str) -> None:
    booking = db.session.get(Booking, created.booking.id)
    cents = booking.deposit_cents if kind == "deposit" else booking.balance_cents
    booking_services.payment_received(booking.reference, kind=kind, amount_cents=cents, provider="demo",
                                      provider_reference=f"demo_{booking.reference}_{kind}", actor="test")


def ask_for_documents(w: SimpleNamespace, reference: str) -> None:
    """A clinician asks for records and for clearance (the longest words), and the applicant sends one image."""
    current_app.config["UPLOAD_FOLDER"] = tempfile.mkdtemp(prefix="retreat-walk-uploads-")
    uploads.ask_for_documents(reference, "records", "", staff=w.users["clinician"])
    clearance = uploads.ask_for_documents(
        reference, "clearance", "A resting 12-lead ECG from the last 3 months, and liver function tests (ALT, AST, "
        "bilirubin) from the last 6 months", staff=w.users["clinician"])
    image = io.BytesIO()
    Image.new("RGB", (4, 4), "teal").save(image, "PNG")
    image.seek(0)
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    uploads.upload(booking, str(clearance.id), image,
                   original_name="ECG tracing, page 1 of 2 — Asheville Cardiology Associates, 14 Nov 2026.png")


def build_world(staff_user) -> SimpleNamespace:
    """Every record the walk's pages need, from the demo data (tests/e2e/conftest.py) and the finance ledger."""
    current_app.config["BANK_TRANSFER_INSTRUCTIONS"] = BANK_DETAILS  # the booking form offers a choice of payment
    current_app.config["ONCALL_CLINICIAN_EMAIL"] = "oncall@clinic.example"
    w = SimpleNamespace()
    w.users = {role: staff_user(role) for role in ROLES}
    make_ledger()
    w.program = db.session.scalars(sa.select(Program).where(Program.slug == LONGEST_PROGRAM_SLUG)).one()
    [w.cohort] = w.program.cohorts
    w.full = next(c for c in db.session.scalars(sa.select(Cohort).order_by(Cohort.start_date))
                  if seats_left(c) == 0)
    w.estimate = estimate_for_program(w.program.slug, "private").id

    w.eligible, w.review_token, w.ineligible = eligible_token(), review_token(), ineligible_token()
    w.crisis = screening_services.submit(valid_answers(cssrs=CRISIS_CSSRS)).token
    w.review_approved = review_token(approved=True)
    requested = screening_services.submit(review_answers(), {"first_name": "Alex", "last_name": "Rivera",
                                                             "email": "alex@example.org", "phone": "+1 555 0199"})
    w.review_requested = requested.token
    screening = db.session.get(Screening, requested.screening.id)
    screening.review_status = "pending"
    screening.review_requested_at = now()
    db.session.commit()
    approved = db.session.scalars(sa.select(Screening).where(Screening.review_status == "approved")).one()
    w.approval = screening_services.new_approval_token(approved)
    db.session.commit()
    purged = screening_services.submit(valid_answers(age=17))
    db.session.get(Screening, purged.screening.id).findings_encrypted = None
    db.session.commit()
    w.purged = purged.token
    w.used = eligible_token()
    db.session.commit()

    held = _booking(w.cohort, w.used)
    w.held = held.manage_token
    w.held_reference = held.booking.reference
    w.offline = _booking(w.cohort, provider="offline").manage_token
    unconfirmed = _booking(w.cohort, review_token(), lodging="private")
    w.review = unconfirmed.manage_token
    w.confirm_path = (f"/bookings/confirm/{unconfirmed.booking.reference}/"
                      f"{hold_rules.email_confirmation_token(unconfirmed.booking)}")
    confirmed = _booking(w.cohort)
    _pay(confirmed, "deposit")
    w.confirmed = confirmed.manage_token
    w.confirmed_reference = confirmed.booking.reference
    intake.save_intake(db.session.get(Booking, confirmed.booking.id), {**INTAKE, "medications": LONG_MEDICATIONS})
    ask_for_documents(w, confirmed.booking.reference)
    paid = _booking(w.cohort)
    _pay(paid, "deposit")
    _pay(paid, "balance")
    w.paid_in_full = paid.manage_token
    cancelled = _booking(w.cohort)
    _pay(cancelled, "deposit")
    booking_services.cancel_booking(db.session.get(Booking, cancelled.booking.id))
    w.cancelled = cancelled.manage_token
    w.declined = _set_status(_booking(w.cohort, review_token()), "declined")
    w.expired = _set_status(_booking(w.cohort), "expired")
    lapsed = _booking(w.cohort)
    db.session.get(Booking, lapsed.booking.id).hold_expires_at = now() - timedelta(minutes=1)
    db.session.commit()
    w.lapsed = lapsed.manage_token
    offered = _booking(w.cohort)  # as a waitlist offer is made: without the policy asked for
    db.session.get(Booking, offered.booking.id).policy_version = None
    db.session.commit()
    w.offered = offered.manage_token

    w.code_id = discounts.create_code({"code": "WALK-SCHOLARSHIP-2027", "amount_off_cents": 1_250_50,
                                       "percent_off": None, "program_ids": [w.program.id], "max_uses": 12},
                                      actor="test").id
    discounted = _booking(w.cohort, promo_code="walk-scholarship-2027")
    w.discounted = discounted.manage_token
    booking_services.cancel_booking(db.session.get(Booking, _booking(
        w.cohort, promo_code="WALK-SCHOLARSHIP-2027").booking.id))  # a use given back, as the console shows it
    # Monthly parts: dates far enough away for them, the deposit to pay with the schedule shown, then confirmed.
    far = next(c for c in db.session.scalars(sa.select(Cohort).order_by(Cohort.start_date))
               if c.start_date >= now().date() + timedelta(days=100) and seats_left(c) > 1)
    lodging = far.program.lodging_options[0]
    w.installments_held = _booking(far, lodging=lodging, plan="installments").manage_token
    installments = _booking(far, lodging=lodging, plan="installments")
    _pay(installments, "deposit")
    w.installments = installments.manage_token

    asking = booking_services.create_booking(
        cohort_id=w.cohort.id, screening_token=eligible_token(), lodging="shared", applicant=dict(APPLICANT),
        payment_provider="demo", policy_accepted=True, fee_request_reason=LONGEST_FEE_REASON)
    booking_services.confirm_email(asking.booking.reference, hold_rules.email_confirmation_token(asking.booking))
    w.fee_waiting, w.fee_reference = asking.manage_token, asking.booking.reference
    granted = booking_services.create_booking(
        cohort_id=w.cohort.id, screening_token=eligible_token(), lodging="private", applicant=dict(APPLICANT),
        payment_provider="demo", policy_accepted=True, fee_request_reason="Between jobs.")
    fee_requests.decide(granted.booking.reference, decision="grant", price_cents=600_000,
                        reason="Sliding scale, second tier.", staff=w.users["admin"])
    w.fee_granted = granted.manage_token

    # The applicant's data: asked to erase a confirmed booking's (not before the stay) and a cancelled one's (now);
    # an expired booking's erased (its link says so).
    for token in (w.confirmed, w.cancelled):
        personal_data.request_erasure(booking_services.booking_by_manage_token(token))
    w.cancelled_reference = booking_services.booking_by_manage_token(w.cancelled).reference
    w.erased = _set_status(_booking(w.cohort), "expired")
    erased = booking_services.booking_by_manage_token(w.erased)
    w.erased_reference = erased.reference
    personal_data.request_erasure(erased)
    personal_data.erase(erased.reference, staff=w.users["admin"])

    w.queue_review = make_screening(review_answers(), pending=True).id
    w.queue_crisis = db.session.scalars(sa.select(Screening.id).where(Screening.outcome == "crisis")).first()
    w.demo_program = db.session.scalars(sa.select(Program).where(Program.slug == "iv-emdr-one-week")).one().id
    w.admin_id = w.users["admin"].id
    w.first = db.session.get(Cohort, db.session.scalars(  # the demo's dates with their guests in rooms
        sa.select(Booking.cohort_id).join(RoomPlacement, RoomPlacement.booking_id == Booking.id)).first())
    w.room_id = db.session.scalars(sa.select(Room.id).order_by(Room.id)).first()

    # Informed consent: the demo's version 1 signed by one booking, then a version 2 (a section changed, one new):
    # that booking is asked to sign again, another has signed version 2, and w.confirmed has signed nothing.
    first = consent.current_version()
    resign, signed = _booking(w.cohort), _booking(w.cohort)
    for made in (resign, signed):
        _pay(made, "deposit")
    everything = {section.position for section in first.sections}
    consent.sign(db.session.get(Booking, resign.booking.id), version_number=first.number, full_name="Alex Rivera",
                 ticked=everything, client_address="198.51.100.7")
    text = consent.canonical_text(consent.sections_of(first)).replace(
        "nausea or vomiting (we can give medicine to prevent it);",
        "nausea or vomiting (we can give medicine to prevent it, and ask you not to eat before a dose);")
    second = consent.publish(text + "\n## Photographs and recordings\n\nNo session is photographed or recorded "
                             "without your written permission.\n", "Photographs; nausea.", based_on=first.number,
                             staff=w.users["admin"])
    consent.sign(db.session.get(Booking, signed.booking.id), version_number=second.number, full_name="Alex Rivera",
                 ticked={section.position for section in second.sections}, client_address="198.51.100.8")
    w.consent_resign, w.consent_signed = resign.manage_token, signed.manage_token
    w.consent_version = second.number
    return w


# --- The walk: (route, state, role, setup) ----------------------------------------------------------------------

Setup = Callable[[Page, SimpleNamespace], None]


@dataclass(frozen=True)
class Visit:
    route: str  # the app's URL rule it covers (test_every_page_is_checked)
    state: str  # what a person sees; with the route, the name in a failure
    path: Callable[[SimpleNamespace], str]  # where the page is opened, from the world
    setup: Setup | None = None  # what the person then does on it (sends a form with mistakes, say)
    role: str | None = None  # the staff role signed in; None: an applicant, signed out


def v(route: str, state: str, path, setup: Setup | None = None, role: str | None = None) -> Visit:
    return Visit(route, state, path if callable(path) else (lambda w, p=path: p), setup, role)


def pay_of(status: str):
    return lambda w: f"/bookings/manage/{getattr(w, status)}/pay"


def cancel_of(status: str):
    return lambda w: f"/bookings/manage/{getattr(w, status)}/cancel"


def manage_of(status: str):
    return lambda w: f"/bookings/manage/{getattr(w, status)}"


def send_with(button: str, fields: dict[str, str] | None = None, nth: int = 0) -> Setup:
    return lambda page, w: send(page, button, fields, nth=nth)


def unchecked_then(button: str, nth: int = 0) -> Setup:
    """Every choice of the button's form left unchosen, then sent."""
    def setup(page: Page, w) -> None:
        page.get_by_role("button", name=button, exact=True).nth(nth).evaluate(
            "b => b.form.querySelectorAll('input[type=radio], input[type=checkbox]').forEach(i => i.checked = false)")
        send(page, button, nth=nth)
    return setup


def ask_without_reason(page: Page, w) -> None:
    """The booking form with a reduced fee asked for and no reason given."""
    page.get_by_label("I would like to ask for a reduced fee", exact=True).check()
    send(page, "Hold my seat and continue to payment", {"First name": "Sam", "Last name": "Okafor",
                                                       "Email address": "sam@example.org",
                                                       "Phone number": "555 010 3333"})


def place_in_taken_room(page: Page, w) -> None:
    """The second guest of the first dates (a private room booked) sent into the first guest's room."""
    page.locator("form.place-form select").nth(1).select_option(value=str(w.room_id))
    with page.expect_navigation():
        page.locator("form.place-form button").nth(1).click()
    assert page.locator(".field-errors").count() == 1


MANAGE = "/bookings/manage/<token>"
STEP = "/screening/questions/<int:index>"
THOUGHTS = {"wish_dead": True, "suicidal_thoughts": True, "behavior": False}  # a yes that asks the follow-ups
STATUSES = ("held", "review", "confirmed", "paid_in_full", "cancelled", "declined", "expired", "lapsed", "offline")

PUBLIC = [
    v("/", "catalog", "/"),
    v("/programs/<slug>", "program", lambda w: f"/programs/{w.program.slug}"),
    v("/contact", "contact", "/contact"),
    v("/estimate", "form", "/estimate"),
    v("/estimate", "program estimate with errors", "/estimate", unchecked_then("See my estimate")),
    v("/estimate", "custom estimate with errors", "/estimate",
      send_with("See my estimate", {"Dosing sessions": "9", "Integration therapy sessions": "1"}, nth=1)),
    v("/estimates/<estimate_id>", "estimate", lambda w: f"/estimates/{w.estimate}"),
    v("/estimates/<estimate_id>", "estimate with a discount code", lambda w: f"/estimates/{w.estimate}",
      send_with("Apply the code", {"Have a discount code?": "walk-scholarship-2027"})),
    v("/estimates/<estimate_id>", "estimate with a code refused", lambda w: f"/estimates/{w.estimate}",
      send_with("Apply the code", {"Have a discount code?": "NOT-A-REAL-CODE"})),
    v("/screening/", "intro", "/screening/"),
    v("/screening/questions", "start", "/screening/questions"),
    *[v(STEP, f"page {n}", "/screening/questions/1", step_page(n)) for n in (1, 2, 4, 5, 6, 7)],
    v(STEP, "page 3: safety follow-ups", "/screening/questions/1", step_page(3, cssrs=THOUGHTS)),
    *[v(STEP, f"page {n} with errors", "/screening/questions/1", step_page(n, errors=True))
      for n in (1, 2, 4, 5, 6, 7)],
    v(STEP, "page 3: safety follow-ups with errors", "/screening/questions/1",
      step_page(3, errors=True, cssrs=THOUGHTS)),
    v(STEP, "start again (unreadable draft)", "/screening/questions/1", unreadable_draft),
    v("/screening/result/<token>", "eligible", lambda w: f"/screening/result/{w.eligible}"),
    v("/screening/result/<token>", "eligible, its link emailed", lambda w: f"/screening/result/{w.eligible}",
      send_with("Email me the link", {"Your email address": "rosalind@example.org"})),
    v("/screening/result/<token>", "eligible, email with errors", lambda w: f"/screening/result/{w.eligible}",
      send_with("Email me the link", {"Your email address": "rosalind@"})),
    v("/screening/result/<token>", "used for a booking", lambda w: f"/screening/result/{w.used}"),
    v("/screening/result/<token>", "review", lambda w: f"/screening/result/{w.review_token}"),
    v("/screening/result/<token>", "review request with errors", lambda w: f"/screening/result/{w.review_token}",
      send_with("Send my request")),
    v("/screening/result/<token>", "review requested", lambda w: f"/screening/result/{w.review_requested}"),
    v("/screening/result/<token>", "review approved", lambda w: f"/screening/result/{w.review_approved}"),
    v("/screening/result/<token>", "ineligible", lambda w: f"/screening/result/{w.ineligible}"),
    v("/screening/result/<token>", "crisis", lambda w: f"/screening/result/{w.crisis}"),
    v("/screening/result/<token>", "purged", lambda w: f"/screening/result/{w.purged}"),
    v("/screening/approved/<token>", "approved by a clinician", lambda w: f"/screening/approved/{w.approval}"),
    v("/bookings/new/<token>", "choose dates", lambda w: f"/bookings/new/{w.eligible}"),
    v("/bookings/new/<token>", "choose dates awaiting review", lambda w: f"/bookings/new/{w.review_approved}"),
    v("/bookings/new/<token>", "booking form", lambda w: f"/bookings/new/{w.eligible}?cohort={w.cohort.id}"),
    v("/bookings/new/<token>", "booking form with errors", lambda w: f"/bookings/new/{w.eligible}?cohort={w.cohort.id}",
      send_with("Hold my seat and continue to payment", {"Email address": "rosalind@"})),
    v("/bookings/new/<token>", "booking form, reduced fee with errors",
      lambda w: f"/bookings/new/{w.eligible}?cohort={w.cohort.id}", ask_without_reason),
    v("/bookings/new/<token>", "waitlist form", lambda w: f"/bookings/new/{w.eligible}?cohort={w.full.id}"),
    v("/bookings/new/<token>", "waitlist form with errors", lambda w: f"/bookings/new/{w.eligible}?cohort={w.full.id}",
      send_with("Join the waitlist")),
    v("/bookings/new/<token>", "waitlist joined", lambda w: f"/bookings/new/{w.eligible}?cohort={w.full.id}",
      send_with("Join the waitlist", {"First name": "Sam", "Last name": "Okafor", "Email address": "sam@example.org",
                                      "Phone number": "555 010 3333"})),
    v("/bookings/new/<token>", "review not yet requested", lambda w: f"/bookings/new/{w.review_token}"),
    v("/bookings/new/<token>", "not eligible", lambda w: f"/bookings/new/{w.ineligible}"),
    v("/bookings/new/<token>", "crisis", lambda w: f"/bookings/new/{w.crisis}"),
    v("/bookings/new/<token>", "pre-screen used already", lambda w: f"/bookings/new/{w.used}"),
    *[v(MANAGE, status, manage_of(status)) for status in STATUSES],
    *[v(MANAGE + "/pay", status, pay_of(status)) for status in STATUSES],
    v(MANAGE + "/pay", "held with a discount code", pay_of("discounted")),
    v(MANAGE, "held with a discount code", manage_of("discounted")),
    *[v(MANAGE + "/cancel", status, cancel_of(status)) for status in STATUSES],
    v(MANAGE + "/pay", "waitlist offer: the policy first", pay_of("offered")),
    v(MANAGE + "/pay", "waitlist offer: the policy not ticked", pay_of("offered"),
      unchecked_then("Accept and continue to payment")),
    v(MANAGE, "confirmed, paying in monthly parts", manage_of("installments")),
    v(MANAGE + "/pay", "deposit of monthly parts, with the schedule", pay_of("installments_held")),
    v(MANAGE, "reduced fee awaited", manage_of("fee_waiting")),
    v(MANAGE, "reduced fee granted", manage_of("fee_granted")),
    v(MANAGE + "/pay", "reduced fee awaited", pay_of("fee_waiting")),
    v(MANAGE + "/paid", "back from the card form", lambda w: f"/bookings/manage/{w.confirmed}/paid"),
    v(MANAGE + "/intake", "intake form, filled in, shared room", lambda w: f"/bookings/manage/{w.confirmed}/intake"),
    v(MANAGE + "/intake", "intake with errors", lambda w: f"/bookings/manage/{w.held}/intake",
      send_with("Save my intake", {"Emergency contact's phone number": "call me"})),
    v(MANAGE + "/superbill", "date of birth", lambda w: f"/bookings/manage/{w.confirmed}/superbill"),
    v(MANAGE + "/superbill", "date of birth with errors", lambda w: f"/bookings/manage/{w.confirmed}/superbill",
      send_with("Save and continue")),
    v(MANAGE + "/documents", "nothing asked", lambda w: f"/bookings/manage/{w.held}/documents"),
    v(MANAGE + "/documents", "records and clearance asked, a file sent",
      lambda w: f"/bookings/manage/{w.confirmed}/documents"),
    v(MANAGE + "/documents", "upload with errors", lambda w: f"/bookings/manage/{w.confirmed}/documents",
      send_with("Upload this file")),
    v(MANAGE + "/consent", "to sign", lambda w: f"/bookings/manage/{w.confirmed}/consent"),
    v(MANAGE + "/consent", "to sign, with errors", lambda w: f"/bookings/manage/{w.confirmed}/consent",
      send_with("Sign the consent", {"Your full name": "Alex"})),
    v(MANAGE + "/consent", "a new version to sign again", lambda w: f"/bookings/manage/{w.consent_resign}/consent"),
    v(MANAGE + "/consent", "signed", lambda w: f"/bookings/manage/{w.consent_signed}/consent"),
    v("/bookings/confirm/<reference>/<token>", "email confirmed", lambda w: w.confirm_path),
    v(MANAGE + "/data", "everything held", lambda w: f"/bookings/manage/{w.paid_in_full}/data"),
    v(MANAGE + "/data", "erasure asked", lambda w: f"/bookings/manage/{w.confirmed}/data"),
    v(MANAGE + "/data/erase", "ask for erasure", lambda w: f"/bookings/manage/{w.paid_in_full}/data/erase"),
    v(MANAGE + "/data/erase", "ask for erasure with errors", lambda w: f"/bookings/manage/{w.paid_in_full}/data/erase",
      send_with("Ask the clinic to erase my data")),
    v(MANAGE + "/data/erase", "erasure asked already", lambda w: f"/bookings/manage/{w.confirmed}/data/erase"),
    v(MANAGE, "data erased", manage_of("erased")),
    v("/programs/<slug>", "not found", "/programs/no-such-program"),
    v("/staff/login", "sign in", "/staff/login"),
    v("/staff/login", "sign in refused", "/staff/login",
      send_with("Sign in", {"Email": "nobody@clinic.example", "Password": "not the password"})),
    v("/staff/login", "sign in with errors", "/staff/login", send_with("Sign in")),
]
STAFF = [
    v("/staff/", "home", "/staff/", role="clinician"),
    v("/staff/screenings", "review queue", "/staff/screenings", role="clinician"),
    v("/staff/screenings", "closed items", "/staff/screenings?show=closed", role="clinician"),
    v("/staff/", "coordinator's to-do", "/staff/", role="coordinator"),
    v("/staff/", "finance's to-do", "/staff/", role="finance"),
    v("/staff/", "admin's to-do", "/staff/", role="admin"),
    v("/staff/screenings/<int:screening_id>", "review", lambda w: f"/staff/screenings/{w.queue_review}",
      role="clinician"),
    v("/staff/screenings/<int:screening_id>", "review with errors", lambda w: f"/staff/screenings/{w.queue_review}",
      send_with("Record decision"), role="clinician"),
    v("/staff/screenings/<int:screening_id>", "crisis", lambda w: f"/staff/screenings/{w.queue_crisis}",
      role="clinician"),
    v("/staff/password", "change password", "/staff/password", role="clinician"),
    v("/staff/password", "change password with errors", "/staff/password", send_with("Change password"),
      role="clinician"),
    v("/staff/dashboard", "dashboard", "/staff/dashboard", role="coordinator"),
    v("/staff/programs", "programs", "/staff/programs", role="coordinator"),
    v("/staff/programs/new", "new program", "/staff/programs/new", role="coordinator"),
    v("/staff/programs/new", "new program with errors", "/staff/programs/new", send_with("Save as draft"),
      role="coordinator"),
    v("/staff/programs/<int:program_id>", "edit program", lambda w: f"/staff/programs/{w.demo_program}",
      role="coordinator"),
    v("/staff/programs/<int:program_id>/cohorts/new", "new cohort",
      lambda w: f"/staff/programs/{w.demo_program}/cohorts/new", role="coordinator"),
    v("/staff/programs/<int:program_id>/cohorts/new", "new cohort with errors",
      lambda w: f"/staff/programs/{w.demo_program}/cohorts/new", send_with("Add these dates"), role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>", "cohort with holds", lambda w: f"/staff/cohorts/{w.cohort.id}",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>", "full cohort with a waitlist", lambda w: f"/staff/cohorts/{w.full.id}",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>", "seats refused", lambda w: f"/staff/cohorts/{w.cohort.id}",
      send_with("Save seats", {"Seats": "1"}), role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/cancel", "cancel a cohort", lambda w: f"/staff/cohorts/{w.cohort.id}/cancel",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/roster", "roster", lambda w: f"/staff/cohorts/{w.cohort.id}/roster",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/roster", "roster with rooms", lambda w: f"/staff/cohorts/{w.first.id}/roster",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/staff", "unstaffed", lambda w: f"/staff/cohorts/{w.cohort.id}/staff",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/staff", "staffed", lambda w: f"/staff/cohorts/{w.first.id}/staff",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/staff", "assign with errors", lambda w: f"/staff/cohorts/{w.cohort.id}/staff",
      send_with("Assign"), role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/rooms", "placement", lambda w: f"/staff/cohorts/{w.first.id}/rooms",
      role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/rooms", "placement refused", lambda w: f"/staff/cohorts/{w.first.id}/rooms",
      lambda page, w: place_in_taken_room(page, w), role="coordinator"),
    v("/staff/rooms", "rooms", "/staff/rooms", role="coordinator"),
    v("/staff/rooms", "new room with errors", "/staff/rooms", send_with("Add room"), role="coordinator"),
    v("/staff/rooms/<int:room_id>", "room", lambda w: f"/staff/rooms/{w.room_id}", role="coordinator"),
    v("/staff/rooms/<int:room_id>", "room with errors", lambda w: f"/staff/rooms/{w.room_id}",
      send_with("Save room", {"Beds": "0"}), role="coordinator"),
    v("/staff/readiness", "dates with a board", "/staff/readiness", role="clinician"),
    v("/staff/cohorts/<int:cohort_id>/readiness", "readiness board",
      lambda w: f"/staff/cohorts/{w.cohort.id}/readiness", role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/readiness", "readiness board with clearance links",
      lambda w: f"/staff/cohorts/{w.cohort.id}/readiness", role="clinician"),
    v("/staff/cohorts/<int:cohort_id>/readiness", "readiness filters with errors",
      lambda w: f"/staff/cohorts/{w.cohort.id}/readiness?show=maybe", role="coordinator"),
    v("/staff/cohorts/<int:cohort_id>/readiness/<reference>/clearance", "clearance",
      lambda w: f"/staff/cohorts/{w.cohort.id}/readiness/{w.confirmed_reference}/clearance", role="clinician"),
    v("/staff/cohorts/<int:cohort_id>/readiness/<reference>/clearance", "clearance with errors",
      lambda w: f"/staff/cohorts/{w.cohort.id}/readiness/{w.confirmed_reference}/clearance",
      send_with("Save the clearance"), role="clinician"),
    v("/staff/bookings", "bookings", "/staff/bookings", role="coordinator"),
    v("/staff/bookings/<reference>", "held booking", lambda w: f"/staff/bookings/{w.held_reference}",
      role="coordinator"),
    v("/staff/bookings/<reference>", "reduced fee to decide", lambda w: f"/staff/bookings/{w.fee_reference}",
      role="coordinator"),
    v("/staff/bookings/<reference>", "reduced fee decision with errors",
      lambda w: f"/staff/bookings/{w.fee_reference}", send_with("Record the decision and email the applicant"),
      role="coordinator"),
    v("/staff/bookings/<reference>", "confirmed booking", lambda w: f"/staff/bookings/{w.confirmed_reference}",
      role="coordinator"),
    v("/staff/bookings/<reference>", "a clinician's diagnosis form",
      lambda w: f"/staff/bookings/{w.confirmed_reference}", role="clinician"),
    v("/staff/bookings/<reference>", "diagnosis with errors", lambda w: f"/staff/bookings/{w.confirmed_reference}",
      send_with("Record the diagnosis", {"ICD-10-CM diagnosis codes": "depression"}), role="clinician"),
    v("/staff/bookings/<reference>/intake", "intake without health",
      lambda w: f"/staff/bookings/{w.confirmed_reference}/intake", role="coordinator"),
    v("/staff/bookings/<reference>/intake", "intake with medications",
      lambda w: f"/staff/bookings/{w.confirmed_reference}/intake", role="clinician"),
    v("/staff/bookings/<reference>/intake", "intake not started",
      lambda w: f"/staff/bookings/{w.held_reference}/intake", role="coordinator"),
    v("/staff/bookings/<reference>/documents", "requests and files",
      lambda w: f"/staff/bookings/{w.confirmed_reference}/documents", role="clinician"),
    v("/staff/bookings/<reference>/documents", "request with errors",
      lambda w: f"/staff/bookings/{w.confirmed_reference}/documents", send_with("Ask the applicant and email them"),
      role="clinician"),
    v("/staff/prices", "price lists", "/staff/prices", role="coordinator"),
    v("/staff/discounts", "discount codes", "/staff/discounts", role="coordinator"),
    v("/staff/discounts/new", "new discount code", "/staff/discounts/new", role="coordinator"),
    v("/staff/discounts/new", "new discount code with errors", "/staff/discounts/new", send_with("Save the code"),
      role="coordinator"),
    v("/staff/discounts/<int:code_id>", "discount code with its uses", lambda w: f"/staff/discounts/{w.code_id}",
      role="coordinator"),
    v("/staff/prices/<int:version>", "price list", "/staff/prices/1", role="coordinator"),
    v("/staff/finance", "ledger", "/staff/finance?date_from=2027-03-01&date_to=2027-03-31", role="finance"),
    v("/staff/finance", "ledger with errors", "/staff/finance?date_from=2027-03-40", role="finance"),
    v("/staff/finance/close", "month close", "/staff/finance/close?month=2027-03", role="finance"),
    v("/staff/finance/close", "month close with errors", "/staff/finance/close?month=March", role="finance"),
    v("/staff/finance/bookings/<reference>", "booking money", "/staff/finance/bookings/RT-CCCC44", role="finance"),
    v("/staff/finance/bookings", "booking lookup", "/staff/finance/bookings?reference=rt-aaaa22", role="finance"),
    v("/staff/users", "users", "/staff/users", role="admin"),
    v("/staff/users", "new user with errors", "/staff/users", send_with("Add staff user"), role="admin"),
    v("/staff/users/<int:user_id>", "user", lambda w: f"/staff/users/{w.users['clinician'].id}", role="admin"),
    v("/staff/prices/new", "new price list", "/staff/prices/new", role="admin"),
    v("/staff/prices/new", "new price list with errors", "/staff/prices/new",
      send_with("Save as a new version"), role="admin"),
    v("/staff/api-tokens", "api tokens", "/staff/api-tokens", role="admin"),
    v("/staff/api-tokens", "api token with errors", "/staff/api-tokens", send_with("Make token"), role="admin"),
    v("/staff/audit", "audit log", "/staff/audit", role="admin"),
    v("/staff/consent", "consent versions", "/staff/consent", role="admin"),
    v("/staff/consent/<int:number>", "consent version", lambda w: f"/staff/consent/{w.consent_version}", role="admin"),
    v("/staff/consent/new", "new consent version", "/staff/consent/new", role="admin"),
    v("/staff/consent/new", "new consent version with errors", "/staff/consent/new",
      send_with("Save as a new version"), role="admin"),
    v("/staff/erasures", "erasure requests", "/staff/erasures", role="admin"),
    v("/staff/erasures/<reference>", "can be erased", lambda w: f"/staff/erasures/{w.cancelled_reference}",
      role="admin"),
    v("/staff/erasures/<reference>", "erasure with errors", lambda w: f"/staff/erasures/{w.cancelled_reference}",
      send_with("Erase this applicant's data"), role="admin"),
    v("/staff/erasures/<reference>", "not before the stay ends",
      lambda w: f"/staff/erasures/{w.confirmed_reference}", role="admin"),
    v("/staff/erasures/<reference>", "erased", lambda w: f"/staff/erasures/{w.erased_reference}", role="admin"),
]

WALK = PUBLIC + STAFF


# --- Running it -----------------------------------------------------------------------------------------------

def page_routes(app) -> set[str]:
    """The app's GET routes that are pages a person opens."""
    return {rule.rule for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and not NOT_PAGES.search(rule.rule)}


def route_of(app, url: str) -> str | None:
    path = re.sub(r"^https?://[^/]+", "", url).split("?")[0].split("#")[0]
    try:
        rule, _ = app.url_map.bind("localhost").match(path, method="GET", return_rule=True)
    except HTTPException:
        return None
    return rule.rule


def sign_in(page: Page, base: str, user) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/staff/login")
    send(page, "Sign in", {"Email": user.email, "Password": STAFF_PASSWORD})
    assert "/staff/login" not in page.url, f"{user.email} could not sign in"


@pytest.fixture
def axe_page(new_context) -> Page:
    require_axe()
    context = new_context(bypass_csp=True, viewport={"width": WIDTHS[0], "height": HEIGHT}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


# The pages' markup does not depend on the database, and this walk is the suite's costliest test: it runs on
# SQLite only (the journeys, which do depend on it, run on both).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("who", ["applicant", "staff"])
def test_every_page_in_every_state_has_no_accessibility_violations(demo, staff_user, live_server, axe_page, who):
    """The applicants' pages and the staff's, as two tests that run side by side under pytest-xdist."""
    started = time.monotonic()
    world = build_world(staff_user)
    walk = [visit for visit in WALK if (visit.role is None) == (who == "applicant")]
    page = axe_page
    base = live_server.url
    failures, signed_in = [], None
    for visit in sorted(walk, key=lambda each: ROLES.index(each.role) if each.role else 0):
        if visit.role != signed_in:
            sign_in(page, base, world.users[visit.role])
            signed_in = visit.role
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
        address = visit.path(world)
        if route_of(demo, address) != visit.route:
            failures.append(f"{visit.route} [{visit.state}]: {address} is not this route")
        page.goto(base + address)
        if visit.setup:
            visit.setup(page, world)
        if visit.role and route_of(demo, page.url) == "/staff/login":
            failures.append(f"{visit.route} [{visit.state}]: signed out")
        if re.search(r"errors|refused", visit.state) and not page.locator(ERROR_SHOWN).count():
            failures.append(f"{visit.route} [{visit.state}]: no error is shown")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            found = violations(page)
            if found:
                failures.append(describe(found, f"{visit.route} [{visit.state}] at {width}px: "))
    seconds = time.monotonic() - started
    print(f"axe: {len(walk)} {who} page states at {len(WIDTHS)} widths in {seconds:.1f} s")
    assert not failures, "axe found violations:\n" + "\n".join(failures)


def test_every_page_is_checked(app):
    """A GET page that the walk does not open fails here: add it to WALK, with the states its users meet."""
    walked = {visit.route for visit in WALK}
    assert page_routes(app) - walked == set(), "pages the accessibility walk does not check"
    assert walked - page_routes(app) == set(), "walk entries for routes the app no longer has"
