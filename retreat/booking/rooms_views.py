"""Staff pages of staffing and rooms (routes of staff_bp, behind its role guard): a cohort's staff (who works these
dates, the seats-per-therapist cap), the venue's rooms, and a cohort's room placement. Coordinators and admins.

The pages parse, call one service (booking.staffing, booking.rooms) and answer through web.actions.perform.
"""

from flask import render_template, url_for

from retreat.booking import cohorts, rooms, staffing
from retreat.booking.rooms_forms import AssignForm, PlaceForm, RoomForm
from retreat.booking.staffing_models import COHORT_ROLE_LABELS
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.staff.access import COORDINATION, roles_required
from retreat.staff.blueprint import staff_bp
from retreat.staff.forms import ConfirmForm
from retreat.web.actions import perform
from retreat.web.forms import options

# --- A cohort's staff ---------------------------------------------------------------------------------------------


def _staff_url(cohort_id: int) -> str:
    return url_for("staff.cohort_staff", cohort_id=cohort_id)


def _assign_form(cohort_id: int, form: AssignForm | None = None) -> AssignForm:
    form = form or AssignForm(formdata=None)
    form.staff_user_id.choices = options(
        [("", "Choose a person")] + [(user.id, f"{user.name} ({user.email})")
                                     for user in staffing.assignable(cohort_id)])
    return form


def _staff_page(cohort_id: int, *, form: AssignForm | None = None, status: int = 200):
    detail = cohorts.cohort_for_staff(cohort_id)
    cohort = detail.cohort
    return render_template(
        "staff/cohorts/staff.html", cohort=cohort, program=cohort.program, detail=detail,
        staffing=staffing.staffing_of(cohort.id), team=staffing.team(cohort.id), role_labels=COHORT_ROLE_LABELS,
        form=_assign_form(cohort.id, form), confirm=ConfirmForm(),
    ), status


@staff_bp.route("/cohorts/<int:cohort_id>/staff", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def cohort_staff(cohort_id: int):
    cohorts.get_cohort(cohort_id)
    form = _assign_form(cohort_id, AssignForm())
    if not form.is_submitted():
        return _staff_page(cohort_id)
    if not form.validate():
        return _staff_page(cohort_id, form=form, status=422)
    return perform(lambda: staffing.assign(cohort_id, form.staff_user_id.data, form.role.data),
                   form=form, again=lambda: _staff_page(cohort_id, form=form, status=422), to=_staff_url(cohort_id),
                   done=lambda assigned: f"{assigned.staff_user.name} is assigned to these dates as "
                                         f"{COHORT_ROLE_LABELS[assigned.role].lower()}.")


@staff_bp.post("/cohorts/<int:cohort_id>/staff/<int:assignment_id>/remove")
@roles_required(*COORDINATION)
def cohort_staff_remove(cohort_id: int, assignment_id: int):
    cohorts.get_cohort(cohort_id)
    if not ConfirmForm().validate_on_submit():
        return perform(lambda: None, to=_staff_url(cohort_id), done="")
    return perform(lambda: staffing.unassign(cohort_id, assignment_id), to=_staff_url(cohort_id),
                   done=lambda removed: f"{removed.staff_user.name} is no longer assigned to these dates.")


# --- The venue's rooms --------------------------------------------------------------------------------------------

def _rooms_page(form: RoomForm | None = None, status: int = 200):
    return render_template("staff/rooms/list.html", rooms=rooms.list_rooms(),
                           form=form or RoomForm(formdata=None)), status


@staff_bp.route("/rooms", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def rooms_list():
    form = RoomForm()
    if not form.is_submitted():
        return _rooms_page()
    if not form.validate():
        return _rooms_page(form, 422)
    return perform(lambda: rooms.create_room(form.name.data, form.beds.data, form.active.data),
                   form=form, again=lambda: _rooms_page(form, 422), to=url_for("staff.rooms_list"),
                   done=lambda room: f"Room {room.name} added with {room.beds} bed{'s' if room.beds != 1 else ''}.")


def _room_page(room, form: RoomForm | None = None, status: int = 200):
    return render_template("staff/rooms/edit.html", room=room, form=form or RoomForm(formdata=None, obj=room),
                           upcoming=rooms.upcoming_use(room.id)), status


@staff_bp.route("/rooms/<int:room_id>", methods=["GET", "POST"])
@roles_required(*COORDINATION)
def room_edit(room_id: int):
    room = rooms.get_room(room_id)
    form = RoomForm()
    if not form.is_submitted():
        return _room_page(room)
    if not form.validate():
        return _room_page(room, form, 422)
    return perform(lambda: rooms.update_room(room.id, form.name.data, form.beds.data, form.active.data),
                   form=form, again=lambda: _room_page(rooms.get_room(room_id), form, 422),
                   to=url_for("staff.rooms_list"),
                   done=lambda changes: "Room saved." if changes else "Nothing had changed; nothing was saved.")


# --- A cohort's room placement ------------------------------------------------------------------------------------

def _placement_url(cohort_id: int) -> str:
    return url_for("staff.cohort_rooms", cohort_id=cohort_id)


def _place_form(board, reference: str, room_id: int | None, *, sent: bool = False) -> PlaceForm:
    form = PlaceForm(prefix=f"place-{reference}") if sent else PlaceForm(formdata=None, prefix=f"place-{reference}",
                                                                          room_id=room_id)
    form.room_id.choices = options([("", "Choose a room")] + [
        (row.room.id, row.choice_label) for row in board.rooms if row.room.active or row.room.id == room_id])
    return form


def _placement_page(cohort_id: int, *, sent: PlaceForm | None = None, sent_for: str | None = None,
                    status: int = 200):
    board = rooms.placement_board(cohort_id)
    forms = {guest.booking.reference: _place_form(board, guest.booking.reference,
                                                  guest.room.id if guest.room else None)
             for guest in board.guests}
    if sent is not None and sent_for in forms:
        sent.room_id.choices = forms[sent_for].room_id.choices
        forms[sent_for] = sent
    return render_template("staff/cohorts/rooms.html", board=board, cohort=board.cohort,
                           program=board.cohort.program, forms=forms, confirm=ConfirmForm(),
                           status_labels=BOOKING_STATUS_LABELS), status


@staff_bp.get("/cohorts/<int:cohort_id>/rooms")
@roles_required(*COORDINATION)
def cohort_rooms(cohort_id: int):
    return _placement_page(cohort_id)


@staff_bp.post("/cohorts/<int:cohort_id>/rooms/<reference>")
@roles_required(*COORDINATION)
def cohort_room_place(cohort_id: int, reference: str):
    board = rooms.placement_board(cohort_id)
    form = _place_form(board, reference, None, sent=True)

    def again():
        return _placement_page(cohort_id, sent=form, sent_for=reference, status=422)

    if not form.validate():
        return again()
    return perform(lambda: rooms.place(cohort_id, reference, form.room_id.data), form=form, again=again,
                   to=_placement_url(cohort_id),
                   done=lambda placed: f"{placed.booking.applicant_name} is in {placed.room.name}.")


@staff_bp.post("/cohorts/<int:cohort_id>/rooms/<reference>/remove")
@roles_required(*COORDINATION)
def cohort_room_remove(cohort_id: int, reference: str):
    cohorts.get_cohort(cohort_id)
    if not ConfirmForm().validate_on_submit():
        return perform(lambda: None, to=_placement_url(cohort_id), done="")
    return perform(lambda: rooms.unplace(cohort_id, reference), to=_placement_url(cohort_id),
                   done=lambda room: f"Taken out of {room}: {reference} has no room now.")
