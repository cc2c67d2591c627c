"""The coordinator's side of programs: create, edit, publish; what the console lists of each (its cohorts and seats
taken, as booking counts them through the catalog's seat counter). Cohorts: booking.cohorts.

Plain functions, no `request`. Each change validates everything first (ValidationFailed names every field at
fault), then writes and adds its audit entry in one unit of work; a refusal leaves nothing written.
"""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort, Program
from retreat.core import audit
from retreat.core.clock import today
from retreat.core.errors import NotFound, ValidationFailed
from retreat.core.transactions import after_commit, unit_of_work
from retreat.extensions import db
from retreat.pricing.estimator import validate_configuration
from retreat.pricing.rules import LODGING_KINDS
from retreat.web.filters import date_range


@dataclass(frozen=True)
class TextRule:
    max_length: int
    required_message: str | None = None  # None: the field may be empty


TEXT_RULES = {
    "name": TextRule(160, "Give the program a name."),
    "slug": TextRule(80, "Give the program's web address name."),
    "summary": TextRule(400, "Give a one or two sentence summary."),
    "description": TextRule(5000),
    "location": TextRule(160),
}


CONFIGURATION_FIELDS = ("duration_days", "ketamine_route", "dosing_sessions", "therapy_modality",
                        "integration_sessions", "intensive_sessions")


PROGRAM_FIELDS = (*TEXT_RULES, *CONFIGURATION_FIELDS, "lodging_options")


LONG_TEXT_FIELDS = ("summary", "description")


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


CONTROL_CHARACTERS_MESSAGE = "Remove the invisible control characters from this text (they often come with pasting)."


SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


SLUG_RULE = "Use lowercase letters, digits and single hyphens between them, for example iv-emdr-one-week."


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True)
class CohortSummary:
    cohort: Cohort
    taken: int  # confirmed plus live holds, as bookings count them

    @property
    def seats_left(self) -> int:
        return catalog.free_seats(self.cohort.capacity, self.taken)

    @property
    def is_past(self) -> bool:
        return self.cohort.end_date < today()


@dataclass(frozen=True)
class ProgramSummary:
    program: Program
    cohorts: tuple[CohortSummary, ...]  # every cohort, soonest first

    @property
    def upcoming(self) -> tuple[CohortSummary, ...]:
        return tuple(c for c in self.cohorts if not c.is_past and c.cohort.status != "cancelled")


def _summaries(programs: list[Program]) -> list[ProgramSummary]:
    taken = catalog.seats_taken([cohort.id for program in programs for cohort in program.cohorts])
    return [
        ProgramSummary(program, tuple(CohortSummary(c, taken.get(c.id, 0)) for c in program.cohorts))
        for program in programs
    ]


def list_programs_for_staff() -> list[ProgramSummary]:
    """Every program, published first then by name, with its cohorts and seats taken (two queries)."""
    programs = db.session.scalars(
        sa.select(Program).options(selectinload(Program.cohorts))
        .order_by(Program.published.desc(), Program.name, Program.id)
    ).all()
    return _summaries(list(programs))


def get_program(program_id: int) -> Program:
    program = db.session.get(Program, program_id)
    if program is None:
        raise NotFound("There is no such program.")
    return program


def program_for_staff(program_id: int) -> ProgramSummary:
    return _summaries([get_program(program_id)])[0]


def suggest_slug(name: str) -> str:
    """A web address name from a program name: `IV Ketamine & EMDR` -> `iv-ketamine-emdr`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
    return slug[:TEXT_RULES["slug"].max_length].rstrip("-")


def _slug_taken(slug: str, other_than: int | None) -> bool:
    query = sa.select(Program.id).where(Program.slug == slug)
    if other_than is not None:
        query = query.where(Program.id != other_than)
    return db.session.scalar(query) is not None


def _clean_program(values: Mapping[str, object], program: Program | None) -> dict:
    """Check every field of a program at once; return the clean values or raise ValidationFailed."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, object] = {}

    def refuse(field: str, reason: str) -> None:
        errors.setdefault(field, []).append(reason)

    for field, rule in TEXT_RULES.items():
        value = values.get(field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            refuse(field, "Give text.")
            continue
        value = value.strip()
        if field == "slug" and not value and program is None and isinstance(values.get("name"), str):
            value = suggest_slug(values["name"])
        if CONTROL_CHARACTERS.search(value):
            refuse(field, CONTROL_CHARACTERS_MESSAGE)
        elif not value and rule.required_message:
            refuse(field, rule.required_message)
        elif len(value) > rule.max_length:
            refuse(field, f"Keep it to {rule.max_length} characters or fewer (it has {len(value)}).")
        clean[field] = value

    slug = clean.get("slug")
    if slug and "slug" not in errors:
        if not SLUG_PATTERN.fullmatch(slug):
            refuse("slug", SLUG_RULE)
        elif program is not None and program.published and slug != program.slug:
            refuse("slug", "Unpublish the program before changing its web address name: links and estimates "
                           "already shared use the current one.")
        elif _slug_taken(slug, program.id if program else None):
            refuse("slug", f"Another program uses “{slug}” already; choose another.")

    try:
        configuration = validate_configuration(
            {field: values.get(field) for field in CONFIGURATION_FIELDS} | {"lodging": "none"})
    except ValidationFailed as refusal:
        for field, reasons in refusal.fields.items():
            for reason in reasons:
                refuse(field, reason)
    else:
        clean.update({field: getattr(configuration, field) for field in CONFIGURATION_FIELDS})
        if (program is not None and configuration.duration_days != program.duration_days
                and (reason := length_fixed_by(program))):
            refuse("duration_days", reason)

    lodging = values.get("lodging_options")
    if isinstance(lodging, str) or not isinstance(lodging, list | tuple | set | frozenset):
        refuse("lodging_options", "Choose the lodging options this program offers.")
    elif not lodging:
        refuse("lodging_options", "Choose at least one lodging option.")
    elif unknown := sorted(str(kind) for kind in lodging if kind not in LODGING_KINDS):
        refuse("lodging_options", f"Unknown lodging option: {', '.join(unknown)}. "
                                  f"Choose from {', '.join(LODGING_KINDS)}.")
    else:
        clean["lodging_options"] = [kind for kind in LODGING_KINDS if kind in lodging]  # display order

    if errors:
        raise ValidationFailed(errors)
    return clean


def length_fixed_by(program: Program) -> str | None:
    """Why the program's length cannot change now, or None: each cohort lasts its program's length and a booking
    is priced by it, so the length changes only while no dates lie ahead (not ended, not cancelled)."""
    ahead = [cohort for cohort in program.cohorts if cohort.status != "cancelled" and cohort.end_date >= today()]
    if not ahead:
        return None
    first = ahead[0]
    return (f"{plural(len(ahead), 'group of dates lies', 'groups of dates lie')} ahead, each of "
            f"{program.duration_days} days (the first {date_range(first.start_date, first.end_date)}). The length "
            "cannot change while they do: applicants book and are priced by it. Cancel those dates first, or "
            "create a new program with the new length.")


def program_problems(values: Mapping[str, object], program_id: int | None = None) -> dict[str, list[str]]:
    """What is wrong with these values for a new program (or for `program_id`), saving nothing. Lets a form
    that failed to parse some fields still show every other problem at once."""
    program = get_program(program_id) if program_id is not None else None
    try:
        _clean_program(values, program)
    except ValidationFailed as refusal:
        return refusal.fields
    return {}


@contextmanager
def _slug_refused_when_taken(slug: str, program_id: int | None) -> Iterator[None]:
    """Around a program's unit of work: a slug taken by a concurrent save (the unique index refuses it between our
    check and our commit) becomes a refusal on the slug field; the unit has rolled everything back."""
    try:
        yield
    except IntegrityError:
        if _slug_taken(slug, program_id):
            raise ValidationFailed({"slug": [f"Another program uses “{slug}” already; choose another."]}) \
                from None
        raise


def create_program(values: Mapping[str, object]) -> Program:
    """A new program, unpublished: add its dates, then publish it. One unit of work."""
    clean = _clean_program(values, None)
    program = Program(published=False, **clean)
    with _slug_refused_when_taken(program.slug, None), unit_of_work():
        db.session.add(program)
        db.session.flush()
        audit.record("program.create", "program", program.id, {
            "slug": program.slug, "name": program.name,
            **{field: clean[field] for field in CONFIGURATION_FIELDS},
            "lodging_options": clean["lodging_options"],
        })
        after_commit(catalog.forget_cached_catalog)
    return program


def update_program(program_id: int, values: Mapping[str, object]) -> dict[str, object]:
    """Save a program's fields; returns what changed ({} when nothing did: no write, no audit entry). One unit of
    work, from reading the program to the audit entry.

    Bookings already made keep their price and lodging. The length (duration_days) changes only while the
    program has no dates ahead: each cohort lasts its program's length (booking.cohorts), so a new length would
    leave them wrong.
    """
    slug = values.get("slug") if isinstance(values.get("slug"), str) else ""
    with _slug_refused_when_taken(slug.strip(), program_id), unit_of_work():
        program = get_program(program_id)
        clean = _clean_program(values, program)
        changes = {}
        for field, value in clean.items():
            if getattr(program, field) != value:
                changes[field] = "changed" if field in LONG_TEXT_FIELDS else {"from": getattr(program, field),
                                                                             "to": value}
        if changes:
            for field in changes:
                setattr(program, field, clean[field])
            audit.record("program.update", "program", program.id, {"changes": changes})
            after_commit(catalog.forget_cached_catalog)
    return changes


def set_published(program_id: int, published: bool) -> bool:
    """Publish or unpublish a program; returns False when it already was (no write, no audit entry).

    Unpublishing hides the program and its dates from the public catalog; bookings already made stay as they
    are.
    """
    with unit_of_work():
        program = get_program(program_id)
        if program.published == published:
            return False
        program.published = published
        audit.record("program.publish" if published else "program.unpublish", "program", program.id,
                     {"slug": program.slug})
        after_commit(catalog.forget_cached_catalog)
    return True
