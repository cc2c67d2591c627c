"""What an applicant asks for, checked: their name, email and phone, the pre-screen they book with, the dates,
lodging and way to pay. Each refusal names its field (ValidationFailed), all of them at once."""

import functools
import re
from dataclasses import dataclass

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import joinedload

from retreat.booking import policy
from retreat.catalog.models import Cohort
from retreat.core import clinic
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.extensions import db
from retreat.payments import providers
from retreat.pricing.rules import LODGING_KINDS
from retreat.screening import services as screening_services
from retreat.screening.models import Screening

APPLICANT_FIELDS = ("first_name", "last_name", "email", "phone")


class ScreeningNotEligible(DomainError):
    status = 403
    code = "screening_not_eligible"


@dataclass(frozen=True)
class Applicant:
    first_name: str
    last_name: str
    email: str
    phone: str


UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean_text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def check_applicant(values: object, prefix: str = "applicant.") -> Applicant:
    """The applicant's name, email and phone, checked; ValidationFailed names each bad field."""
    if not isinstance(values, dict):
        raise ValidationFailed({prefix.rstrip("."): ["Give the applicant's first_name, last_name, email and phone."]})
    errors: dict[str, list[str]] = {}
    clean = {name: _clean_text(values.get(name)) for name in APPLICANT_FIELDS}
    for name, words, limit in (("first_name", "first name", 100), ("last_name", "last name", 100)):
        if not clean[name]:
            errors[prefix + name] = [f"Enter your {words}."]
        elif len(clean[name]) > limit:
            errors[prefix + name] = [f"Enter at most {limit} characters."]
    if not clean["email"]:
        errors[prefix + "email"] = ["Enter your email address."]
    else:
        try:
            clean["email"] = validate_email(clean["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors[prefix + "email"] = ["Enter an email address like name@example.com."]
        if len(clean["email"]) > 254:
            errors[prefix + "email"] = ["Enter at most 254 characters."]
    if not clean["phone"]:
        errors[prefix + "phone"] = ["Enter a phone number we can call you on."]
    elif (problem := phone_problem(clean["phone"])) is not None:
        errors[prefix + "phone"] = [problem]
    for name in APPLICANT_FIELDS:
        if UNPRINTABLE.search(clean[name]):
            errors[prefix + name] = ["Remove the invisible control characters from this text."]
    if errors:
        raise ValidationFailed(errors)
    return Applicant(**clean)


def phone_problem(phone: str) -> str | None:
    """Why a phone number typed (spaces already collapsed) is refused, or None: 7 to 15 digits, written with
    digits, spaces, +, (), - and dots only. The booking form's rule, and every other phone number's."""
    digits = re.sub(r"\D", "", phone)
    if not re.fullmatch(r"[0-9+()\-.\s]{7,25}", phone) or not 7 <= len(digits) <= 15:
        return "Enter a phone number with its area code, for example 555 123 4567."
    return None


def _screening_for_booking(token: object, field: str = "screening_token") -> Screening:
    """The applicant's pre-screen, usable for booking: unexpired, unused, and not ineligible or crisis."""
    if not isinstance(token, str) or not token:
        raise ValidationFailed({field: ["Take the pre-screen first: booking needs its result."]})
    try:
        screening = screening_services.by_token(token, for_booking=True)
    except NotFound:
        raise ValidationFailed({field: ["There is no pre-screen with this token."]}) from None
    except DomainError as refusal:  # expired or already used
        raise ValidationFailed({field: [refusal.message]}) from None
    check_screening_allows_booking(screening)
    return screening


def check_screening_allows_booking(screening: Screening) -> None:
    if screening.outcome in ("ineligible", "crisis") or screening.review_status == "declined":
        raise ScreeningNotEligible(f"This pre-screen does not allow booking. Please {clinic.contact_words()} to "
                                   "talk about other options.")


def initial_status(screening: Screening) -> str:
    """held for an eligible or clinician-approved pre-screen; pending_review while a clinician decides."""
    if screening.outcome == "eligible" or screening.review_status == "approved":
        return "held"
    return "pending_review"


def ask_for_review(screening: Screening) -> None:
    """A seat requested with a `review` pre-screen puts it in the clinicians' queue (if it is not there)."""
    if screening.review_status is None:
        screening.review_status = "pending"
        screening.review_requested_at = now()


def _check_lodging(lodging: object, cohort: Cohort, errors: dict[str, list[str]]) -> None:
    offered = tuple(cohort.program.lodging_options) or ("none",)
    if lodging not in LODGING_KINDS or lodging not in offered:
        errors["lodging"] = [f"Choose one of: {', '.join(offered)}."]


@functools.cache
def _bookable_statement() -> sa.Select:
    """The cohort with its program, in one query, built once (see availability._seats_taken_statement)."""
    return sa.select(Cohort).options(joinedload(Cohort.program)).where(Cohort.id == sa.bindparam("cohort_id"))


def _bookable_cohort(cohort_id: object) -> Cohort:
    if not isinstance(cohort_id, int) or isinstance(cohort_id, bool) or not 0 < cohort_id < 2**31:
        raise ValidationFailed({"cohort_id": ["Choose one of the cohorts in the catalog."]})
    cohort = db.session.scalar(_bookable_statement(), {"cohort_id": cohort_id})
    if cohort is None or not cohort.program.published or cohort.start_date <= today():
        raise ValidationFailed({"cohort_id": ["Choose one of the upcoming cohorts in the catalog."]})
    if cohort.status != "open":
        raise DomainError("This cohort is not taking bookings.", code="cohort_closed", status=409)
    return cohort


def check_provider(name: object) -> str:
    if name is None:
        return providers.configured_provider_name()
    if name not in providers.available_provider_names():
        raise ValidationFailed({"payment_provider": [
            f"Choose one of: {', '.join(providers.available_provider_names())}."]})
    return name


def check_policy_accepted(accepted: object) -> str:
    """The applicant accepted the cancellation and refund policy (exactly `true`): the version they accepted."""
    if accepted is not True:
        raise ValidationFailed({"policy_accepted": [
            "Read and accept the cancellation and refund policy to book."]})
    return policy.POLICY_VERSION


def collect(errors: dict[str, list[str]], check, *args):
    """Run one check; its refusal's fields join `errors` (so every bad field is named at once) and None is
    returned in place of its result."""
    try:
        return check(*args)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
        return None


@dataclass(frozen=True)
class SeatRequest:
    cohort: Cohort
    screening: Screening
    lodging: str
    applicant: Applicant


def checked_seat_request(cohort_id: object, screening_token: object, lodging: object, applicant: object,
                         errors: dict[str, list[str]], *, default_lodging: bool = False) -> SeatRequest | None:
    """What a booking and a waitlist entry both ask for, checked; each bad field is added to `errors` (and None
    returned). With `default_lodging`, a missing lodging is the program's first option."""
    cohort = collect(errors, _bookable_cohort, cohort_id)
    if cohort is not None:
        if lodging is None and default_lodging:
            lodging = (tuple(cohort.program.lodging_options) or ("none",))[0]
        _check_lodging(lodging, cohort, errors)
    elif lodging not in LODGING_KINDS and not (lodging is None and default_lodging):
        errors["lodging"] = [f"Choose one of: {', '.join(LODGING_KINDS)}."]
    checked_applicant = collect(errors, check_applicant, applicant)
    screening = collect(errors, _screening_for_booking, screening_token)
    if errors:
        return None
    return SeatRequest(cohort, screening, lodging, checked_applicant)
