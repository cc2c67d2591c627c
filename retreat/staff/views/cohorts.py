"""Coordinator console: cohorts (routes of staff_bp). Create under a program; a cohort's page with its dates,
seats and status; cancel after seeing whom it affects; the roster, on screen and as CSV."""

from flask import Response, flash, redirect, render_template, url_for
from flask_login import current_user

from retreat.booking import admin as booking_admin
from retreat.booking import holds
from retreat.booking import services as booking_services
from retreat.catalog import admin
from retreat.catalog.forms import CancelCohortForm, CapacityForm, CohortDatesForm, CohortForm
from retreat.core.errors import DomainError, ValidationFailed
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm
from retreat.staff.views.bookings import CancelCohortBookingsForm, flash_cohort_refund_results
from retreat.staff.views.programs import COORDINATION, add_other_problems
from retreat.web.filters import date_range
from retreat.web.forms import attach_errors


def _to_cohort(cohort_id: int):
    return redirect(url_for("staff.cohort", cohort_id=cohort_id), code=303)


def _end_date_hint(form, duration_days: int) -> None:
    form.end_date.description = f"Leave empty for the program's {duration_days} days from the first day."


def _cohort_name(cohort) -> str:
    return f"{cohort.program.name}, {date_range(cohort.start_date, cohort.end_date)}"


@staff_bp.route("/programs/<int:program_id>/cohorts/new", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def cohort_new(program_id: int):
    program = admin.get_program(program_id)
    form = CohortForm()
    _end_date_hint(form, program.duration_days)
    if form.validate_on_submit():
        try:
            cohort = admin.create_cohort(program.id, form.start_date.data, form.end_date.data,
                                         form.capacity.data)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        else:
            flash(f"Dates added: {_cohort_name(cohort)}, {cohort.capacity} seats, open to bookings"
                  + ("." if program.published else " once the program is published."))
            return _to_cohort(cohort.id)
    elif form.is_submitted():
        add_other_problems(form, admin.cohort_problems(program.id, form.start_date.data, form.end_date.data,
                                                       form.capacity.data))
    return render_template("staff/cohorts/new.html", program=program, form=form), 422 if form.errors else 200


def _cohort_page(cohort_id: int, *, dates_form=None, capacity_form=None, refund_form=None, status: int = 200):
    detail = admin.cohort_for_staff(cohort_id)
    cohort = detail.cohort
    dates_form = dates_form or CohortDatesForm(formdata=None, obj=cohort)
    capacity_form = capacity_form or CapacityForm(formdata=None, obj=cohort)
    _end_date_hint(dates_form, cohort.program.duration_days)
    to_contact = admin.cohort_cancellation_preview(cohort.id).affected if cohort.status == "cancelled" else ()
    refunds = booking_admin.cohort_refunds(cohort.id) if cohort.status == "cancelled" else None
    return render_template(
        "staff/cohorts/detail.html", detail=detail, cohort=cohort, program=cohort.program,
        dates_form=dates_form, capacity_form=capacity_form, confirm=ConfirmForm(), to_contact=to_contact,
        status_labels=admin.BOOKING_STATUS_LABELS, refunds=refunds, live_holds=holds.live_holds(cohort.id),
        refund_form=refund_form or CancelCohortBookingsForm(formdata=None),
    ), status


@staff_bp.get("/cohorts/<int:cohort_id>")
@roles_required(*COORDINATION)
def cohort(cohort_id: int):
    return _cohort_page(cohort_id)


@staff_bp.post("/cohorts/<int:cohort_id>/dates")
@roles_required(*COORDINATION)
def cohort_dates(cohort_id: int):
    admin.get_cohort(cohort_id)
    form = CohortDatesForm()
    if form.validate_on_submit():
        try:
            changes = admin.update_cohort(cohort_id, form.start_date.data, form.end_date.data)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        except DomainError as refusal:
            flash(refusal.message, "error")
            return _to_cohort(cohort_id)
        else:
            flash("Dates saved." if changes else "The dates had not changed; nothing was saved.")
            return _to_cohort(cohort_id)
    return _cohort_page(cohort_id, dates_form=form, status=422)


@staff_bp.post("/cohorts/<int:cohort_id>/capacity")
@roles_required(*COORDINATION)
def cohort_capacity(cohort_id: int):
    admin.get_cohort(cohort_id)
    form = CapacityForm()
    if form.validate_on_submit():
        try:
            change = admin.set_capacity(cohort_id, form.capacity.data)
        except ValidationFailed as refusal:
            attach_errors(form, refusal)
        except DomainError as refusal:
            flash(refusal.message, "error")
            return _to_cohort(cohort_id)
        else:
            flash(f"Seats changed from {change['from']} to {change['to']}." if change
                  else "The number of seats had not changed; nothing was saved.")
            return _to_cohort(cohort_id)
    return _cohort_page(cohort_id, capacity_form=form, status=422)


def _status_action(cohort_id: int, action, done: str):
    admin.get_cohort(cohort_id)
    if ConfirmForm().validate_on_submit():
        try:
            action(cohort_id)
        except DomainError as refusal:
            flash(refusal.message, "error")
        else:
            flash(done)
    return _to_cohort(cohort_id)


@staff_bp.post("/cohorts/<int:cohort_id>/holds/<reference>/release")
@roles_required(*COORDINATION)
def cohort_release_hold(cohort_id: int, reference: str):
    """Free a seat held unpaid (a script's, or one an applicant abandoned); the applicant is emailed."""
    admin.get_cohort(cohort_id)
    if ConfirmForm().validate_on_submit():
        try:
            booking = booking_services.release_hold(reference, cohort_id=cohort_id, staff=current_user)
        except DomainError as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"The hold {booking.reference} is released: the seat is free again and the applicant is emailed.")
    return _to_cohort(cohort_id)


@staff_bp.post("/cohorts/<int:cohort_id>/close")
@roles_required(*COORDINATION)
def cohort_close(cohort_id: int):
    return _status_action(cohort_id, admin.close_cohort,
                          "Closed to new bookings. Bookings already made are unchanged.")


@staff_bp.post("/cohorts/<int:cohort_id>/reopen")
@roles_required(*COORDINATION)
def cohort_reopen(cohort_id: int):
    return _status_action(cohort_id, admin.reopen_cohort, "Open to bookings again.")


@staff_bp.route("/cohorts/<int:cohort_id>/cancel", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def cohort_cancel(cohort_id: int):
    preview = admin.cohort_cancellation_preview(cohort_id)
    if preview.cohort.status == "cancelled":
        flash("These dates are cancelled already.")
        return _to_cohort(cohort_id)
    form = CancelCohortForm()
    status = 200
    if form.validate_on_submit():
        if preview.affected and not form.acknowledge.data:
            form.acknowledge.errors = ["Confirm that the clinic will contact these applicants."]
        else:
            try:
                done = admin.cancel_cohort(cohort_id, expected_fingerprint=form.fingerprint.data or "",
                                           reason=form.reason.data or "")
            except ValidationFailed as refusal:
                attach_errors(form, refusal)
            except admin.PreviewOutdated as refusal:
                flash(refusal.message, "error")
                preview = admin.cohort_cancellation_preview(cohort_id)
                form.acknowledge.data = False
                status = 409
            except DomainError as refusal:
                flash(refusal.message, "error")
                return _to_cohort(cohort_id)
            else:
                count = len(done.affected)
                plural = "s" if count != 1 else ""
                to_contact = (f" {count} applicant{plural} must be contacted: see the list below, where their "
                              "bookings can be cancelled and refunded." if count
                              else " No applicant was booked.")
                flash("The dates are cancelled and no longer show in the catalog." + to_contact)
                return _to_cohort(cohort_id)
    form.fingerprint.data = preview.fingerprint
    if form.errors:
        status = 422
    return render_template("staff/cohorts/cancel.html", preview=preview, cohort=preview.cohort,
                           program=preview.cohort.program, form=form,
                           status_labels=admin.BOOKING_STATUS_LABELS), status


@staff_bp.post("/cohorts/<int:cohort_id>/cancel-bookings")
@roles_required(*COORDINATION)
def cohort_cancel_bookings(cohort_id: int):
    """After the dates are cancelled: cancel their remaining bookings and refund everything paid."""
    admin.get_cohort(cohort_id)
    form = CancelCohortBookingsForm()
    if not form.validate_on_submit() or not form.acknowledge.data:
        if not form.acknowledge.data and not form.acknowledge.errors:
            form.acknowledge.errors = ["Tick the box to confirm cancelling these bookings and their refunds."]
        return _cohort_page(cohort_id, refund_form=form, status=422)
    try:
        results = booking_admin.cancel_cohort_bookings(cohort_id, staff=current_user)
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash_cohort_refund_results(results)
    return _to_cohort(cohort_id)


@staff_bp.get("/cohorts/<int:cohort_id>/roster")
@roles_required(*COORDINATION)
def cohort_roster(cohort_id: int):
    cohort = admin.get_cohort(cohort_id)
    return render_template("staff/cohorts/roster.html", cohort=cohort, program=cohort.program,
                           rows=admin.roster(cohort.id), status_labels=admin.BOOKING_STATUS_LABELS)


@staff_bp.get("/cohorts/<int:cohort_id>/roster.csv")
@roles_required(*COORDINATION)
def cohort_roster_csv(cohort_id: int):
    filename, content = admin.export_roster(cohort_id)
    return Response(content, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
    })
