"""The intake's pages and the checklist on the manage page.

    GET  /bookings/manage/<token>/intake          the applicant's intake form, filled with what they gave
    POST /bookings/manage/<token>/intake          save it (a part may be left for later), then the manage page
    GET  /staff/bookings/<reference>/intake       the intake for coordinators and clinicians; medications and
                                                  allergies for clinicians only, each read audited

The manage page (booking/manage.html) shows the checklist through `arrival_checklist(booking)`, given to the booking
pages' templates here: booking sits below arrival and cannot ask it.
"""

from contextlib import nullcontext

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from retreat.arrival import checklist, intake
from retreat.arrival.intake_forms import IntakeForm
from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.booking.views import booking_bp
from retreat.core import clinic
from retreat.core.transactions import unit_of_work
from retreat.staff.access import roles_required
from retreat.staff.blueprint import staff_bp
from retreat.web.actions import perform
from retreat.web.filters import long_date
from retreat.web.limits import public_write_limit

READ_INTAKE = ("coordinator", "admin", *intake.HEALTH_READERS)


def manage_checklist(booking: Booking) -> list[checklist.Step]:
    """The steps the manage page shows: those of a held or confirmed booking (none for any other)."""
    return checklist.steps(booking) if intake.may_fill(booking) else []


@booking_bp.context_processor
def _checklist_for_templates():
    return {"arrival_checklist": manage_checklist}


def _manage_url(token: str) -> str:
    return url_for("booking.manage", token=token) + "#checklist-heading"


def _intake_page(token: str, booking: Booking, form: IntakeForm, status: int = 200):
    start = booking.cohort.start_date
    form.arrival_time.label.text = f"Your arrival time on {long_date(start)}"
    form.arrival_time.description = (f"In {clinic.zone_name()}, the clinic's time. The program begins that day; "
                                     "we will be there to welcome you.")
    return render_template("arrival/intake.html", token=token, booking=booking, cohort=booking.cohort,
                           program=booking.cohort.program, form=form, shared=booking.lodging == "shared",
                           started=intake.intake_of(booking) is not None,
                           missing=[intake.PART_WORDS[part] for part in intake.missing_parts(booking)]), status


def _closed(token: str, booking: Booking):
    """The manage page with the reason, for a booking that takes no intake (None for one that does)."""
    try:
        intake.check_open(booking)
    except intake.IntakeClosed as closed:
        flash(closed.message, "error")
        return redirect(url_for("booking.manage", token=token), code=303)
    return None


@booking_bp.get("/manage/<token>/intake")
def intake_form(token: str):
    booking = booking_services.booking_by_manage_token(token)
    return _closed(token, booking) or _intake_page(
        token, booking, IntakeForm(formdata=None, data=intake.form_values(booking)))


def _saved(left: list[str]) -> str | tuple[str, str]:
    if not left:
        return "Thank you: your intake is complete and saved."
    return ("Your intake is saved. Still to give: "
            f"{intake.words_of([intake.PART_WORDS[part] for part in left])}. You can finish it any time before you "
            "arrive.")


@booking_bp.post("/manage/<token>/intake")
@public_write_limit
def save_intake(token: str):
    booking = booking_services.booking_by_manage_token(token)
    form = IntakeForm()
    values = {name: request.form.get(name, "") for name in intake.FIELDS}
    return perform(lambda: intake.save_intake(booking, values), done=_saved, to=_manage_url(token), form=form,
                   again=lambda: _intake_page(token, booking, form, 422))


# --- Staff ---------------------------------------------------------------------------------------------------------

@staff_bp.get("/bookings/<reference>/intake")
@roles_required(*READ_INTAKE)
def booking_intake(reference: str):
    """Coordinators see the intake without medications and allergies; a clinician sees those too (audited)."""
    clinician = current_user.has_any_role(intake.HEALTH_READERS)
    # A clinician's read writes its audit entry: the write lock first, as the screening review page does.
    with unit_of_work() if clinician else nullcontext():
        booking = booking_services.booking_by_reference(reference)
        answers = intake.intake_of(booking)
        page = render_template(
            "staff/booking_intake.html", booking=booking, cohort=booking.cohort, intake=answers,
            health=intake.read_health(booking, current_user) if clinician else None,
            arrival=intake.arrival_moment(booking, answers) if answers else None,
            missing=[intake.PART_WORDS[part] for part in intake.missing_parts(booking, answers)],
            steps=checklist.steps(booking))
    return page
