"""Staffing: the clinicians and therapists assigned to a cohort, and the seats-per-therapist ratio that caps its
capacity.

A person is a staff account with the clinician role (account roles say what someone may see: clinical staff see
health data); what they do in one cohort is its cohort role, `clinician` (the prescriber, the medical lead) or
`therapist` (sits with the guests; counts for the ratio). So no new account role, and one person can be a
therapist in one cohort and the clinician in another.

The cap: a cohort with at least one therapist has at most SEATS_PER_THERAPIST (default 4) seats per therapist. A
cohort with no therapist yet is *unstaffed*: dates are planned and opened to bookings months before the clinic
schedules who works them, so the cap applies from the first therapist on (the cohort's pages say so plainly and
show what its seats will need). From then on:

- the capacity console refuses to raise the seats above ratio × therapists (lowering is always allowed);
- unassigning a therapist is refused when the seats taken would need more therapists than would remain (so a
  cohort with seats taken never goes back to unstaffed);
- a cohort whose seats exceed what its therapists cover (staffing under way) is shown as short of therapists.

Assignments and removals run holding the cohort's lock (availability.changing_cohort), as capacity changes and
bookings do, so the seats counted cannot change under them; each is audited.
"""

from dataclasses import dataclass
from math import ceil

import sqlalchemy as sa
from flask import current_app

from retreat.booking import availability
from retreat.booking.staffing_models import COHORT_ROLE_LABELS, COHORT_ROLES, CohortStaff
from retreat.catalog.programs import plural
from retreat.core import audit
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.extensions import db
from retreat.staff.models import StaffUser

# The account role a person needs to be assigned (clinical staff, who may see the guests' health data).
ASSIGNABLE_ACCOUNT_ROLE = "clinician"


def seats_per_therapist() -> int:
    return int(current_app.config.get("SEATS_PER_THERAPIST") or 4)


@dataclass(frozen=True)
class Staffing:
    ratio: int  # seats per therapist
    therapists: int
    clinicians: int

    @property
    def staffed(self) -> bool:
        """At least one therapist: from then on the ratio caps the seats."""
        return self.therapists > 0

    @property
    def cap(self) -> int | None:
        """The most seats the assigned therapists can care for; None while unstaffed (no cap yet)."""
        return self.ratio * self.therapists if self.staffed else None

    def therapists_for(self, seats: int) -> int:
        return ceil(seats / self.ratio) if seats > 0 else 0

    @property
    def sum_words(self) -> str:
        """"4 seats per therapist × 2 therapists = 8"."""
        return (f"{plural(self.ratio, 'seat', 'seats')} per therapist × "
                f"{plural(self.therapists, 'therapist', 'therapists')} = {self.ratio * self.therapists}")

    def short_of(self, capacity: int) -> int:
        """Therapists still to assign for `capacity` seats (0 when enough, or while unstaffed)."""
        return max(0, self.therapists_for(capacity) - self.therapists) if self.staffed else 0


def staffing_of(cohort_id: int) -> Staffing:
    counts = dict(db.session.execute(
        sa.select(CohortStaff.role, sa.func.count()).where(CohortStaff.cohort_id == cohort_id)
        .group_by(CohortStaff.role)).all())
    return Staffing(seats_per_therapist(), counts.get("therapist", 0), counts.get("clinician", 0))


def staffing_by_cohort(cohort_ids: list[int]) -> dict[int, Staffing]:
    ratio = seats_per_therapist()
    found = {cohort_id: {"therapist": 0, "clinician": 0} for cohort_id in cohort_ids}
    if cohort_ids:
        for cohort_id, role, count in db.session.execute(
                sa.select(CohortStaff.cohort_id, CohortStaff.role, sa.func.count())
                .where(CohortStaff.cohort_id.in_(cohort_ids)).group_by(CohortStaff.cohort_id, CohortStaff.role)):
            found[cohort_id][role] = count
    return {cohort_id: Staffing(ratio, roles["therapist"], roles["clinician"]) for cohort_id, roles in found.items()}


def refuse_capacity_over_cap(cohort_id: int, seats: int, previous: int) -> None:
    """The capacity console's rule (call it holding the cohort's lock): a raise above ratio × therapists of a
    staffed cohort is refused, the reason naming the numbers. Lowering is always allowed: it moves toward the cap."""
    staffing = staffing_of(cohort_id)
    if staffing.staffed and seats > staffing.cap and seats > previous:
        raise ValidationFailed({"capacity": [
            f"{staffing.sum_words}; assign another therapist to raise it."]})


def team(cohort_id: int) -> list[CohortStaff]:
    """The people assigned, clinicians first, then therapists, by name."""
    rows = db.session.scalars(
        sa.select(CohortStaff).join(StaffUser, StaffUser.id == CohortStaff.staff_user_id)
        .where(CohortStaff.cohort_id == cohort_id)).all()
    return sorted(rows, key=lambda row: (COHORT_ROLES.index(row.role), row.staff_user.name.casefold(), row.id))


def assignable(cohort_id: int) -> list[StaffUser]:
    """Active accounts with the clinician role not yet assigned to this cohort, by name."""
    taken = sa.select(CohortStaff.staff_user_id).where(CohortStaff.cohort_id == cohort_id)
    users = db.session.scalars(sa.select(StaffUser).where(StaffUser.active.is_(True), StaffUser.id.not_in(taken)))
    return sorted((user for user in users if ASSIGNABLE_ACCOUNT_ROLE in (user.roles or [])),
                  key=lambda user: (user.name.casefold(), user.id))


def _refuse_if_cancelled(cohort) -> None:
    if cohort.status == "cancelled":
        raise DomainError("These dates are cancelled; their staffing can no longer change.",
                          code="cohort_cancelled")


def assign(cohort_id: int, staff_user_id: object, role: object) -> CohortStaff:
    """Assign a clinical staff account to a cohort with a cohort role (audited)."""
    errors: dict[str, list[str]] = {}
    if role not in COHORT_ROLES:
        errors["role"] = ["Choose clinician or therapist."]
    user = db.session.get(StaffUser, staff_user_id) if isinstance(staff_user_id, int) else None
    if user is None:
        errors["staff_user_id"] = ["Choose a person."]
    elif not user.active or ASSIGNABLE_ACCOUNT_ROLE not in (user.roles or []):
        errors["staff_user_id"] = [f"{user.name} cannot be assigned: only active accounts with the clinician role "
                                   "can."]
    if errors:
        raise ValidationFailed(errors)
    with availability.changing_cohort(cohort_id) as cohort:
        _refuse_if_cancelled(cohort)
        already = db.session.scalar(sa.select(CohortStaff).where(
            CohortStaff.cohort_id == cohort.id, CohortStaff.staff_user_id == user.id))
        if already is not None:
            raise ValidationFailed({"staff_user_id": [
                f"{user.name} is assigned already, as {COHORT_ROLE_LABELS[already.role].lower()}."]})
        assignment = CohortStaff(cohort_id=cohort.id, staff_user_id=user.id, role=role)
        db.session.add(assignment)
        db.session.flush()
        staffing = staffing_of(cohort.id)
        audit.record("cohort.staff_assign", "cohort", cohort.id, {
            "staff_user": user.email, "role": role, "therapists": staffing.therapists,
            "seats": cohort.capacity, "cap": staffing.cap})
    return assignment


def unassign(cohort_id: int, assignment_id: int) -> CohortStaff:
    """Remove a person from a cohort (audited). A therapist is kept while the seats taken need them: the reason
    names the numbers."""
    with availability.changing_cohort(cohort_id) as cohort:
        _refuse_if_cancelled(cohort)
        assignment = db.session.get(CohortStaff, assignment_id)
        if assignment is None or assignment.cohort_id != cohort.id:
            raise NotFound("That person is not assigned to these dates.")
        staffing = staffing_of(cohort.id)
        name = assignment.staff_user.name
        if assignment.role == "therapist":
            taken = availability.seats_taken([cohort.id]).get(cohort.id, 0)
            need = staffing.therapists_for(taken)
            if staffing.therapists - 1 < need:
                raise DomainError(
                    f"{name} cannot be removed: {plural(taken, 'seat is', 'seats are')} taken, which "
                    f"{'needs' if need == 1 else 'need'} {plural(need, 'therapist', 'therapists')} at "
                    f"{plural(staffing.ratio, 'seat', 'seats')} per therapist, and "
                    f"{plural(staffing.therapists - 1, 'therapist', 'therapists')} would remain. Assign another "
                    "therapist first.", code="therapist_needed")
        db.session.delete(assignment)
        audit.record("cohort.staff_unassign", "cohort", cohort.id, {
            "staff_user": assignment.staff_user.email, "role": assignment.role,
            "therapists": staffing.therapists - (assignment.role == "therapist")})
    return assignment
