"""Discount codes: what staff create, edit, deactivate and read the uses of, and what an applicant's code is worth.

A code is checked twice: `check_code` before the booking's lock (so a bad code is named with the form's other
errors, and nothing is held), and `take_use` inside the booking's unit of work, where one conditional UPDATE
(`uses = uses + 1 WHERE uses < max_uses`) takes a use or finds none left: of two bookings racing for the last
use of a code, one gets it and the other is refused and rolls back (on PostgreSQL the second UPDATE waits for the
first's row lock and re-reads the row; SQLite serialises the writers).

A booking that ends without having been paid (its hold expired or was released, a clinician declined it, it was
cancelled before any payment) gives its use back (`give_back`, called by booking's one state function): a
script holding seats with a scholarship code cannot burn its uses. A booking that was paid keeps its use even if
it is cancelled later.

Plain functions, no `request`. Staff changes validate everything first (ValidationFailed names every field),
then write and audit in one unit of work.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from retreat.catalog.models import DiscountCode, DiscountUse, Program
from retreat.core import audit
from retreat.core.clock import now, today
from retreat.core.errors import NotFound, ValidationFailed
from retreat.core.money import format_usd
from retreat.core.transactions import unit_of_work
from retreat.extensions import db
from retreat.pricing import estimator

FIELD = "promo_code"  # the name an applicant's code goes by in the API, the forms and every refusal
CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]{2,39}")
MAX_AMOUNT_CENTS = 10_000_000  # $100,000: more than any program costs
MAX_USES = 1_000_000

NOT_VALID = "This code is not valid. Check it, or book without a code."


def canonical(code: object) -> str:
    """A code as stored: without surrounding spaces, upper-case (codes are case-insensitive)."""
    return code.strip().upper() if isinstance(code, str) else ""


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed({FIELD: [message]})


@dataclass(frozen=True)
class Discount:
    """A checked code, for one booking or estimate."""

    id: int
    code: str
    percent_off: int | None
    amount_off_cents: int | None

    def cents_off(self, list_cents: int) -> int:
        return estimator.discount_off(list_cents, percent=self.percent_off, amount_cents=self.amount_off_cents)

    @property
    def words(self) -> str:
        """"20% off" or "$500 off"."""
        if self.percent_off is not None:
            return f"{self.percent_off}% off"
        return f"{format_usd(self.amount_off_cents)} off"


def _as_discount(row: DiscountCode) -> Discount:
    return Discount(row.id, row.code, row.percent_off, row.amount_off_cents)


def check_code(raw: object, program: int | str) -> Discount:
    """The discount an applicant's code gives on a program (its id, or its slug) today, or ValidationFailed
    naming `promo_code`: an
    unknown or inactive code (alike, so a guess learns nothing of codes switched off), one not valid yet or
    expired, used up, or not for this program. Reads only."""
    code = canonical(raw)
    if not CODE_PATTERN.fullmatch(code):
        raise _refuse(NOT_VALID)
    row = db.session.scalar(sa.select(DiscountCode).where(DiscountCode.code == code))
    if row is None or not row.active:
        raise _refuse(NOT_VALID)
    day = today()
    if row.valid_from is not None and day < row.valid_from:
        raise _refuse("This code cannot be used yet.")
    if row.valid_until is not None and day > row.valid_until:
        raise _refuse("This code has expired.")
    if row.max_uses is not None and row.uses >= row.max_uses:
        raise _refuse("This code has been used as many times as it allows.")
    if row.programs and program not in {p.slug if isinstance(program, str) else p.id for p in row.programs}:
        raise _refuse("This code is not for this program.")
    return _as_discount(row)


def take_use(discount: Discount, *, booking_id: int, booking_reference: str, discount_cents: int) -> None:
    """Take one use of the code for a booking, atomically, in the caller's unit of work: the code must still be
    active and have a use left when the UPDATE runs, or ValidationFailed names `promo_code` (the caller's unit
    rolls back: nothing is held)."""
    taken = db.session.execute(
        sa.update(DiscountCode)
        .where(DiscountCode.id == discount.id, DiscountCode.active.is_(True),
               sa.or_(DiscountCode.max_uses.is_(None), DiscountCode.uses < DiscountCode.max_uses))
        .values(uses=DiscountCode.uses + 1)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise _refuse("This code has just been used as many times as it allows.")
    db.session.add(DiscountUse(discount_code_id=discount.id, booking_id=booking_id,
                               booking_reference=booking_reference, discount_cents=discount_cents))
    db.session.flush()


def give_back(booking_id: int) -> bool:
    """The booking ended unpaid: its use of a code (if it took one) counts no more. Once only. In the caller's
    unit of work."""
    use = db.session.scalar(sa.select(DiscountUse).where(DiscountUse.booking_id == booking_id,
                                                         DiscountUse.returned_at.is_(None)))
    if use is None:
        return False
    use.returned_at = now()
    db.session.execute(
        sa.update(DiscountCode).where(DiscountCode.id == use.discount_code_id, DiscountCode.uses > 0)
        .values(uses=DiscountCode.uses - 1).execution_options(synchronize_session=False))
    db.session.flush()
    return True


# --- Staff: list, create, edit, deactivate, uses -------------------------------------------------------------

@dataclass(frozen=True)
class CodeValues:
    """What staff set on a code, checked."""

    code: str
    percent_off: int | None
    amount_off_cents: int | None
    program_ids: tuple[int, ...]
    valid_from: date | None
    valid_until: date | None
    max_uses: int | None


def check_values(values: Mapping[str, object], *, current: DiscountCode | None = None) -> CodeValues:
    """Staff's values for a code (create, or edit `current`), each refusal naming its field: code, percent_off,
    amount_off_cents (exactly one of the two), programs, valid_from, valid_until, max_uses."""
    errors: dict[str, list[str]] = {}
    code = current.code if current is not None else canonical(values.get("code"))
    if current is None:
        if not code:
            errors["code"] = ["Give the code applicants will type."]
        elif not CODE_PATTERN.fullmatch(code):
            errors["code"] = ["Use 3 to 40 letters, digits, dashes or underscores, starting with a letter or digit."]
        elif db.session.scalar(sa.select(DiscountCode.id).where(DiscountCode.code == code)) is not None:
            errors["code"] = [f"There is a code {code} already. Codes are the same however they are capitalised."]
    percent, amount = values.get("percent_off"), values.get("amount_off_cents")
    if (percent is None) == (amount is None):
        errors["percent_off"] = ["Give either a percentage off or an amount off, not both."]
    elif percent is not None and (not isinstance(percent, int) or not 1 <= percent <= 100):
        errors["percent_off"] = ["Give a whole percentage from 1 to 100."]
    elif amount is not None and (not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT_CENTS):
        errors["amount_off_cents"] = [f"Give an amount from $0.01 to {format_usd(MAX_AMOUNT_CENTS)}."]
    program_ids = tuple(sorted(set(values.get("program_ids") or ())))
    if program_ids:
        known = set(db.session.scalars(sa.select(Program.id).where(Program.id.in_(program_ids))))
        if known != set(program_ids):
            errors["programs"] = ["Choose programs from the list."]
    valid_from, valid_until = values.get("valid_from"), values.get("valid_until")
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        errors["valid_until"] = ["The last day comes before the first."]
    max_uses = values.get("max_uses")
    if max_uses is not None:
        used = current.uses if current is not None else 0
        if not isinstance(max_uses, int) or not 1 <= max_uses <= MAX_USES:
            errors["max_uses"] = ["Give a whole number of uses of at least 1, or leave it empty for no limit."]
        elif max_uses < used:
            errors["max_uses"] = [f"This code is used by {used} booking(s) already: allow at least {used}."]
    if errors:
        raise ValidationFailed(errors)
    return CodeValues(code, percent, amount, program_ids, valid_from, valid_until, max_uses)


def programs_by_slug(slugs: Iterable[str]) -> list[int]:
    """Program ids of slugs (the command line's --program); ValidationFailed names `programs` for an unknown one."""
    slugs = list(dict.fromkeys(slugs))
    found = dict(db.session.execute(sa.select(Program.slug, Program.id).where(Program.slug.in_(slugs))).all())
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise ValidationFailed({"programs": [f"There is no program {', '.join(unknown)}."]})
    return [found[slug] for slug in slugs]


def _summary(row: DiscountCode) -> dict:
    """A code's settings as the audit log shows them (money in dollars)."""
    return {
        "code": row.code,
        "off": f"{row.percent_off}%" if row.percent_off is not None else format_usd(row.amount_off_cents),
        "programs": [program.slug for program in row.programs] or "all",
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "max_uses": row.max_uses,
        "active": row.active,
    }


def _apply(row: DiscountCode, checked: CodeValues) -> None:
    row.percent_off, row.amount_off_cents = checked.percent_off, checked.amount_off_cents
    row.valid_from, row.valid_until, row.max_uses = checked.valid_from, checked.valid_until, checked.max_uses
    row.programs = list(db.session.scalars(sa.select(Program).where(Program.id.in_(checked.program_ids)))) \
        if checked.program_ids else []


def create_code(values: Mapping[str, object], *, actor=None) -> DiscountCode:
    """A new active code (audited). ValidationFailed names each bad field; a code taken meanwhile too."""
    try:
        with unit_of_work():
            checked = check_values(values)
            row = DiscountCode(code=checked.code, uses=0, active=True)
            _apply(row, checked)
            db.session.add(row)
            db.session.flush()
            audit.record("discount_code.create", "discount_code", row.code, _summary(row), actor=actor)
    except IntegrityError:
        raise ValidationFailed({"code": [f"There is a code {checked.code} already."]}) from None
    return row


def update_code(code_id: int, values: Mapping[str, object], *, actor=None) -> dict:
    """Change a code's settings (not its text, which bookings quote): for bookings made from now on. Returns what
    changed (audited); nothing when nothing did."""
    with unit_of_work():
        row = get_code(code_id)
        before = _summary(row)
        _apply(row, check_values(values, current=row))
        after = _summary(row)
        changes = {name: [before[name], after[name]] for name in before if before[name] != after[name]}
        if changes:
            audit.record("discount_code.update", "discount_code", row.code, {"changes": changes}, actor=actor)
    return changes


def set_active(code_id: int, active: bool, *, actor=None) -> bool:
    """Deactivate a code (refused from then on; bookings made with it keep their price) or activate it again.
    False when it was so already."""
    with unit_of_work():
        row = get_code(code_id)
        if row.active == active:
            return False
        row.active = active
        audit.record("discount_code.activate" if active else "discount_code.deactivate", "discount_code",
                     row.code, actor=actor)
    return True


def get_code(code_id: int) -> DiscountCode:
    row = db.session.get(DiscountCode, code_id)
    if row is None:
        raise NotFound("There is no such discount code.")
    return row


def program_choices() -> list[tuple[int, str]]:
    """Every program a code may be limited to, published first, by name: (id, name)."""
    return [(row.id, row.name) for row in db.session.execute(
        sa.select(Program.id, Program.name).order_by(Program.published.desc(), Program.name, Program.id))]


def list_codes() -> list[DiscountCode]:
    return list(db.session.scalars(sa.select(DiscountCode).order_by(DiscountCode.active.desc(), DiscountCode.code)))


def uses_of(code_id: int) -> list[DiscountUse]:
    """The bookings that took a use of the code, newest first; those that gave it back too (`returned_at`)."""
    return list(db.session.scalars(sa.select(DiscountUse).where(DiscountUse.discount_code_id == code_id)
                                   .order_by(DiscountUse.used_at.desc(), DiscountUse.id.desc())))


def state_of(row: DiscountCode) -> str:
    """In words, for the console: active, inactive, not yet valid, expired or used up."""
    day = today()
    if not row.active:
        return "Inactive"
    if row.valid_until is not None and day > row.valid_until:
        return "Expired"
    if row.valid_from is not None and day < row.valid_from:
        return "Not valid yet"
    if row.max_uses is not None and row.uses >= row.max_uses:
        return "Used up"
    return "Active"


def take_back(booking_id: int) -> bool:
    """A booking that gave its use back is paid after all (a deposit that arrived after its hold lapsed, taken
    because a seat was still free): the money came at the discounted price, so the use counts again, even past
    the code's maximum (the clinic honours a price it quoted; the console shows the count)."""
    use = db.session.scalar(sa.select(DiscountUse).where(DiscountUse.booking_id == booking_id,
                                                         DiscountUse.returned_at.is_not(None)))
    if use is None:
        return False
    use.returned_at = None
    db.session.execute(
        sa.update(DiscountCode).where(DiscountCode.id == use.discount_code_id)
        .values(uses=DiscountCode.uses + 1).execution_options(synchronize_session=False))
    db.session.flush()
    return True
