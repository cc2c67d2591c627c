"""The applicant's booking forms. They only carry what was typed: booking.services checks every value and names
each refused field, so the rules live in one place for the pages and the JSON API alike."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.fields import EmailField, TelField

from retreat.booking.fee_requests import REASON_MAX_LENGTH
from retreat.booking.plans import PLAN_LABELS
from retreat.booking.services import APPLICANT_FIELDS
from retreat.pricing import rules
from retreat.web.forms import options

PROVIDER_LABELS = {
    "stripe": "Card, paid securely through Stripe",
    "offline": "Bank transfer",
    "demo": "Test payment (demo mode: no money moves)",
}


def _first_name() -> StringField:
    return StringField("First name", render_kw={"autocomplete": "given-name", "spellcheck": "false"})


def _last_name() -> StringField:
    return StringField("Last name", render_kw={"autocomplete": "family-name", "spellcheck": "false"})


def _email() -> EmailField:
    return EmailField("Email address", description="Your booking link and receipts go here.",
                      render_kw={"autocomplete": "email", "spellcheck": "false"})


def _phone() -> TelField:
    return TelField("Phone number", description="With its area code. The clinic calls you before your intake.",
                    render_kw={"autocomplete": "tel"})


class ApplicantForm(FlaskForm):
    """A form with the applicant's fields, made after its own (WTForms orders fields as they are made, and the
    error summary follows that order, as the page does)."""

    def applicant(self) -> dict[str, str]:
        return {name: self[name].data or "" for name in APPLICANT_FIELDS}


class BookingForm(ApplicantForm):
    """Dates, lodging and the applicant's details; the payment method and the saved-card consent only when they
    are choices (the view removes them otherwise)."""

    cohort = RadioField("Your dates", validate_choice=False)
    lodging = RadioField("Where will you stay?", choices=options(rules.LODGING_LABELS.items()),
                         validate_choice=False)
    first_name = _first_name()
    last_name = _last_name()
    email = _email()
    phone = _phone()
    promo_code = StringField(
        "Discount code (optional)", description="If the clinic gave you one. The deposit is worked out on the "
                                                "price after the discount.",
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters", "maxlength": 40})
    payment_provider = RadioField("How will you pay?", validate_choice=False)
    payment_plan = RadioField("When will you pay?", choices=options(PLAN_LABELS.items()), default="deposit",
                              validate_choice=False)
    save_card = BooleanField(
        "Keep my card on file to pay the balance when it is due",
        description="Stripe keeps the card, not us. We charge only the balance of this booking, on its due date, "
                    "and email you a receipt. Without this, we email you a link to pay the balance yourself.")
    reduced_fee = BooleanField("I would like to ask for a reduced fee")
    reduced_fee_reason = TextAreaField(
        "Why you are asking, in a few words",
        description=f"At most {REASON_MAX_LENGTH} characters. Please do not include any health information: your "
                    "circumstances in general terms are enough (for example income, work or family).",
        render_kw={"rows": 3, "maxlength": REASON_MAX_LENGTH})
    policy_accepted = BooleanField("I have read the cancellation and refund policy above, and I accept it",
                                   render_kw={"required": True})


class WaitlistForm(ApplicantForm):
    cohort = HiddenField()
    lodging = RadioField("Where would you stay?", choices=options(rules.LODGING_LABELS.items()),
                         validate_choice=False)
    first_name = _first_name()
    last_name = _last_name()
    email = _email()
    phone = _phone()
    submit = SubmitField("Join the waitlist")


class PolicyForm(FlaskForm):
    """Accepting the cancellation and refund policy before paying, for a booking made without it (a waitlist
    offer)."""

    policy_accepted = BooleanField("I have read the cancellation and refund policy above, and I accept it",
                                   render_kw={"required": True})
    submit = SubmitField("Accept and continue to payment")


class PaymentForm(FlaskForm):
    """The demo test payment. The reference is made when the page is shown, so that a second press of the button
    (or a resent form) records nothing twice; kind and amount tell a stale page from the payment due now."""

    reference = HiddenField()
    kind = HiddenField()
    amount_cents = HiddenField()


class CancelForm(FlaskForm):
    """Confirms a cancellation: the page before it shows the refund; the form carries only its CSRF token."""


class BirthDateForm(FlaskForm):
    """The patient's date of birth, asked when a superbill is first requested (booking.superbills checks it)."""

    birth_date = StringField(
        "Your date of birth", description="Printed on the superbill for your insurer, as they ask for it. "
        "Stored encrypted.", render_kw={"type": "date", "autocomplete": "bday", "min": "1900-01-01"})
