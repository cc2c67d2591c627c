"""Demo data for development: programs covering every route, modality and length, dated cohorts over the
next six months (some nearly full, one full), the default price list, and one staff user per role."""

from datetime import UTC, date, datetime, time, timedelta
from math import ceil

import sqlalchemy as sa

from retreat.arrival import consent
from retreat.booking import services as booking_services
from retreat.booking import staffing
from retreat.booking.models import Booking, new_booking_reference
from retreat.booking.rooms_models import Room, RoomPlacement
from retreat.booking.staffing_models import CohortStaff
from retreat.booking.states import transition
from retreat.catalog.models import Cohort, Program
from retreat.catalog.services import forget_cached_catalog
from retreat.core.clock import today
from retreat.core.transactions import after_commit, unit_of_work
from retreat.extensions import db
from retreat.payments import ledger
from retreat.pricing import estimator
from retreat.pricing import services as pricing
from retreat.staff import services as staff
from retreat.staff.models import StaffUser

DEMO_PROGRAMS = [
    {
        "slug": "sublingual-art-one-week", "name": "Gentle Start: Sublingual Ketamine with ART",
        "summary": "A quiet first week: four in-clinic sublingual sessions, each followed by Accelerated "
                   "Resolution Therapy to help you make sense of what comes up.",
        "duration_days": 7, "ketamine_route": "sublingual", "dosing_sessions": 4, "therapy_modality": "art",
        "integration_sessions": 4, "intensive_sessions": 1, "lodging_options": ["none", "shared", "private"],
        "cohorts": [(12, 10, 3), (40, 10, 0), (96, 10, 0)],
    },
    {
        "slug": "iv-emdr-one-week", "name": "IV Ketamine with EMDR, One Week",
        "summary": "Four monitored IV infusions across the week, paired with EMDR integration sessions and a "
                   "half-day intensive.",
        "duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
        "integration_sessions": 4, "intensive_sessions": 1, "lodging_options": ["none", "shared", "private"],
        "cohorts": [(19, 8, 8), (54, 8, 6), (110, 8, 0)],
    },
    {
        "slug": "iv-ifs-two-weeks", "name": "IV Ketamine with IFS, Two Weeks",
        "summary": "Our most thorough program: six IV infusions, six Internal Family Systems sessions and two "
                   "half-day intensives over two unhurried weeks.",
        "duration_days": 14, "ketamine_route": "iv", "dosing_sessions": 6, "therapy_modality": "ifs",
        "integration_sessions": 6, "intensive_sessions": 2, "lodging_options": ["shared", "private"],
        "cohorts": [(26, 6, 5), (82, 6, 1), (152, 6, 0)],
    },
    {
        "slug": "esketamine-ifs-one-week", "name": "Esketamine (Spravato) with IFS, One Week",
        "summary": "Two observed Spravato nasal spray sessions with Internal Family Systems integration; "
                   "sometimes covered by insurance.",
        "duration_days": 7, "ketamine_route": "esketamine", "dosing_sessions": 2, "therapy_modality": "ifs",
        "integration_sessions": 3, "intensive_sessions": 1, "lodging_options": ["none", "shared"],
        "cohorts": [(33, 12, 2), (124, 12, 0)],
    },
    {
        "slug": "im-emdr-ten-days", "name": "IM Ketamine with EMDR, Ten Days",
        "summary": "Five intramuscular ketamine sessions with EMDR, a little more time between sessions, and "
                   "two half-day intensives.",
        "duration_days": 10, "ketamine_route": "im", "dosing_sessions": 5, "therapy_modality": "emdr",
        "integration_sessions": 6, "intensive_sessions": 2, "lodging_options": ["none", "shared", "private"],
        "cohorts": [(47, 8, 7), (103, 8, 2), (166, 8, 0), (75, 8, 0)],
    },
    {
        "slug": "esketamine-art-two-weeks", "name": "Esketamine (Spravato) with ART, Two Weeks",
        "summary": "Four Spravato sessions dosed twice a week, with Accelerated Resolution Therapy and two "
                   "intensives to consolidate the work.",
        "duration_days": 14, "ketamine_route": "esketamine", "dosing_sessions": 4, "therapy_modality": "art",
        "integration_sessions": 6, "intensive_sessions": 2, "lodging_options": ["none", "private"],
        "cohorts": [(61, 6, 0), (138, 6, 0)],
    },
    {
        "slug": "sublingual-ifs-two-weeks", "name": "Sublingual Ketamine with IFS, Two Weeks",
        "summary": "Six sublingual sessions at a gentle pace with daily Internal Family Systems integration.",
        "duration_days": 14, "ketamine_route": "sublingual", "dosing_sessions": 6, "therapy_modality": "ifs",
        "integration_sessions": 8, "intensive_sessions": 1, "lodging_options": ["none", "shared", "private"],
        "cohorts": [(68, 10, 4), (145, 10, 0)],
    },
]

DESCRIPTION = (
    "Each day has a rhythm: a calm morning, a monitored ketamine session with a clinician beside you, rest, "
    "and an integration session with your therapist. Before the retreat a psychiatrist reviews your history "
    "at an intake assessment; on the first day we check your blood pressure and go over your plan together. "
    "You can stop at any time."
)
LOCATION = "Cedar House, 14 Orchard Lane, Asheville, NC"


def _next_monday(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7 or 7)


DEMO_STAFF = [
    ("admin@clinic.example", "Alex Admin", ["admin"]),
    ("coordinator@clinic.example", "Casey Coordinator", ["coordinator"]),
    ("clinician@clinic.example", "Dr. Robin Clinician", ["clinician"]),
    ("finance@clinic.example", "Frankie Finance", ["finance"]),
]


# The demo clinic's informed consent (arrival.consent), version 1: sections as "## Title" lines. A real clinic
# publishes its own, reviewed by its clinicians and counsel (`flask consent init --file`, or /staff/consent).
DEMO_CONSENT = """\
## What ketamine-assisted psychotherapy is

Ketamine is an anaesthetic that, at lower doses, can ease depression, trauma and anxiety for some people. In this
program it is given by a licensed clinician in the clinic, with your therapist present, and combined with
psychotherapy sessions before and after each dose to help you make sense of the experience.

Ketamine is approved by the FDA as an anaesthetic; its use for depression, trauma or anxiety (other than
esketamine nasal spray for treatment-resistant depression) is "off-label". Results vary, and no outcome is
guaranteed.

## Risks and side effects

During and shortly after a dose, and sometimes for a few hours, you may have:
- dissociation: feeling detached from your body or surroundings, changes in how you see, hear or sense time;
- a rise in blood pressure and heart rate, checked by the clinician before, during and after each dose;
- nausea or vomiting (we can give medicine to prevent it);
- dizziness, blurred vision, drowsiness, poor coordination or confusion;
- anxiety, distressing memories or feelings, which your therapist helps you through.

Rare risks include a marked rise in blood pressure, slowed breathing, an allergic reaction, bladder irritation
with frequent use, and misuse or dependence. Tell us about every medication, supplement and substance you take:
some interact with ketamine.

## On a dosing day: no driving

You must not drive, ride a bicycle, operate machinery or make important decisions for the rest of any day on
which you receive ketamine, until after a full night's sleep. A named adult must take you home, or you stay at the
venue, after each session. Do not drink alcohol or use other sedating substances on a dosing day. Do not eat for
4 hours or drink for 2 hours before a dose.

## Confidentiality and its limits

What you share with your clinicians and therapists is confidential and kept in your medical record, protected by
law (HIPAA). We share it only with your written permission, except where the law requires or allows us to:
- if we believe you are at serious risk of harming yourself or someone else;
- if we learn of the abuse or neglect of a child, an elder or a dependent adult;
- if a court orders us to release records;
- in a medical emergency, with the people treating you.

In group sessions we ask every participant to keep what others share confidential, but we cannot guarantee that
they will.

## Voluntary participation and withdrawal

Taking part is your choice. You may ask questions at any time, decline any dose or activity, and withdraw your
consent at any time, before or during the program, by telling your clinician or the clinic. Withdrawing never
affects your right to other care. Refunds follow the cancellation policy you accepted when booking.

A clinician may pause or stop your treatment if they judge it unsafe for you, for example because of your blood
pressure, a new medication or your mental state on the day.

## Emergencies

Clinical staff trained in basic and advanced life support are present during every dosing session, with
monitoring and emergency equipment. In a medical emergency we call 911 and may transfer you to the nearest
hospital; you are responsible for the costs of emergency care.

If you are in crisis at any time, before or after the program: call or text 988 (Suicide & Crisis Lifeline, US),
or call 911 or go to the nearest emergency room in immediate danger.

## Your agreement

By signing, you confirm that you have read each part of this consent, that you have had the chance to ask
questions and had them answered, that the information you gave us about your health and medications is true and
complete, and that you agree to take part in ketamine-assisted psychotherapy as described.
"""


def seed_demo_staff() -> list[tuple[str, list[str], str]]:
    """One staff user per role, each with a one-time password: (email, roles, password) for the ones made."""
    made = []
    for email, name, roles in DEMO_STAFF:
        if staff.find_by_email(email) is None:
            user, one_time = staff.create_user(email, name, roles)
            made.append((user.email, user.roles, one_time))
    return made


# The venue's rooms: (name, beds). Enough for the demo's busiest overlapping weeks with some guests placed.
DEMO_ROOMS = [("Cedar", 2), ("Birch", 2), ("Willow", 1), ("Laurel", 1), ("Hemlock", 3), ("Magnolia", 2),
              ("Dogwood", 1), ("Sassafras", 2), ("Sourwood", 1), ("Chestnut", 2), ("Hickory", 1), ("Poplar", 2)]
# Therapists who work the demo cohorts (clinician accounts without a password: an admin resets one to sign in).
DEMO_THERAPISTS = ["Dana Reyes", "Lee Ortiz", "Sam Whitfield", "Jordan Pike", "Noor Haddad", "Ari Castellanos"]


def seed_demo_data() -> bool:
    """Load the demo catalog unless programs exist already, in one unit of work. True when it loaded it."""
    pricing.ensure_default_price_list()
    consent.ensure_consent(DEMO_CONSENT, "The demo clinic's consent for ketamine-assisted psychotherapy.")
    with unit_of_work():
        if db.session.scalar(sa.select(sa.func.count()).select_from(Program)):
            return False
        _seed_catalog()
        after_commit(forget_cached_catalog)
    return True


def _seed_catalog() -> None:
    prices = pricing.current_price_sheet()
    first_monday = _next_monday(today())
    applicant_number = 0
    bookings = []
    for spec in DEMO_PROGRAMS:
        spec = dict(spec)
        cohort_specs = spec.pop("cohorts")
        program = Program(description=DESCRIPTION, location=LOCATION, published=True, **spec)
        db.session.add(program)
        for days_ahead, capacity, seats_taken in cohort_specs:
            start = _next_monday(first_monday + timedelta(days=days_ahead - 7))
            cohort = Cohort(program=program, start_date=start,
                            end_date=start + timedelta(days=program.duration_days - 1), capacity=capacity)
            db.session.add(cohort)
            for _ in range(seats_taken):
                applicant_number += 1
                booking = _demo_booking(cohort, program, prices, applicant_number)
                db.session.add(booking)
                bookings.append(booking)
    db.session.flush()
    for number, booking in enumerate(bookings):
        _record_demo_payments(booking, number)
    _staff_demo_cohorts()
    _place_first_guests()


def _demo_therapists(count: int) -> list[StaffUser]:
    people = []
    for n in range(count):
        name = DEMO_THERAPISTS[n] if n < len(DEMO_THERAPISTS) else f"Demo Therapist {n + 1}"
        email = name.lower().replace(" ", ".") + "@clinic.example"
        user = staff.find_by_email(email)
        if user is None:
            user = StaffUser(email=email, name=name, roles=["clinician"], password_hash="!",
                             must_change_password=True)
            db.session.add(user)
        people.append(user)
    db.session.flush()
    return people


def _staff_demo_cohorts() -> None:
    """Each demo cohort gets the therapists its seats need at the configured ratio, so the cap holds from the
    start (staffing of overlapping cohorts is not checked: a demo, not a rota)."""
    cohorts = db.session.scalars(sa.select(Cohort).order_by(Cohort.start_date, Cohort.id)).all()
    ratio = staffing.seats_per_therapist()
    people = _demo_therapists(max(ceil(cohort.capacity / ratio) for cohort in cohorts))
    for number, cohort in enumerate(cohorts):
        needed = ceil(cohort.capacity / ratio)
        for k in range(needed):
            person = people[(number + k) % len(people)]
            db.session.add(CohortStaff(cohort_id=cohort.id, staff_user_id=person.id, role="therapist"))


def _place_first_guests() -> None:
    """The venue's rooms, and the guests of the first cohort with lodging placed (one each, private or not), so the
    roster and the placement page show rooms; the other cohorts are left for the coordinator to place."""
    if not db.session.scalar(sa.select(sa.func.count()).select_from(Room)):
        for name, beds in DEMO_ROOMS:
            db.session.add(Room(name=name, beds=beds, active=True))
        db.session.flush()
    first = db.session.scalars(sa.select(Cohort).order_by(Cohort.start_date, Cohort.id)).first()
    rooms = db.session.scalars(sa.select(Room).order_by(Room.id)).all()
    guests = db.session.scalars(sa.select(Booking).where(Booking.cohort_id == first.id,
                                                         Booking.lodging != "none").order_by(Booking.id)).all()
    for booking, room in zip(guests, rooms, strict=False):
        db.session.add(RoomPlacement(booking_id=booking.id, room_id=room.id))


def _record_demo_payments(booking: Booking, number: int) -> None:
    """Demo money through the real ledger: every demo booking paid its deposit over the past weeks; those
    starting within the balance window paid the balance too. Labelled demo; no money moved."""
    booking.manage_token_hash = booking_services.manage_token_hash(booking_services.manage_token(booking))
    paid_at = datetime.combine(today() - timedelta(days=3 + (number * 5) % 60), time(10, 30), tzinfo=UTC)
    ledger.record_payment(booking, kind="deposit", amount_cents=booking.deposit_cents, provider="demo",
                          provider_reference=f"demo_seed_{booking.reference}_deposit", actor="demo seed",
                          received_at=paid_at)
    if booking.balance_due_date <= today():
        transition(booking, "paid_in_full", reason="demo data", actor="demo seed")
        ledger.record_payment(booking, kind="balance", amount_cents=booking.balance_cents, provider="demo",
                              provider_reference=f"demo_seed_{booking.reference}_balance", actor="demo seed",
                              received_at=paid_at + timedelta(days=1))


def _demo_booking(cohort: Cohort, program: Program, prices: estimator.PriceSheet, number: int) -> Booking:
    lodging = program.lodging_options[-1]
    estimate = estimator.estimate(estimator.Configuration(
        program.duration_days, program.ketamine_route, program.dosing_sessions, program.therapy_modality,
        program.integration_sessions, program.intensive_sessions, lodging), prices)
    return Booking(
        reference=new_booking_reference(), cohort=cohort, status="confirmed", lodging=lodging,
        applicant_first_name="Demo", applicant_last_name=f"Applicant {number}",
        applicant_email=f"demo.applicant{number}@example.org", applicant_phone="+1 555 0100",
        price_list_version=prices.version, total_cents=estimate.total_cents,
        deposit_cents=estimate.deposit_cents, balance_cents=estimate.balance_cents,
        balance_due_date=estimate.balance_due_date(cohort.start_date),
    )
