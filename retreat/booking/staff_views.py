"""Booking's staff pages (routes of staff_bp, behind its role guard): the seats dashboard, each cohort's page (dates,
seats, holds, closing, cancelling, the roster), and the bookings console (the list, one booking with its money and
history, a bank transfer received, a cancellation on the applicant's behalf or the clinic's).

The pages parse, call one service (booking.cohorts, booking.console, booking.holds) and answer through
web.actions.perform; the services decide what is valid.
"""

from dataclasses import dataclass
from datetime import timedelta

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from retreat.booking import cohorts, console, documents, fee_requests, hold_rules, staffing, superbills, todos, waitlist  # noqa: F401  (todos: the staff home's lines)
from retreat.booking import services as booking_services
from retreat.booking.occupancy import DEFAULT_DAYS, CohortOccupancy, upcoming_occupancy
from retreat.booking.staff_forms import (
    BookingFilterForm,
    CancelCohortBookingsForm,
    CancelCohortForm,
    CapacityForm,
    CohortDatesForm,
    CohortForm,
    DiagnosisForm,
    FeeDecisionForm,
    StaffCancelForm,
    TransferReceivedForm,
)
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.catalog import programs as catalog_programs
from retreat.core.clock import today
from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.money import format_usd
from retreat.extensions import db
from retreat.staff.access import COORDINATION, roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm
from retreat.staff.models import StaffUser
from retreat.web.actions import perform
from retreat.web.filters import date_range
from retreat.web.forms import add_other_problems, attach_errors, options

# Who may do what with bookings. Clinicians read them to record a diagnosis (theirs alone to see and record).
READ_BOOKINGS = ("coordinator", "finance", "admin", "clinician")
RECORD_DIAGNOSIS = ("clinician",)
RECORD_PAYMENTS = ("finance", "admin")
CANCEL_BOOKINGS = ("coordinator", "admin")


# --- The dashboard: one seat bar per cohort starting in the next 90 days -----------------------------------------

# Bar order, left to right: settled seats first, then the ones that may still go, then the free ones.
CATEGORIES = (
    ("confirmed", "Confirmed"),
    ("held", "Held"),
    ("pending_review", "Pending review"),
    ("free", "Free"),
)


@dataclass(frozen=True)
class Segment:
    category: str
    label: str
    count: int
    x: float  # left edge, in percent of the bar
    width: float  # in percent of the bar


@dataclass(frozen=True)
class CohortRow:
    occupancy: CohortOccupancy
    segments: tuple[Segment, ...]

    @property
    def summary(self) -> str:
        o = self.occupancy
        text = (f"{o.confirmed} confirmed, {o.held} held, {o.pending_review} pending review, {o.free} free "
                f"of {o.capacity} seats")
        if o.over_capacity:
            text += f"; {o.over_capacity} over capacity"
        return text


def bar_segments(occupancy: CohortOccupancy) -> tuple[Segment, ...]:
    """The stacked bar: one segment per non-empty category, widths proportional to seats. The bar spans the
    capacity, or the seats taken when they exceed it, so it never overflows."""
    scale = max(occupancy.capacity, occupancy.taken)
    if scale == 0:
        return ()
    segments = []
    before = 0
    for category, label in CATEGORIES:
        count = getattr(occupancy, category)
        if count:
            x = 100 * before / scale
            segments.append(Segment(category, label, count, round(x, 4),
                                    round(100 * (before + count) / scale - x, 4)))
            before += count
    return tuple(segments)


@staff_bp.get("/dashboard")
@roles_required(*COORDINATION)
def dashboard():
    first_day = today()
    rows = [CohortRow(occupancy, bar_segments(occupancy)) for occupancy in upcoming_occupancy(DEFAULT_DAYS)]
    totals = {category: sum(getattr(row.occupancy, category) for row in rows) for category, _ in CATEGORIES}
    waiting = waitlist.waitlist_counts([row.occupancy.cohort_id for row in rows])
    return render_template(
        "staff/dashboard.html", rows=rows, categories=CATEGORIES, days=DEFAULT_DAYS, first_day=first_day,
        last_day=first_day + timedelta(days=DEFAULT_DAYS), totals=totals,
        cohort_links="staff.cohort" in current_app.view_functions,
        waitlists=waiting, no_waitlist=waitlist.WaitlistCount(),
        waitlist_totals=waitlist.WaitlistCount(sum(c.waiting for c in waiting.values()),
                                               sum(c.offered for c in waiting.values())),
    )


# --- A cohort -------------------------------------------------------------------------------------------------------

def _cohort_url(cohort_id: int) -> str:
    return url_for("staff.cohort", cohort_id=cohort_id)


def _last_day_hint(form, duration_days: int) -> None:
    """The dates last the program's length: the form asks only the first day and says when the last one is."""
    form.start_date.description = (f"The program lasts {duration_days} days, so the last day is set for you: "
                                   f"{duration_days - 1} days after the first.")


def _cohort_name(cohort) -> str:
    return f"{cohort.program.name}, {date_range(cohort.start_date, cohort.end_date)}"


@staff_bp.route("/programs/<int:program_id>/cohorts/new", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def cohort_new(program_id: int):
    program = catalog_programs.get_program(program_id)
    form = CohortForm()
    _last_day_hint(form, program.duration_days)

    def again():
        return render_template("staff/cohorts/new.html", program=program, form=form), 422

    if form.validate_on_submit():
        return perform(
            lambda: cohorts.create_cohort(program.id, form.start_date.data, None, form.capacity.data),
            form=form, again=again, to=url_for("staff.program_edit", program_id=program.id),
            to_result=lambda cohort: _cohort_url(cohort.id),
            done=lambda cohort: (f"Dates added: {_cohort_name(cohort)}, {cohort.capacity} seats, open to bookings"
                                 + ("." if program.published else " once the program is published.")))
    if form.is_submitted():
        add_other_problems(form, cohorts.cohort_problems(program.id, form.start_date.data, None,
                                                         form.capacity.data))
        return again()
    return render_template("staff/cohorts/new.html", program=program, form=form)


def _cohort_page(cohort_id: int, *, dates_form=None, capacity_form=None, refund_form=None, status: int = 200):
    detail = cohorts.cohort_for_staff(cohort_id)
    cohort = detail.cohort
    dates_form = dates_form or CohortDatesForm(formdata=None, obj=cohort)
    capacity_form = capacity_form or CapacityForm(formdata=None, obj=cohort)
    _last_day_hint(dates_form, cohort.program.duration_days)
    cancelled = cohort.status == "cancelled"
    return render_template(
        "staff/cohorts/detail.html", detail=detail, cohort=cohort, program=cohort.program,
        dates_form=dates_form, capacity_form=capacity_form, confirm=ConfirmForm(),
        to_contact=cohorts.cohort_cancellation_preview(cohort.id).affected if cancelled else (),
        status_labels=BOOKING_STATUS_LABELS, refunds=cohorts.cohort_refunds(cohort.id) if cancelled else None,
        live_holds=hold_rules.live_holds(cohort.id), waitlist=waitlist.cohort_waitlist(cohort.id),
        fits_program=cohorts.fits_program(cohort), staffing=staffing.staffing_of(cohort.id),
        refund_form=refund_form or CancelCohortBookingsForm(formdata=None),
    ), status


@staff_bp.get("/cohorts/<int:cohort_id>")
@roles_required(*COORDINATION)
def cohort(cohort_id: int):
    return _cohort_page(cohort_id)


@staff_bp.post("/cohorts/<int:cohort_id>/dates")
@roles_required(*COORDINATION)
def cohort_dates(cohort_id: int):
    cohorts.get_cohort(cohort_id)
    form = CohortDatesForm()
    if not form.validate_on_submit():
        return _cohort_page(cohort_id, dates_form=form, status=422)
    return perform(lambda: cohorts.update_cohort(cohort_id, form.start_date.data),
                   form=form, again=lambda: _cohort_page(cohort_id, dates_form=form, status=422),
                   to=_cohort_url(cohort_id),
                   done=lambda changes: "Dates saved." if changes else "The dates had not changed; nothing was saved.")


@staff_bp.post("/cohorts/<int:cohort_id>/capacity")
@roles_required(*COORDINATION)
def cohort_capacity(cohort_id: int):
    cohorts.get_cohort(cohort_id)
    form = CapacityForm()
    if not form.validate_on_submit():
        return _cohort_page(cohort_id, capacity_form=form, status=422)
    return perform(lambda: cohorts.set_capacity(cohort_id, form.capacity.data),
                   form=form, again=lambda: _cohort_page(cohort_id, capacity_form=form, status=422),
                   to=_cohort_url(cohort_id),
                   done=lambda change: f"Seats changed from {change['from']} to {change['to']}." if change
                   else "The number of seats had not changed; nothing was saved.")


def _confirmed_action(cohort_id: int, action, done: str):
    """A one-button change of a cohort (its form carries only the CSRF token)."""
    cohorts.get_cohort(cohort_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(_cohort_url(cohort_id), code=303)
    return perform(action, to=_cohort_url(cohort_id), done=done)


@staff_bp.post("/cohorts/<int:cohort_id>/close")
@roles_required(*COORDINATION)
def cohort_close(cohort_id: int):
    return _confirmed_action(cohort_id, lambda: cohorts.close_cohort(cohort_id),
                             "Closed to new bookings. Bookings already made are unchanged.")


@staff_bp.post("/cohorts/<int:cohort_id>/reopen")
@roles_required(*COORDINATION)
def cohort_reopen(cohort_id: int):
    return _confirmed_action(cohort_id, lambda: cohorts.reopen_cohort(cohort_id), "Open to bookings again.")


@staff_bp.post("/cohorts/<int:cohort_id>/holds/<reference>/release")
@roles_required(*COORDINATION)
def cohort_release_hold(cohort_id: int, reference: str):
    """Free a seat held unpaid (a script's, or one an applicant abandoned); the applicant is emailed."""
    return _confirmed_action(
        cohort_id, lambda: booking_services.release_hold(reference, cohort_id=cohort_id, staff=current_user),
        f"The hold {reference} is released: the seat is free again and the applicant is emailed.")


@staff_bp.route("/cohorts/<int:cohort_id>/cancel", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def cohort_cancel(cohort_id: int):
    preview = cohorts.cohort_cancellation_preview(cohort_id)
    if preview.cohort.status == "cancelled":
        flash("These dates are cancelled already.")
        return redirect(_cohort_url(cohort_id), code=303)
    form = CancelCohortForm()
    status = 200
    if form.validate_on_submit():
        if preview.affected and not form.acknowledge.data:
            form.acknowledge.errors = ["Confirm that the clinic will contact these applicants."]
        else:
            try:
                done = cohorts.cancel_cohort(cohort_id, expected_fingerprint=form.fingerprint.data or "",
                                             reason=form.reason.data or "")
            except ValidationFailed as refusal:
                attach_errors(form, refusal)
            except cohorts.PreviewOutdated as refusal:
                flash(refusal.message, "error")
                preview = cohorts.cohort_cancellation_preview(cohort_id)
                form.acknowledge.data = False
                status = 409
            except DomainError as refusal:
                flash(refusal.message, "error")
                return redirect(_cohort_url(cohort_id), code=303)
            else:
                count = len(done.affected)
                plural = "s" if count != 1 else ""
                to_contact = (f" {count} applicant{plural} must be contacted: see the list below, where their "
                              "bookings can be cancelled and refunded." if count
                              else " No applicant was booked.")
                flash("The dates are cancelled and no longer show in the catalog." + to_contact)
                return redirect(_cohort_url(cohort_id), code=303)
    form.fingerprint.data = preview.fingerprint
    if form.errors:
        status = 422
    return render_template("staff/cohorts/cancel.html", preview=preview, cohort=preview.cohort,
                           program=preview.cohort.program, form=form,
                           status_labels=BOOKING_STATUS_LABELS), status


@staff_bp.post("/cohorts/<int:cohort_id>/cancel-bookings")
@roles_required(*COORDINATION)
def cohort_cancel_bookings(cohort_id: int):
    """After the dates are cancelled: cancel their remaining bookings and refund everything paid."""
    cohorts.get_cohort(cohort_id)
    form = CancelCohortBookingsForm()
    if not form.validate_on_submit() or not form.acknowledge.data:
        if not form.acknowledge.data and not form.acknowledge.errors:
            form.acknowledge.errors = ["Tick the box to confirm cancelling these bookings and their refunds."]
        return _cohort_page(cohort_id, refund_form=form, status=422)
    try:
        results = cohorts.cancel_cohort_bookings(cohort_id, staff=current_user)
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        _flash_cohort_refund_results(results)
    return redirect(_cohort_url(cohort_id), code=303)


def _flash_cohort_refund_results(results: list[cohorts.CohortBookingResult]) -> None:
    """One line for the bookings cancelled, one for each that failed (they stay listed, to try again)."""
    done = [r for r in results if r.cancelled]
    if done:
        parts = [f"{r.reference} ({format_usd(r.refund_cents, show_cents=True)} refunded"
                 + (", owed by bank transfer" if r.owed_by_transfer_cents else "")
                 + (", waiting to be sent: retried automatically" if r.refund_pending_cents else "") + ")"
                 for r in done]
        flash(f"Cancelled {len(done)} booking{'s' if len(done) != 1 else ''}: {'; '.join(parts)}. "
              "Each applicant is emailed.")
    for failed in (r for r in results if not r.cancelled):
        flash(f"Booking {failed.reference} ({failed.applicant_name}) was not cancelled: {failed.error} It is still "
              "listed below; try again.", "error")
    if not results:
        flash("No booking of these dates was still active.")


@staff_bp.get("/cohorts/<int:cohort_id>/roster")
@roles_required(*COORDINATION)
def cohort_roster(cohort_id: int):
    cohort = cohorts.get_cohort(cohort_id)
    return render_template("staff/cohorts/roster.html", cohort=cohort, program=cohort.program,
                           rows=cohorts.roster(cohort.id), status_labels=BOOKING_STATUS_LABELS)


@staff_bp.get("/cohorts/<int:cohort_id>/roster.csv")
@roles_required(*COORDINATION)
def cohort_roster_csv(cohort_id: int):
    filename, content = cohorts.export_roster(cohort_id)
    return Response(content, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
    })


# --- The bookings console -------------------------------------------------------------------------------------------

def _booking_url(reference: str) -> str:
    return url_for("staff.booking", reference=reference)


@staff_bp.get("/bookings")
@roles_required(*READ_BOOKINGS)
def bookings():
    form = BookingFilterForm(request.args, meta={"csrf": False})
    form.cohort.choices = options(
        [("", "All dates"), *((str(c.id), f"{c.program.name}, {date_range(c.start_date, c.end_date)}")
                              for c in console.cohorts_for_filter())])
    valid = form.validate()
    page = min(max(1, request.args.get("page", 1, type=int)), 100_000)
    rows, more = console.list_bookings(
        cohort_id=form.cohort_id(), status=form.status.data or None, provider=form.provider.data or None,
        search=form.q.data, needs=form.needs.data or None, page=page) if valid else ([], False)
    return render_template("staff/bookings.html", form=form, rows=rows, page=page, more=more), \
        200 if valid else 422


def _fee_form(booking, form=None) -> FeeDecisionForm:
    form = form or FeeDecisionForm(formdata=None, prefix="fee")
    floor = fee_requests.floor_cents(booking.list_price_cents)
    form.price.description = (f"Not below {fee_requests.floor_percent()}% of the list price "
                              f"({format_usd(booking.list_price_cents, show_cents=True)}): at least "
                              f"{format_usd(floor, show_cents=True)}. The deposit and balance follow from it.")
    return form


def _booking_page(reference: str, *, transfer_form=None, cancel_form=None, fee_form=None, diagnosis_form=None,
                  status: int = 200):
    detail = console.booking_for_staff(reference)
    if transfer_form is None:
        transfer_form = TransferReceivedForm(formdata=None, prefix="transfer")
        if detail.transfer_due:
            transfer_form.amount.data = detail.transfer_due[1]
    cancel_form = cancel_form or StaffCancelForm(formdata=None, prefix="cancel")
    if detail.cancellable:
        cancel_form.by.choices = options([
            ("applicant", f"The applicant asked to cancel: the refund policy gives "
                          f"{format_usd(detail.applicant_quote.refund_cents, show_cents=True)} "
                          f"({detail.applicant_quote.rule})"),
            ("clinic", f"The clinic is cancelling: everything paid is refunded, "
                       f"{format_usd(detail.clinic_quote.refund_cents, show_cents=True)}"),
        ])
    roles = set(current_user.roles)
    fee_request = fee_requests.request_of(detail.booking)
    # The diagnosis is read (decrypted) only for a clinician: no other role's page holds it.
    may_diagnose = bool(roles & set(RECORD_DIAGNOSIS))
    diagnosis = superbills.diagnosis(detail.booking) if may_diagnose else None
    if may_diagnose and diagnosis_form is None:
        diagnosis_form = DiagnosisForm(formdata=None, prefix="diagnosis",
                                       diagnosis_codes=", ".join(diagnosis.codes) if diagnosis else "")
    return render_template(
        "staff/booking_detail.html", detail=detail, booking=detail.booking, cohort=detail.booking.cohort,
        transfer_form=transfer_form, cancel_form=cancel_form,
        may_record_payments=bool(roles & set(RECORD_PAYMENTS)), may_cancel=bool(roles & set(CANCEL_BOOKINGS)),
        may_open_cohort=bool(roles & set(COORDINATION)), may_diagnose=may_diagnose, diagnosis=diagnosis,
        diagnosis_form=diagnosis_form,
        fee_request=fee_request, fee_form=_fee_form(detail.booking, fee_form),
        may_decide_fee=fee_requests.may_decide(current_user),
        fee_decided_by=db.session.get(StaffUser, fee_request.decided_by_id)
        if fee_request is not None and fee_request.decided_by_id else None,
    ), status


@staff_bp.get("/bookings/<reference>")
@roles_required(*READ_BOOKINGS)
def booking(reference: str):
    return _booking_page(reference)


@staff_bp.get("/bookings/<reference>/receipt.pdf")
@roles_required(*READ_BOOKINGS)
def booking_receipt(reference: str):
    booking = console.get_booking(reference)
    response = Response(documents.receipt_pdf(booking), mimetype=documents.PDF_CONTENT_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{documents.receipt_filename(booking)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _booking_form_sent(reference: str, form, slot: str, action, done):
    """One of the staff booking page's forms sent: its mistakes beside its fields on the page again (422), or
    `action(reference)` (a service, with what the form parsed) and back to the page, saying `done`."""
    reference = console.get_booking(reference).reference

    def again():
        return _booking_page(reference, status=422, **{slot: form})

    if not form.validate_on_submit():
        return again()
    return perform(lambda: action(reference), form=form, again=again, to=_booking_url(reference), done=done)


@staff_bp.post("/bookings/<reference>/diagnosis")
@roles_required(*RECORD_DIAGNOSIS)
def booking_diagnosis(reference: str):
    form = DiagnosisForm(prefix="diagnosis")
    return _booking_form_sent(
        reference, form, "diagnosis_form",
        lambda ref: superbills.record_diagnosis(ref, form.diagnosis_codes.data, staff=current_user),
        done=lambda codes: f"Diagnosis recorded ({', '.join(codes)}): it is printed on the superbill.")


def _transfer_recorded(outcome) -> tuple[str, str] | str:
    amount = format_usd(outcome.payment.amount_cents, show_cents=True)
    if outcome.refunded_unplaced:
        return (f"Bank transfer of {amount} recorded. The hold had lapsed and the seat is taken, so the money is to "
                "be returned: see the refund owed below.", "error")
    label = BOOKING_STATUS_LABELS[outcome.booking.status].lower()
    return f"Bank transfer of {amount} recorded; the booking is {label} and the applicant is emailed a receipt."


@staff_bp.post("/bookings/<reference>/transfer")
@roles_required(*RECORD_PAYMENTS)
def booking_transfer(reference: str):
    form = TransferReceivedForm(prefix="transfer")
    return _booking_form_sent(
        reference, form, "transfer_form",
        lambda ref: console.mark_transfer_received(ref, amount_cents=form.amount.data,
                                                   bank_reference=form.bank_reference.data, note=form.note.data,
                                                   staff=current_user),
        done=_transfer_recorded)


def _cancelled(done: console.Cancelled) -> str:
    refund = format_usd(done.quote.refund_cents, show_cents=True)
    owed = (f" {format_usd(done.owed_by_transfer_cents, show_cents=True)} of it is owed by bank transfer: "
            "send it from the clinic's bank." if done.owed_by_transfer_cents else "")
    if done.refund_pending_cents:
        owed += (f" {format_usd(done.refund_pending_cents, show_cents=True)} of it could not be sent to the "
                 "payment provider yet; it is retried automatically.")
    return (f"Booking {done.reference} is cancelled; refund {refund} ({done.quote.rule}).{owed} The applicant is "
            "emailed.")


@staff_bp.post("/bookings/<reference>/cancel")
@roles_required(*CANCEL_BOOKINGS)
def booking_cancel(reference: str):
    form = StaffCancelForm(prefix="cancel")
    return _booking_form_sent(
        reference, form, "cancel_form",
        lambda ref: console.cancel_for_staff(ref, by=form.by.data, refund_override_cents=form.refund.data,
                                             reason=form.reason.data, staff=current_user),
        done=_cancelled)


@staff_bp.post("/bookings/<reference>/reduced-fee")
@roles_required(*fee_requests.DECIDING_ROLES)
def booking_reduced_fee(reference: str):
    form = FeeDecisionForm(prefix="fee")

    def words(request) -> str:
        if request.status == "granted":
            return (f"Reduced fee granted: {format_usd(request.granted_total_cents, show_cents=True)}. The "
                    "applicant is emailed the new price.")
        return "Request declined: the price stays. The applicant is emailed."
    return _booking_form_sent(
        reference, form, "fee_form",
        lambda ref: fee_requests.decide(ref, decision=form.decision.data, price_cents=form.price.data,
                                        reason=form.reason.data, staff=current_user),
        done=words)
