"""Staff console, bookings (routes of staff_bp): the list, one booking with its money and history, a bank
transfer marked received (finance), a cancellation on the applicant's behalf or the clinic's (coordinators).
The forms live here with the views that use them; retreat/booking/admin.py decides what is valid."""

import re

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from retreat.booking import admin
from retreat.booking.models import BOOKING_STATUSES
from retreat.core.errors import DomainError, ValidationFailed
from retreat.core.money import decimal_dollars, format_usd
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.filters import date_range
from retreat.web.forms import attach_errors, options

# Who may do what with bookings.
READ_BOOKINGS = ("coordinator", "finance", "admin")
RECORD_PAYMENTS = ("finance", "admin")
CANCEL_BOOKINGS = ("coordinator", "admin")
MAX_DOLLARS = 10_000_000


class DollarsField(StringField):
    """An amount typed in dollars (`994`, `$1,994.50`), held as integer cents."""

    AMOUNT = re.compile(r"(\d+)(?:\.(\d{1,2}))?")

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip().replace("$", "").replace(",", "").replace(" ", "")
        if not text:
            self.data = None
            return
        match = self.AMOUNT.fullmatch(text)
        if match is None or int(match.group(1)) > MAX_DOLLARS:
            self.data = None
            raise ValueError("Give an amount in dollars, for example 994 or 994.50.")
        self.data = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return decimal_dollars(self.data) if isinstance(self.data, int) else ""


class BookingFilterForm(FlaskForm):
    q = StringField("Reference, name or email", validators=[Optional(), Length(max=admin.SEARCH_MAX_LENGTH)])
    cohort = SelectField("Dates", default="", validate_choice=False)
    status = SelectField("Status", choices=options(
        [("", "Any status"), *((status, admin.BOOKING_STATUS_LABELS[status]) for status in BOOKING_STATUSES)]),
        default="")
    provider = SelectField("Payment", choices=options([("", "Any payment"), *admin.PROVIDER_LABELS.items()]),
                           default="")
    submit = SubmitField("Filter")

    def cohort_id(self) -> int | None:
        value = self.cohort.data or ""
        return int(value) if value.isdigit() and 0 < int(value) < 2**31 else None


class TransferReceivedForm(FlaskForm):
    amount = DollarsField("Amount received, in dollars",
                          validators=[InputRequired(message="Give the amount received, in dollars.")])
    bank_reference = StringField(
        "Bank reference", validators=[InputRequired(message="Give the reference of the transfer on the clinic's "
                                                            "bank statement.")],
        render_kw={"maxlength": admin.BANK_REFERENCE_MAX_LENGTH, "autocomplete": "off"},
        description="As the clinic's bank statement shows it. Each transfer is recorded once.")
    note = StringField("Note (optional)", render_kw={"maxlength": admin.NOTE_MAX_LENGTH})
    submit = SubmitField("Mark bank transfer received")


class StaffCancelForm(FlaskForm):
    by = RadioField("Who is cancelling?", choices=options(
        [("applicant", "The applicant asked to cancel: the refund policy applies"),
         ("clinic", "The clinic is cancelling: everything paid is refunded")]),
        validators=[InputRequired(message="Choose who is cancelling.")])
    refund = DollarsField("Refund a different amount (optional), in dollars",
                          description="Leave empty to refund what the choice above gives. A different amount "
                                      "needs a reason and is recorded in the audit log.")
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=admin.REASON_MAX_LENGTH)],
                           render_kw={"rows": 2, "maxlength": admin.REASON_MAX_LENGTH},
                           description="Kept in the audit log. Required for a different refund.")
    submit = SubmitField("Cancel this booking")


class CancelCohortBookingsForm(FlaskForm):
    acknowledge = BooleanField("Cancel every booking listed and refund everything each has paid. This cannot be "
                               "undone; each applicant is emailed.")
    submit = SubmitField("Cancel these bookings and refund everything paid")


def _to_booking(reference: str):
    return redirect(url_for("staff.booking", reference=reference), code=303)


@staff_bp.get("/bookings")
@roles_required(*READ_BOOKINGS)
def bookings():
    form = BookingFilterForm(request.args, meta={"csrf": False})
    cohorts = admin.cohorts_for_filter()
    form.cohort.choices = options(
        [("", "All dates"), *((str(c.id), f"{c.program.name}, {date_range(c.start_date, c.end_date)}")
                              for c in cohorts)])
    valid = form.validate()
    page = min(max(1, request.args.get("page", 1, type=int)), 100_000)
    rows, more = admin.list_bookings(
        cohort_id=form.cohort_id(), status=form.status.data or None, provider=form.provider.data or None,
        search=form.q.data, page=page) if valid else ([], False)
    return render_template("staff/bookings.html", form=form, rows=rows, page=page, more=more), \
        200 if valid else 422


def _booking_page(reference: str, *, transfer_form=None, cancel_form=None, status: int = 200):
    detail = admin.booking_for_staff(reference)
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
    return render_template(
        "staff/booking_detail.html", detail=detail, booking=detail.booking, cohort=detail.booking.cohort,
        transfer_form=transfer_form, cancel_form=cancel_form,
        may_record_payments=bool(roles & set(RECORD_PAYMENTS)), may_cancel=bool(roles & set(CANCEL_BOOKINGS)),
        may_open_cohort=bool(roles & {"coordinator", "admin"}),
    ), status


@staff_bp.get("/bookings/<reference>")
@roles_required(*READ_BOOKINGS)
def booking(reference: str):
    return _booking_page(reference)


@staff_bp.post("/bookings/<reference>/transfer")
@roles_required(*RECORD_PAYMENTS)
def booking_transfer(reference: str):
    booking = admin.get_booking(reference)
    form = TransferReceivedForm(prefix="transfer")
    if form.validate_on_submit():
        try:
            outcome = admin.mark_transfer_received(
                booking.reference, amount_cents=form.amount.data, bank_reference=form.bank_reference.data,
                note=form.note.data, staff=current_user)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        except DomainError as refusal:
            flash(refusal.message, "error")
            return _to_booking(booking.reference)
        else:
            amount = format_usd(outcome.payment.amount_cents, show_cents=True)
            if outcome.refunded_unplaced:
                flash(f"Bank transfer of {amount} recorded. The hold had lapsed and the seat is taken, so the money "
                      "is to be returned: see the refund owed below.", "error")
            else:
                label = admin.BOOKING_STATUS_LABELS[outcome.booking.status].lower()
                flash(f"Bank transfer of {amount} recorded; the booking is {label} and the applicant is emailed "
                      "a receipt.")
            return _to_booking(booking.reference)
    return _booking_page(booking.reference, transfer_form=form, status=422)


@staff_bp.post("/bookings/<reference>/cancel")
@roles_required(*CANCEL_BOOKINGS)
def booking_cancel(reference: str):
    booking = admin.get_booking(reference)
    form = StaffCancelForm(prefix="cancel")
    if form.validate_on_submit():
        try:
            done = admin.cancel_for_staff(booking.reference, by=form.by.data, refund_override_cents=form.refund.data,
                                          reason=form.reason.data, staff=current_user)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        except DomainError as refusal:
            flash(refusal.message, "error")
            return _to_booking(booking.reference)
        else:
            refund = format_usd(done.quote.refund_cents, show_cents=True)
            owed = (f" {format_usd(done.owed_by_transfer_cents, show_cents=True)} of it is owed by bank transfer: "
                    "send it from the clinic's bank." if done.owed_by_transfer_cents else "")
            if done.refund_pending_cents:
                owed += (f" {format_usd(done.refund_pending_cents, show_cents=True)} of it could not be sent to the "
                         "payment provider yet; it is retried automatically.")
            flash(f"Booking {booking.reference} is cancelled; refund {refund} ({done.quote.rule}).{owed} "
                  "The applicant is emailed.")
            return _to_booking(booking.reference)
    return _booking_page(booking.reference, cancel_form=form, status=422)


def flash_cohort_refund_results(results: list[admin.CohortBookingResult]) -> None:
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
