"""The readiness board's staff pages (routes of staff_bp, behind its role guard): the dates with a board, a cohort's
board with its filters and roster export, and a booking's clearance (clinicians only)."""

from flask import Response, abort, render_template, request, url_for
from flask_login import current_user

from retreat.arrival import clearance, readiness
from retreat.arrival.readiness_forms import BoardFilterForm, ClearanceForm
from retreat.booking import cohorts
from retreat.booking.access import booking_by_reference
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.core.errors import NotFound
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.actions import perform
from retreat.web.forms import options


@staff_bp.get("/readiness", endpoint="readiness")
@roles_required(*readiness.BOARD_ROLES)
def readiness_index():
    return render_template("staff/readiness/index.html", lines=readiness.upcoming_cohorts())


def _board(cohort_id: int):
    """The filter form (checked, its step choices from the board's columns) and the board it filters."""
    form = BoardFilterForm(request.args, meta={"csrf": False})
    valid = form.validate()
    whole = readiness.board(cohort_id)
    form.missing.choices = options([("", "Any step"), *((c.key, c.label) for c in whole.columns)])
    if form.missing.data and form.missing.data not in {c.key for c in whole.columns}:
        form.missing.errors = [*form.missing.errors, "Choose one of the steps listed."]
        valid = False
    return form, valid, whole.filtered(form.filters()) if valid else whole


@staff_bp.get("/cohorts/<int:cohort_id>/readiness", endpoint="readiness_board")
@roles_required(*readiness.BOARD_ROLES)
def cohort_readiness(cohort_id: int):
    form, valid, the_board = _board(cohort_id)
    return render_template(
        "staff/readiness/board.html", form=form, board=the_board, cohort=the_board.cohort,
        program=the_board.cohort.program, rows=the_board.rows if valid else (), filters_valid=valid,
        may_record=clearance.may_record(current_user), filter_args=the_board.filters.as_args() if valid else {},
    ), 200 if valid else 422


@staff_bp.get("/cohorts/<int:cohort_id>/readiness/export/roster.<fmt>", endpoint="readiness_export")
@roles_required(*readiness.BOARD_ROLES)
def cohort_readiness_export(cohort_id: int, fmt: str):
    if fmt not in readiness.EXPORT_FORMATS:
        abort(404)
    form, valid, _ = _board(cohort_id)
    if not valid:
        abort(422)
    filename, content = readiness.export(cohort_id, fmt, form.filters())
    return Response(content, mimetype="text/csv" if fmt == "csv" else readiness.XLSX_MIMETYPE, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    })


def _back_args() -> dict[str, str]:
    """The board's filters the clinician came from, carried through the clearance page and back."""
    form = BoardFilterForm(request.args, meta={"csrf": False})
    return {name: value for name, value in (("show", form.show.data), ("missing", form.missing.data),
                                            ("status", form.status.data))
            if isinstance(value, str) and value and len(value) <= 40}


def _clearance_page(cohort_id: int, reference: str, form: ClearanceForm | None = None, status: int = 200):
    cohort = cohorts.get_cohort(cohort_id)
    booking = booking_by_reference(reference)
    if booking.cohort_id != cohort.id:
        raise NotFound("There is no booking with this reference in these dates.")
    current = clearance.for_clinician(booking, current_user)
    if form is None:
        form = ClearanceForm(formdata=None, status=current.status if current else None,
                             note=current.note if current else "")
    return render_template("staff/readiness/clearance.html", cohort=cohort, program=cohort.program,
                           booking=booking, current=current, form=form, back_args=_back_args(),
                           status_labels=BOOKING_STATUS_LABELS), status


@staff_bp.route("/cohorts/<int:cohort_id>/readiness/<reference>/clearance", methods=["GET", "POST"],
               endpoint="readiness_clearance")
@roles_required(*clearance.RECORDING_ROLES)
def booking_clearance(cohort_id: int, reference: str):
    if request.method == "GET":
        return _clearance_page(cohort_id, reference)
    form = ClearanceForm()
    board_url = url_for("staff.readiness_board", cohort_id=cohort_id, **_back_args()) + f"#row-{reference}"

    def again():
        return _clearance_page(cohort_id, reference, form, 422)

    if not form.validate_on_submit():
        return again()

    def done(recorded: clearance.Recorded) -> str:
        if not recorded.changed:
            return f"The clearance of {recorded.reference} had not changed; nothing was saved."
        return f"Clearance of {recorded.reference} saved: {recorded.status_label.lower()}."

    return perform(lambda: clearance.record_clearance(reference, form.status.data, form.note.data,
                                                      staff=current_user, cohort_id=cohort_id),
                   form=form, again=again, to=board_url, done=done)
