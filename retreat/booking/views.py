"""The applicant's booking pages: book from a pre-screen, pay, cancel, and the private manage page.

    GET  /bookings/new/<screening token>              the dates to choose from, by program (the one chosen on its
                                                      page first and open); with ?cohort= the booking form
    POST /bookings/new/<screening token>              hold a seat, then the payment page (or the manage page)
    POST /bookings/new/<screening token>/waitlist     join a full cohort's waitlist, then its position
    GET  /bookings/confirm/<reference>/<secret>       the emailed link that confirms the applicant's address
    GET  /bookings/manage/<token>                     status, price, payments and what can be done next
    GET  /bookings/manage/<token>/calendar.ics        the retreat's dates as a calendar file
    GET  /bookings/manage/<token>/receipt.pdf         the receipt and itemised statement (PDF)
    GET  /bookings/manage/<token>/superbill.pdf       the superbill (PDF), once ready; asks the date of birth first
    GET  /bookings/manage/<token>/superbill           the date of birth the superbill needs
    POST /bookings/manage/<token>/superbill           give it, then the superbill
    GET  /bookings/manage/<token>/pay                 the payment due now, by the booking's provider
    POST /bookings/manage/<token>/pay                 the demo provider's test payment
    GET  /bookings/manage/<token>/paid                where Stripe sends the applicant back after paying
    POST /bookings/manage/<token>/policy              accept the cancellation policy first (a waitlist offer)
    GET  /bookings/manage/<token>/cancel              the refund the policy gives, before confirming
    POST /bookings/manage/<token>/cancel              cancel and refund

Every URL here holds a secret (the pre-screen's token or the booking's manage token), so no page is cached and
no referrer leaves any of them. The pages parse, call one booking service and render; the rules (what may be
booked, paid or refunded) are the services'.
"""

import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from retreat.booking import documents, fee_requests, offers, plans, services, superbills
from retreat.booking import hold_rules as holds
from retreat.booking.calendar import booking_calendar
from retreat.booking.forms import (
    PROVIDER_LABELS,
    BirthDateForm,
    BookingForm,
    CancelForm,
    PaymentForm,
    PolicyForm,
    WaitlistForm,
)
from retreat.booking.models import HOLDING_STATUSES, Booking
from retreat.booking.policy import HOLD_FOR_BANK_TRANSFER
from retreat.booking.states import CANCELLABLE_STATUSES
from retreat.catalog import chosen as program_choice
from retreat.catalog import services as catalog
from retreat.catalog.services import CohortView
from retreat.core import clinic as the_clinic
from retreat.core.clock import now
from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.money import format_usd
from retreat.notify.services import clinic_name
from retreat.payments import ledger, providers, refunds
from retreat.pricing.rules import LODGING_LABELS
from retreat.screening import services as screening_services
from retreat.screening.models import Screening
from retreat.web.actions import perform
from retreat.web.filters import date_range
from retreat.web.forms import attach_errors, options
from retreat.web.limits import document_limit, public_write_limit
from retreat.web.security import allow_sources

booking_bp = Blueprint("booking", __name__, url_prefix="/bookings")

# The service names a refused value by its API name; the form's field of the same value.
FORM_FIELD_OF = {"cohort_id": "cohort", "applicant": "first_name", "applicant.first_name": "first_name",
                 "applicant.last_name": "last_name", "applicant.email": "email", "applicant.phone": "phone"}
STATUS_NAMES = {
    "held": "held", "pending_review": "awaiting a clinician's review", "confirmed": "confirmed",
    "paid_in_full": "paid in full", "cancelled": "cancelled already", "declined": "declined after review",
    "expired": "expired: its hold lapsed",
}
DEMO_REFERENCE = re.compile(r"demo_[0-9a-f]{16}")


@booking_bp.after_request
def _private(response):
    """No booking page is kept by a cache or names its secret URL to another page."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _chosen(available: list[offers.ProgramOffer], cohort_id: object):
    return offers.find_cohort(available, _as_id(cohort_id))


def _as_id(value: object) -> object:
    """A posted id as the int the services take; anything else is passed on for them to refuse by name."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
        return int(value)
    return value


# --- The pre-screen a booking starts from ----------------------------------------------------------------------

def _screening_gate(token: str) -> tuple[Screening | None, object]:
    """The pre-screen behind a booking link, or the page to show instead of booking: a used or expired
    pre-screen, one that does not allow booking (no booking or payment path at all), or a review that nobody has
    been asked to do yet (a seat held for it would lapse unseen)."""
    try:
        screening = screening_services.by_token(token, for_booking=True)
    except DomainError as refusal:
        if refusal.code not in ("screening_expired", "screening_used"):
            raise
        return None, (render_template("booking/screening_unusable.html", code=refusal.code), 410)
    try:
        services.check_screening_allows_booking(screening)
    except services.ScreeningNotEligible:
        return None, (render_template("booking/not_eligible.html", crisis=screening.outcome == "crisis"), 403)
    if screening.outcome == "review" and screening.review_status is None:
        return None, render_template("booking/review_first.html", token=token)
    return screening, None


def _awaits_review(screening: Screening) -> bool:
    return screening.outcome != "eligible" and screening.review_status != "approved"


# --- Choosing dates and booking --------------------------------------------------------------------------------
# The forms carry what was typed and their CSRF token (checked app-wide by CSRFProtect before any view runs);
# every value is checked by the services, which name each refused field.

def _refused(form, refusal: ValidationFailed) -> None:
    attach_errors(form, ValidationFailed({FORM_FIELD_OF.get(name, name): reasons
                                          for name, reasons in refusal.fields.items()}))

def _booking_form(offer: offers.ProgramOffer, cohort: CohortView | None, formdata=None) -> BookingForm:
    form = BookingForm(formdata=formdata) if formdata is not None else BookingForm(
        formdata=None, cohort=str(cohort.id) if cohort else None,
        lodging=offer.default_lodging,
        payment_provider=providers.available_provider_names()[0])
    form.cohort.choices = options((str(c.id), date_range(c.start_date, c.end_date)) for c in offer.open_cohorts)
    form.lodging.choices = _lodging_choices(offer)
    names = providers.available_provider_names()
    if len(names) > 1:
        form.payment_provider.choices = options((name, PROVIDER_LABELS[name]) for name in names)
    else:
        del form.payment_provider
    if "stripe" not in names:
        del form.save_card
    if not set(names) & set(plans.SAVED_CARD_PROVIDERS):
        form.payment_plan.choices = [c for c in form.payment_plan.choices if c.value != "installments"]
    return form


def _render_booking_form(token: str, screening: Screening, offer: offers.ProgramOffer, form: BookingForm,
                         status: int = 200, *, full_cohort: CohortView | None = None,
                         waitlist: WaitlistForm | None = None):
    return render_template(
        "booking/book.html", token=token, offer=offer, form=form, awaits_review=_awaits_review(screening),
        full_cohort=full_cohort, waitlist=waitlist, review_hold_hours=current_app.config["REVIEW_HOLD_HOURS"],
        hold_minutes=current_app.config["BOOKING_HOLD_MINUTES"], bank_hold_days=HOLD_FOR_BANK_TRANSFER.days,
        plan_details=plans.PLAN_DETAILS,
    ), status


def _render_waitlist_form(token: str, offer: offers.ProgramOffer, cohort: CohortView, form: WaitlistForm,
                          status: int = 200):
    return render_template("booking/waitlist.html", token=token, offer=offer, cohort=cohort, form=form), status


def _waitlist_form(offer: offers.ProgramOffer, cohort: CohortView, formdata=None, **data) -> WaitlistForm:
    form = WaitlistForm(formdata=formdata, **data) if formdata is not None else WaitlistForm(
        formdata=None, cohort=str(cohort.id), **data)
    form.lodging.choices = _lodging_choices(offer)
    if offer.price(form.lodging.data or "") is None:
        form.lodging.data = offer.default_lodging
    return form


def _lodging_choices(offer: offers.ProgramOffer):
    return options((p.configuration.lodging, LODGING_LABELS[p.configuration.lodging]) for p in offer.prices)


@booking_bp.get("/new/<token>")
def new(token: str):
    screening, refusal = _screening_gate(token)
    if refusal is not None:
        return refusal
    available = offers.offers()
    chosen = _chosen(available, request.args.get("cohort"))
    if chosen is not None:
        offer, cohort = chosen
        if cohort.status == "full":
            return _render_waitlist_form(token, offer, cohort, _waitlist_form(offer, cohort))
        return _render_booking_form(token, screening, offer, _booking_form(offer, cohort))
    slug = program_choice.chosen_slug()
    return render_template("booking/choose.html", token=token, offers=offers.chosen_first(available, slug),
                           chosen_slug=slug, chosen_program=catalog.find_published_program(slug),
                           awaits_review=_awaits_review(screening),
                           not_bookable="cohort" in request.args)


@booking_bp.post("/new/<token>")
@public_write_limit
def create(token: str):
    screening, refusal = _screening_gate(token)
    if refusal is not None:
        return refusal
    available = offers.offers()
    chosen = _chosen(available, request.form.get("cohort")) or _chosen(available, request.args.get("cohort"))
    if chosen is None:
        flash("Those dates are no longer open for booking. Please choose again.", "error")
        return redirect(url_for("booking.new", token=token), code=303)
    offer, cohort = chosen
    form = _booking_form(offer, cohort, formdata=request.form)
    try:
        created = services.create_booking(
            cohort_id=_as_id(form.cohort.data), screening_token=token, lodging=form.lodging.data,
            applicant=form.applicant(),
            payment_provider=form.payment_provider.data if "payment_provider" in form else None,
            save_card=bool(form.save_card.data) if "save_card" in form else False,
            payment_plan=form.payment_plan.data or "deposit",
            policy_accepted=form.policy_accepted.data is True, client_address=request.remote_addr,
            promo_code=form.promo_code.data or None, fee_request_reason=_fee_request_reason(form))
    except ValidationFailed as refused:
        _refused(form, refused)
        return _render_booking_form(token, screening, offer, form, 422)
    except holds.TooManyHolds as refusal:
        form.form_errors.append(refusal.message)
        return _render_booking_form(token, screening, offer, form, 429)
    except services.CohortFull:
        offer = offer.with_full(cohort.id)
        waitlist = _waitlist_form(offer, cohort, lodging=form.lodging.data, **form.applicant())
        return _render_booking_form(token, screening, offer, form, 409, full_cohort=cohort, waitlist=waitlist)
    except DomainError as closed:
        if closed.code not in ("cohort_closed", "custom_quote_required", "fee_request_refused"):
            raise
        form.form_errors.append(closed.message)
        return _render_booking_form(token, screening, offer, form, 409)
    booking = created.booking
    if booking.status == "held" and not created.fee_requested:
        return redirect(url_for("booking.pay", token=created.manage_token), code=303)
    return redirect(url_for("booking.manage", token=created.manage_token), code=303)


def _fee_request_reason(form: BookingForm) -> str | None:
    """The reason typed when the applicant asks for a reduced fee (an empty one is refused by name); None when they
    do not ask. A reason typed without the box ticked is refused too, rather than dropped."""
    if form.reduced_fee.data:
        return form.reduced_fee_reason.data or ""
    if (form.reduced_fee_reason.data or "").strip():
        raise ValidationFailed({"reduced_fee": ["Tick this box to ask for a reduced fee, or clear the reason."]})
    return None


@booking_bp.post("/new/<token>/waitlist")
@public_write_limit
def join_waitlist(token: str):
    screening, refusal = _screening_gate(token)
    if refusal is not None:
        return refusal
    chosen = _chosen(offers.offers(), request.form.get("cohort"))
    if chosen is None:
        flash("Those dates are no longer open. Please choose again.", "error")
        return redirect(url_for("booking.new", token=token), code=303)
    offer, cohort = chosen
    form = _waitlist_form(offer, cohort, formdata=request.form)
    try:
        waiting = services.join_waitlist(cohort_id=cohort.id, screening_token=token, applicant=form.applicant(),
                                         lodging=form.lodging.data)
    except ValidationFailed as refused:
        _refused(form, refused)
        return _render_waitlist_form(token, offer, cohort, form, 422)
    except DomainError as refusal:
        if refusal.code != "seats_available":
            raise
        flash("A seat has just come free for these dates: you can book it now.")
        return redirect(url_for("booking.new", token=token, cohort=cohort.id), code=303)
    return render_template("booking/waitlist_joined.html", token=token, offer=offer, cohort=cohort,
                           position=waiting.position, email=waiting.entry.applicant_email)


# --- The manage page -------------------------------------------------------------------------------------------

def _minutes_left(booking: Booking) -> int | None:
    """Whole minutes until a live hold lapses (rounded up), to say "in about 25 minutes" beside the time."""
    if booking.status not in HOLDING_STATUSES or booking.hold_expires_at is None:
        return None
    return max(0, -(-int((booking.hold_expires_at - now()).total_seconds()) // 60))


def _hold_lapsed(booking: Booking) -> bool:
    return booking.status in HOLDING_STATUSES and booking.hold_expires_at is not None and \
        booking.hold_expires_at <= now()


@booking_bp.get("/manage/<token>")
def manage(token: str):
    booking = services.booking_by_manage_token(token)
    payments = ledger.payments_of(booking.id)
    return render_template(
        "booking/manage.html", token=token, booking=booking, cohort=booking.cohort, program=booking.cohort.program,
        payments=payments, paid_cents=ledger.paid_cents(booking.id),
        refunded_cents=-sum(p.amount_cents for p in payments if p.kind == "refund"),
        refunds_to_send=refunds.pending_of(booking.id), owed_cents=services.outstanding_cents(booking),
        next_payment=services.next_payment(booking), hold_lapsed=_hold_lapsed(booking),
        schedule=plans.schedule_lines(booking, ledger.received_cents(booking.id)),
        minutes_left=_minutes_left(booking),
        can_cancel=booking.status in CANCELLABLE_STATUSES and not _hold_lapsed(booking),
        has_calendar=booking.status in services.ACTIVE_STATUSES and not _hold_lapsed(booking),
        confirm_email=holds.needs_email_confirmation(booking) and not _hold_lapsed(booking),
        fee_request=fee_requests.request_of(booking),
        awaited=[] if _hold_lapsed(booking) else fee_requests.awaited(booking),
        superbill=_superbill_state(booking),
    )


def _superbill_state(booking: Booking) -> str | None:
    """What the manage page says of the superbill: None (not for this booking), "later" (before the program
    starts), "waiting" (the diagnosis is not recorded yet), "ask" (ready once the date of birth is given) or
    "ready"."""
    if booking.status not in services.PAID_STATUSES:
        return None
    try:
        superbills.check_superbill_ready(booking)
    except superbills.SuperbillNotReady as refusal:
        if refusal.needs_birth_date:
            return "ask"
        return "later" if not superbills.program_started(booking) else "waiting"
    return "ready"


def pdf_response(data: bytes, filename: str):
    response = make_response(data)
    response.headers["Content-Type"] = documents.PDF_CONTENT_TYPE
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@booking_bp.get("/manage/<token>/receipt.pdf")
@document_limit
def receipt(token: str):
    booking = services.booking_by_manage_token(token)
    return pdf_response(documents.receipt_pdf(booking), documents.receipt_filename(booking))


@booking_bp.get("/manage/<token>/superbill.pdf")
@document_limit
def superbill(token: str):
    booking = services.booking_by_manage_token(token)
    try:
        data = documents.superbill_pdf(booking)
    except superbills.SuperbillNotReady as refusal:
        if refusal.needs_birth_date:
            return redirect(url_for("booking.superbill_birth_date", token=token), code=303)
        flash(refusal.message, "error")
        return redirect(url_for("booking.manage", token=token), code=303)
    return pdf_response(data, documents.superbill_filename(booking))


def _birth_date_page(token: str, booking: Booking, form: BirthDateForm, status: int = 200):
    return render_template("booking/superbill.html", token=token, booking=booking, cohort=booking.cohort,
                           program=booking.cohort.program, form=form,
                           given=superbills.birth_date(booking) is not None), status


def _no_superbill(token: str, booking: Booking):
    """A booking that is not confirmed has no superbill to ask a date of birth for."""
    if booking.status in services.PAID_STATUSES:
        return None
    flash("A superbill is given for a confirmed booking.", "error")
    return redirect(url_for("booking.manage", token=token), code=303)


@booking_bp.get("/manage/<token>/superbill")
def superbill_birth_date(token: str):
    booking = services.booking_by_manage_token(token)
    return _no_superbill(token, booking) or _birth_date_page(token, booking, BirthDateForm(formdata=None))


@booking_bp.post("/manage/<token>/superbill")
@public_write_limit
def give_birth_date(token: str):
    booking = services.booking_by_manage_token(token)
    if (refusal := _no_superbill(token, booking)) is not None:
        return refusal
    form = BirthDateForm()
    try:
        superbills.give_birth_date(booking, form.birth_date.data)
    except ValidationFailed as refused:
        attach_errors(form, refused)
        return _birth_date_page(token, booking, form, 422)
    if _superbill_state(booking) == "ready":
        flash("Thank you: your date of birth is saved, and your superbill is ready to download below.")
    else:
        flash("Thank you: your date of birth is saved. Your superbill will be ready here once your clinician has "
              "recorded the diagnosis.")
    return redirect(url_for("booking.manage", token=token) + "#documents-heading", code=303)


@booking_bp.get("/confirm/<reference>/<token>")
@public_write_limit
def confirm_email(reference: str, token: str):
    """The link in the "seat held" email: the applicant's address is real, so a long hold is kept (a GET, as mail
    readers open links; opening it twice changes nothing)."""
    booking = services.confirm_email(reference, token)
    if booking.status in HOLDING_STATUSES and not _hold_lapsed(booking):
        flash("Thank you: your email address is confirmed, and your seat is held until "
              f"{the_clinic.clinic_time(booking.hold_expires_at)}.")
    else:
        flash("Thank you: your email address is confirmed.")
    return redirect(url_for("booking.manage", token=services.manage_token(booking)), code=303)


@booking_bp.get("/manage/<token>/calendar.ics")
def calendar(token: str):
    booking = services.booking_by_manage_token(token)
    clinic = clinic_name()
    domain = urlsplit(current_app.config.get("PUBLIC_BASE_URL") or request.host_url).hostname or request.host
    body = booking_calendar(booking, clinic_name=clinic, uid_domain=domain, stamp=now())
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="retreat-{booking.reference}.ics"'
    return response


# --- Paying ----------------------------------------------------------------------------------------------------

def _nothing_due(token: str, booking: Booking):
    if _hold_lapsed(booking) or booking.status == "expired":
        flash(f"The hold on this seat has lapsed, so it cannot be paid now. Please {the_clinic.contact_words()}.",
              "error")
    elif fee_requests.awaited(booking):
        flash(f"Nothing can be paid yet: we are waiting for {' and '.join(fee_requests.awaited(booking))}. We will "
              f"email you as soon as you can pay. If you have a question, {the_clinic.contact_words()}.")
    else:
        flash("There is nothing to pay now.")
    return redirect(url_for("booking.manage", token=token), code=303)


@booking_bp.get("/manage/<token>/pay")
def pay(token: str):
    """The payment due now, by the booking's provider: the page shows the provider's part (its fields), and loads
    from elsewhere only what the provider names (Stripe.js, on this page alone)."""
    booking = services.booking_by_manage_token(token)
    if services.policy_first(booking):
        return _accept_policy_page(token, booking, PolicyForm(formdata=None))
    page = services.payment_page(booking)
    if page is None:
        return _nothing_due(token, booking)
    for directive, sources in page.sources.items():
        allow_sources(directive, *sources)
    form = PaymentForm(formdata=None, reference=page.start.page_fields.get("reference", ""), kind=page.kind,
                       amount_cents=str(page.amount_cents))
    return render_template(
        "booking/pay.html", token=token, booking=booking, cohort=booking.cohort, program=booking.cohort.program,
        kind=page.kind, amount_cents=page.amount_cents, provider=page.start.provider, fields=page.start.fields,
        form=form, return_url=url_for("booking.paid", token=token, _external=True),
        minutes_left=_minutes_left(booking),
        schedule=plans.schedule_lines(booking, ledger.received_cents(booking.id)))


def _accept_policy_page(token: str, booking: Booking, form: PolicyForm, status: int = 200):
    """Before any money, a booking made without the policy (a waitlist offer) asks for it to be accepted."""
    return render_template("booking/accept_policy.html", token=token, booking=booking, cohort=booking.cohort,
                           program=booking.cohort.program, form=form), status


@booking_bp.post("/manage/<token>/policy")
@public_write_limit
def accept_policy(token: str):
    booking = services.booking_by_manage_token(token)
    form = PolicyForm()
    return perform(lambda: services.accept_policy(booking, form.policy_accepted.data is True),
                   to=url_for("booking.pay", token=token), done="", form=form,
                   again=lambda: _accept_policy_page(token, booking, form, 422))


@booking_bp.post("/manage/<token>/pay")
@public_write_limit
def pay_demo(token: str):
    booking = services.booking_by_manage_token(token)
    if services.policy_first(booking):
        return redirect(url_for("booking.pay", token=token), code=303)
    if booking.payment_provider != "demo":
        raise DomainError("This booking is paid through its payment page, not a test payment.",
                          code="not_a_demo_booking", status=409)
    providers.provider("demo")
    form = PaymentForm()
    reference = form.reference.data or ""
    if not DEMO_REFERENCE.fullmatch(reference):
        flash("That payment page was out of date: nothing was charged. Please try again.", "error")
        return redirect(url_for("booking.pay", token=token), code=303)
    if ledger.find("demo", reference) is not None:
        return redirect(url_for("booking.manage", token=token), code=303)  # the same form sent twice
    due = services.next_payment(booking)
    if due is None:
        return _nothing_due(token, booking)
    kind, cents = due
    if (form.kind.data, form.amount_cents.data) != (kind, str(cents)):
        flash("What is due has changed since that page was shown: nothing was charged. Please check and try again.",
              "error")
        return redirect(url_for("booking.pay", token=token), code=303)
    outcome = services.payment_received(booking.reference, kind=kind, amount_cents=cents, provider="demo",
                                        provider_reference=reference, actor="applicant (demo payment)")
    flash_outcome(outcome.booking, cents, refunded=outcome.refunded_unplaced, test=True)
    return redirect(url_for("booking.manage", token=token), code=303)


def flash_outcome(booking: Booking, cents: int | None, *, refunded: bool = False, test: bool = False) -> None:
    """Tell the applicant what their payment did (the demo payment here, Stripe's return in payment_events)."""
    if refunded:
        flash("This payment could not be taken for your booking (its seat is no longer held, or the booking was "
              "already paid), so what could not be placed is being refunded to you.", "error")
    elif booking.status in ("confirmed", "paid_in_full"):
        what = f"your {'test ' if test else ''}payment" + (f" of {format_usd(cents)}" if cents else "")
        flash(f"Thank you: {what} is received.")


# --- Cancelling ------------------------------------------------------------------------------------------------

@booking_bp.get("/manage/<token>/cancel")
def cancel(token: str):
    booking = services.booking_by_manage_token(token)
    if booking.status not in CANCELLABLE_STATUSES:
        flash(f"This booking cannot be cancelled: it is {STATUS_NAMES.get(booking.status, booking.status)}.",
              "error")
        return redirect(url_for("booking.manage", token=token), code=303)
    quote = services.cancellation_quote(booking, by="applicant")
    return render_template("booking/cancel.html", token=token, booking=booking, cohort=booking.cohort,
                           program=booking.cohort.program, quote=quote, form=CancelForm(formdata=None))


@booking_bp.post("/manage/<token>/cancel")
@public_write_limit
def confirm_cancel(token: str):
    booking = services.booking_by_manage_token(token)
    return perform(lambda: services.cancel_booking(booking, by="applicant", actor="applicant"),
                   to=url_for("booking.manage", token=token),
                   done=lambda quote: f"Your booking is cancelled. We are refunding {format_usd(quote.refund_cents)}."
                   if quote.refund_cents else "Your booking is cancelled.")

