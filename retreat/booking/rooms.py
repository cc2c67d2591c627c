"""Rooms: the venue's rooms with their beds, and who sleeps where.

Coordinators keep the list of rooms (name, beds, in use or not) and place each cohort's guests: a guest who booked a
shared room sleeps in a room with others, up to its beds; a guest who booked a private room has one to themselves.
Only guests whose seat is paid for (confirmed or paid in full) are placed, and only they take a bed: a cancelled
booking's bed is free at once, its placement kept as history.

A room is shared by every cohort whose nights overlap (two programs may run at the venue at once), so a bed is
counted over the overlapping cohorts, not one cohort. A placement is one locked unit of work: the cohort's lock (as
seats are taken, so a booking cannot change under it) and then the room's (PostgreSQL: a row lock, which serialises
placements of overlapping cohorts into one room; SQLite: the unit's write lock). Editing a room takes the room's lock
too, so its beds cannot be lowered under a placement. Every change is audited.

The roommate preference is asked at intake (the arrival area, above this one): it tells this module through
`roommate_preferences_from`, and the placement page shows it beside each guest.
"""

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from retreat.booking import availability
from retreat.booking.models import SEAT_TAKING_STATUSES, Booking
from retreat.booking.rooms_models import Room, RoomPlacement
from retreat.booking.states import BOOKING_STATUS_LABELS
from retreat.catalog.models import Cohort
from retreat.catalog.programs import CONTROL_CHARACTERS, CONTROL_CHARACTERS_MESSAGE, plural
from retreat.core import audit
from retreat.core.clock import now, today
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.pricing.rules import Bounds
from retreat.web.filters import long_date

BEDS = Bounds(1, 20)
NAME_MAX = 60
PLACED_LODGING = ("shared", "private")


# --- The rule -----------------------------------------------------------------------------------------------------

def placement_refusal(room_name: str, beds: int, lodging: str, others: list[str]) -> str | None:
    """Why a guest who booked `lodging` cannot sleep in this room beside `others` (the lodging each of the room's
    other guests on overlapping nights booked), or None when they can."""
    if lodging == "private" and others:
        return (f"{room_name} has {plural(len(others), 'guest', 'guests')} on these dates; a private room is for "
                "one guest alone.")
    if "private" in others:
        return f"{room_name} is another guest's private room on these dates."
    if len(others) >= beds:
        return f"Every bed of {room_name} is taken on these dates ({plural(beds, 'bed', 'beds')})."
    return None


def _overlapping(cohort: Cohort) -> sa.ColumnElement[bool]:
    """Cohorts sharing a night with `cohort` (nights run from the first day to the night before the last)."""
    return sa.or_(Cohort.id == cohort.id,
                  sa.and_(Cohort.start_date < cohort.end_date, Cohort.end_date > cohort.start_date))


def _occupants(room_id: int, cohort: Cohort) -> list[Booking]:
    """The guests with a paid seat placed in this room on nights of `cohort`."""
    return list(db.session.scalars(
        sa.select(Booking).join(RoomPlacement, RoomPlacement.booking_id == Booking.id)
        .join(Cohort, Cohort.id == Booking.cohort_id)
        .where(RoomPlacement.room_id == room_id, Booking.status.in_(SEAT_TAKING_STATUSES), _overlapping(cohort))
        .order_by(Booking.applicant_last_name, Booking.applicant_first_name, Booking.id)))


def _lock_room(room_id: object) -> Room | None:
    if not isinstance(room_id, int) or isinstance(room_id, bool):
        return None
    return db.session.scalar(sa.select(Room).where(Room.id == room_id).with_for_update()
                             .execution_options(populate_existing=True))


# --- The venue's rooms ------------------------------------------------------------------------------------------

def list_rooms() -> list[Room]:
    """Rooms in use first, then by name."""
    return list(db.session.scalars(sa.select(Room).order_by(Room.active.desc(), Room.name)))


def get_room(room_id: int) -> Room:
    room = db.session.get(Room, room_id)
    if room is None:
        raise NotFound("There is no such room.")
    return room


def _check_room(name: object, beds: object, *, room_id: int | None = None) -> tuple[str, int]:
    errors: dict[str, list[str]] = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = ["Give the room's name."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"Keep the name to {NAME_MAX} characters or fewer."]
    elif CONTROL_CHARACTERS.search(name):
        errors["name"] = [CONTROL_CHARACTERS_MESSAGE]
    elif db.session.scalar(sa.select(Room.id).where(sa.func.lower(Room.name) == name.lower(), Room.id != room_id)):
        errors["name"] = [f"There is a room named {name} already."]
    if beds is None:
        errors["beds"] = ["Give the number of beds."]
    elif isinstance(beds, bool) or not isinstance(beds, int):
        errors["beds"] = ["Give a whole number of beds."]
    elif beds not in BEDS:
        errors["beds"] = [f"A room has {BEDS.low} to {BEDS.high} beds."]
    if errors:
        raise ValidationFailed(errors)
    return name, beds


def create_room(name: object, beds: object, active: bool = True) -> Room:
    with unit_of_work():
        name, beds = _check_room(name, beds)
        room = Room(name=name, beds=beds, active=bool(active))
        db.session.add(room)
        db.session.flush()
        audit.record("room.create", "room", room.id, {"name": name, "beds": beds, "active": room.active})
    return room


@dataclass(frozen=True)
class Upcoming:
    """The busiest coming dates of a room: the most guests placed in it on overlapping nights."""

    guests: int
    cohort: Cohort | None


def upcoming_use(room_id: int) -> Upcoming:
    cohorts = db.session.scalars(
        sa.select(Cohort).join(Booking, Booking.cohort_id == Cohort.id)
        .join(RoomPlacement, RoomPlacement.booking_id == Booking.id)
        .where(RoomPlacement.room_id == room_id, Booking.status.in_(SEAT_TAKING_STATUSES),
               Cohort.end_date >= today()).distinct()).all()
    busiest = Upcoming(0, None)
    for cohort in sorted(cohorts, key=lambda c: (c.start_date, c.id)):
        guests = len(_occupants(room_id, cohort))
        if guests > busiest.guests:
            busiest = Upcoming(guests, cohort)
    return busiest


def update_room(room_id: int, name: object, beds: object, active: object) -> dict[str, dict]:
    """Rename a room, change its beds, take it out of use or back; returns what changed. Beds are not lowered
    below the guests placed in it for coming dates, nor is a room with coming guests taken out of use."""
    with unit_of_work():
        room = _lock_room(room_id)
        if room is None:
            raise NotFound("There is no such room.")
        name, beds = _check_room(name, beds, room_id=room.id)
        active = bool(active)
        busiest = upcoming_use(room.id)
        errors: dict[str, list[str]] = {}
        if busiest.guests and beds < busiest.guests:
            errors["beds"] = [f"{plural(busiest.guests, 'guest is', 'guests are')} placed in it for the dates from "
                              f"{long_date(busiest.cohort.start_date)}; move some to another room first."]
        if busiest.guests and not active and room.active:
            errors["active"] = ["Guests are placed in it for coming dates (from "
                                f"{long_date(busiest.cohort.start_date)}); move them to another room first."]
        if errors:
            raise ValidationFailed(errors)
        changes = {field: {"from": getattr(room, field), "to": value}
                   for field, value in (("name", name), ("beds", beds), ("active", active))
                   if getattr(room, field) != value}
        if changes:
            room.name, room.beds, room.active = name, beds, active
            audit.record("room.update", "room", room.id, {"changes": changes})
    return changes


# --- Placing a cohort's guests ----------------------------------------------------------------------------------

_roommate_source: Callable[[list[int]], dict[int, str]] | None = None


def roommate_preferences_from(source: Callable[[list[int]], dict[int, str]]) -> None:
    """The intake (arrival, above booking) registers where roommate preferences come from: booking ids in, each
    booking's preference in words out (only for those who gave one)."""
    global _roommate_source
    _roommate_source = source


def roommate_preferences(booking_ids: list[int]) -> dict[int, str]:
    """Each guest's roommate preference, for those who gave one (create_app registers the intake as the source)."""
    return {} if _roommate_source is None else _roommate_source(booking_ids)


@dataclass(frozen=True)
class GuestRow:
    booking: Booking
    room: Room | None
    preference: str | None


@dataclass(frozen=True)
class RoomRow:
    room: Room
    occupants: tuple[Booking, ...]  # on nights of this cohort, its own guests and those of overlapping dates

    @property
    def private(self) -> bool:
        return any(guest.lodging == "private" for guest in self.occupants)

    @property
    def free_beds(self) -> int:
        return 0 if self.private or not self.room.active else max(0, self.room.beds - len(self.occupants))

    @property
    def choice_label(self) -> str:
        if not self.room.active:
            return f"{self.room.name}: not in use"
        if self.private:
            return f"{self.room.name}: private, taken"
        if not self.occupants:
            return f"{self.room.name}: {plural(self.room.beds, 'bed', 'beds')} free"
        return f"{self.room.name}: {self.free_beds} of {self.room.beds} beds free"


@dataclass(frozen=True)
class Board:
    cohort: Cohort
    guests: tuple[GuestRow, ...]
    rooms: tuple[RoomRow, ...]

    @property
    def unplaced(self) -> int:
        return sum(1 for guest in self.guests if guest.room is None)

    @property
    def free_beds(self) -> int:
        return sum(row.free_beds for row in self.rooms)


def placement_board(cohort_id: int) -> Board:
    """The placement page: this cohort's guests with a paid seat and lodging, and every room with who is in it on
    these nights."""
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound("There is no such cohort.")
    guests = db.session.execute(
        sa.select(Booking, Room).outerjoin(RoomPlacement, RoomPlacement.booking_id == Booking.id)
        .outerjoin(Room, Room.id == RoomPlacement.room_id)
        .where(Booking.cohort_id == cohort.id, Booking.status.in_(SEAT_TAKING_STATUSES),
               Booking.lodging.in_(PLACED_LODGING))
        .order_by(Booking.lodging.desc(), Booking.applicant_last_name, Booking.applicant_first_name, Booking.id)
    ).all()
    preferences = roommate_preferences([booking.id for booking, _ in guests])
    rooms = tuple(RoomRow(room, tuple(_occupants(room.id, cohort))) for room in list_rooms())
    rows = tuple(GuestRow(booking, room, preferences.get(booking.id)) for booking, room in guests)
    return Board(cohort, rows, rooms)


def _guest(cohort: Cohort, reference: object) -> Booking:
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference,
                                                         Booking.cohort_id == cohort.id))
    if booking is None:
        raise NotFound("There is no such booking on these dates.")
    if booking.status not in SEAT_TAKING_STATUSES:
        raise DomainError(f"{booking.applicant_name} ({booking.reference}) is "
                          f"{BOOKING_STATUS_LABELS[booking.status].lower()}: only guests with a paid seat are placed "
                          "in rooms.", code="not_a_guest")
    return booking


def place(cohort_id: int, reference: str, room_id: object) -> RoomPlacement:
    """Put a guest of the cohort in a room (or move them to it), holding the cohort's lock and then the room's:
    two coordinators placing guests into the last bed at once get one placement and one refusal."""
    with unit_of_work():
        cohort = availability.lock_cohort(cohort_id)
        booking = _guest(cohort, reference)
        if booking.lodging not in PLACED_LODGING:
            raise DomainError(f"{booking.applicant_name} ({booking.reference}) booked without lodging.",
                              code="no_lodging")
        room = _lock_room(room_id)
        if room is None:
            raise ValidationFailed({"room_id": ["Choose a room."]})
        if not room.active:
            raise ValidationFailed({"room_id": [f"{room.name} is not in use; choose another room."]})
        placement = db.session.scalar(sa.select(RoomPlacement).where(RoomPlacement.booking_id == booking.id))
        if placement is not None and placement.room_id == room.id:
            return placement
        others = [guest.lodging for guest in _occupants(room.id, cohort) if guest.id != booking.id]
        reason = placement_refusal(room.name, room.beds, booking.lodging, others)
        if reason:
            raise ValidationFailed({"room_id": [reason]})
        previous = placement.room.name if placement is not None else None
        if placement is None:
            placement = RoomPlacement(booking_id=booking.id, room_id=room.id)
            db.session.add(placement)
        else:
            placement.room_id = room.id
            placement.placed_at = now()
        db.session.flush()
        audit.record("room.place", "booking", booking.reference, {
            "cohort": cohort.id, "room": room.name, "from": previous, "lodging": booking.lodging})
    return placement


def unplace(cohort_id: int, reference: str) -> str:
    """Take a guest out of their room (audited); returns the room's name."""
    with unit_of_work():
        cohort = availability.lock_cohort(cohort_id)
        booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference,
                                                             Booking.cohort_id == cohort.id))
        placement = booking and db.session.scalar(
            sa.select(RoomPlacement).where(RoomPlacement.booking_id == booking.id))
        if placement is None:
            raise NotFound("That guest is not in a room.")
        name = placement.room.name
        db.session.delete(placement)
        audit.record("room.unplace", "booking", booking.reference, {"cohort": cohort.id, "room": name})
    return name


# --- What other pages show --------------------------------------------------------------------------------------

def rooms_by_booking(booking_ids: list[int]) -> dict[int, str]:
    """The room of each of these bookings that holds a paid seat and is placed (the roster's column)."""
    if not booking_ids:
        return {}
    return dict(db.session.execute(
        sa.select(RoomPlacement.booking_id, Room.name).join(Room, Room.id == RoomPlacement.room_id)
        .join(Booking, Booking.id == RoomPlacement.booking_id)
        .where(RoomPlacement.booking_id.in_(booking_ids), Booking.status.in_(SEAT_TAKING_STATUSES))).all())


def personal_data(booking: Booking) -> dict:
    """What the applicant's data export shows of their room: its name and when they were placed ({} if none).
    The placement names no one else (roommates are not the applicant's data)."""
    row = db.session.execute(
        sa.select(Room.name, RoomPlacement.placed_at).join(Room, Room.id == RoomPlacement.room_id)
        .where(RoomPlacement.booking_id == booking.id)).first()
    if row is None:
        return {}
    return {"room": row.name, "placed_at": row.placed_at.isoformat()}


def erase_personal_data(booking: Booking) -> None:
    """The placement is the only thing held here about the applicant (which room they slept in): it goes. Flush
    only; the caller's unit of work commits."""
    db.session.execute(sa.delete(RoomPlacement).where(RoomPlacement.booking_id == booking.id))
    db.session.flush()

