"""Staff: the price list's versions, and editing it as a new version.

A version is never edited. `create_price_list_version` copies the newest version with the staff's edits into
version N+1, audits the differences and commits once; estimates and bookings made before keep the version
they name (see pricing.services: an issued estimate recomputes under its own version).

Edits come as text, the way staff type them. Field names (shared with the form, so a refusal lands next to
its field):
  deposit_percent, deposit_minimum, balance_due_days, band_min, band_max   the policy numbers
  price_<code>, label_<code>, hsa_<code>                                   one item of the price list
Money is typed in dollars ("600", "600.50", "$1,200") and stored as integer cents, exactly.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from blinker import Namespace
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from retreat.core import audit
from retreat.core.audit import AuditEntry
from retreat.core.errors import DomainError, NotFound, ValidationFailed
from retreat.core.money import format_usd
from retreat.core.transactions import after_commit, unit_of_work
from retreat.extensions import db
from retreat.pricing import estimator
from retreat.pricing.models import PriceList, PriceListItem

AUDIT_ACTION = "price_list.create"

MAX_CENTS = 100_000_00  # no unit price, deposit or band edge of a 1–2 week retreat comes near $100,000
MAX_BALANCE_DUE_DAYS = 365
LABEL_MAX = 200  # PriceListItem.label
NOTE_MAX = 400  # PriceList.note

# Policy fields: form name -> (model attribute, kind, what staff call it).
POLICY_FIELDS = {
    "deposit_percent": ("deposit_percent", "percent", "Deposit percent"),
    "deposit_minimum": ("deposit_minimum_cents", "money", "Minimum deposit"),
    "balance_due_days": ("balance_due_days_before_start", "days", "Balance due (days before start)"),
    "band_min": ("band_min_cents", "money", "Lowest usual total"),
    "band_max": ("band_max_cents", "money", "Highest usual total"),
}
# Item fields: form name prefix -> (model attribute, kind).
ITEM_FIELDS = (("price", "unit_cents", "money"), ("label", "label", "text"),
               ("hsa", "hsa_fsa_eligible", "flag"))


class PriceListChanged(DomainError):
    """Another version was saved after the form was opened: saving would silently undo it."""

    status = 409
    code = "price_list_changed"


# --- Reading ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    key: str  # e.g. "deposit_percent" or "dosing_iv.unit_cents", as in the audit entry
    label: str  # in words, for people
    kind: str  # money | percent | days | text | flag
    before: object
    after: object

    def shown(self, value: object) -> str:
        if self.kind == "money":
            return format_usd(value)
        if self.kind == "percent":
            return f"{value}%"
        if self.kind == "days":
            return f"{value} days"
        if self.kind == "flag":
            return "yes" if value else "no"
        return str(value)


@dataclass(frozen=True)
class VersionSummary:
    version: int
    note: str
    created_at: datetime
    created_by: str | None  # the staff email from the audit log; None for the seeded defaults
    current: bool


@dataclass(frozen=True)
class PriceListDetail:
    price_list: PriceList
    created_by: str | None
    current: bool
    previous_version: int | None
    changes: list[Change] = field(default_factory=list)  # from the previous version


def newest_price_list() -> PriceList:
    """The newest version with its items (NotFound before any price list is loaded)."""
    price_list = db.session.scalar(
        sa.select(PriceList).options(selectinload(PriceList.items)).order_by(PriceList.version.desc()).limit(1)
    )
    if price_list is None:
        raise NotFound("There is no price list yet: run `flask pricing init`.")
    return price_list


def _authors(versions: list[int] | None = None) -> dict[str, str]:
    """Who saved each version (target id -> staff email), from the audit log."""
    query = sa.select(AuditEntry.target_id, AuditEntry.actor_email).where(AuditEntry.action == AUDIT_ACTION)
    if versions is not None:
        query = query.where(AuditEntry.target_id.in_([str(v) for v in versions]))
    return dict(db.session.execute(query.order_by(AuditEntry.id)).all())


def list_price_lists() -> list[VersionSummary]:
    """Every version, newest first, with who saved it when."""
    rows = db.session.execute(
        sa.select(PriceList.version, PriceList.note, PriceList.created_at).order_by(PriceList.version.desc())
    ).all()
    authors = _authors()
    return [VersionSummary(version, note, created_at, authors.get(str(version)), index == 0)
            for index, (version, note, created_at) in enumerate(rows)]


def price_list_detail(version: int) -> PriceListDetail:
    """One version with its items, who saved it, and what changed from the version before it."""
    price_list = db.session.scalar(
        sa.select(PriceList).options(selectinload(PriceList.items)).where(PriceList.version == version)
    )
    if price_list is None:
        raise NotFound(f"There is no price list version {version}.")
    previous = db.session.scalar(
        sa.select(PriceList).options(selectinload(PriceList.items))
        .where(PriceList.version < version).order_by(PriceList.version.desc()).limit(1)
    )
    newest = db.session.scalar(sa.select(sa.func.max(PriceList.version)))
    return PriceListDetail(
        price_list=price_list,
        created_by=_authors([version]).get(str(version)),
        current=version == newest,
        previous_version=previous.version if previous else None,
        changes=_changes(_draft_of(previous), _draft_of(price_list)) if previous else [],
    )


def form_values(price_list: PriceList) -> dict[str, object]:
    """A version as the edit form shows it: money in dollars, the rest as typed."""
    values: dict[str, object] = {}
    for name, (attribute, kind, _) in POLICY_FIELDS.items():
        value = getattr(price_list, attribute)
        values[name] = cents_to_dollars(value) if kind == "money" else str(value)
    for item in price_list.items:
        values[f"price_{item.code}"] = cents_to_dollars(item.unit_cents)
        values[f"label_{item.code}"] = item.label
        values[f"hsa_{item.code}"] = item.hsa_fsa_eligible
    return values


# --- Parsing what staff type --------------------------------------------------------------------------------

class _Refused(Exception):
    pass


_DOLLARS = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)?(?:\.(?P<cents>[0-9]*))?")


def cents_to_dollars(cents: int) -> str:
    """`60000` -> `600`, `60050` -> `600.50`: how a price is shown in the edit form."""
    dollars, remainder = divmod(cents, 100)
    return f"{dollars}.{remainder:02d}" if remainder else str(dollars)


def dollars_to_cents(raw: object, what: str) -> int:
    """Exact integer cents from dollars typed by staff; raises _Refused with a message naming `what`."""
    example = f"Give {what.lower()} in dollars, like 600 or 600.50."
    if isinstance(raw, bool) or raw is None:
        raise _Refused(example)
    if isinstance(raw, int | Decimal):
        amount = Decimal(raw)
        if not amount.is_finite():
            raise _Refused(example)
        if amount < 0:
            raise _Refused(f"{what} cannot be negative.")
        if amount * 100 > MAX_CENTS:
            raise _Refused(f"{what} can be at most {format_usd(MAX_CENTS)}.")
        if amount * 100 != int(amount * 100):
            raise _Refused(f"{what}: use at most two decimal places (whole cents).")
        cents = int(amount * 100)
    elif isinstance(raw, str):
        text = raw.strip()
        if text.startswith(("-", "−")) and any(ch.isdigit() for ch in text):
            raise _Refused(f"{what} cannot be negative.")
        text = text.removeprefix("$").strip()
        match = _DOLLARS.fullmatch(text)
        if not text or match is None or not (match["whole"] or match["cents"]):
            raise _Refused(example)
        decimals = match["cents"] or ""
        if len(decimals) > 2:
            raise _Refused(f"{what}: use at most two decimal places (whole cents).")
        cents = int(Decimal((match["whole"] or "0").replace(",", "") + "." + decimals.ljust(2, "0")) * 100)
    else:
        raise _Refused(example)
    if cents > MAX_CENTS:
        raise _Refused(f"{what} can be at most {format_usd(MAX_CENTS)}.")
    return cents


def _whole_number(raw: object, what: str, low: int, high: int, unit: str = "") -> int:
    if isinstance(raw, bool) or raw is None:
        raise _Refused(f"Give {what.lower()} as a whole number.")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip().removesuffix("%").strip()
        if text.startswith(("-", "−")) and any(ch.isdigit() for ch in text):
            raise _Refused(f"{what} cannot be negative.")
        if not text.isascii() or not text.isdigit():
            raise _Refused(f"Give {what.lower()} as a whole number, {low} to {high}{unit}.")
        value = int(text)
    else:
        raise _Refused(f"Give {what.lower()} as a whole number.")
    if not low <= value <= high:
        raise _Refused(f"{what} must be between {low} and {high}{unit}.")
    return value


def _has_control_characters(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text)


def _text(raw: object, what: str, limit: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _Refused(f"{what} is required.")
    text = " ".join(raw.split())  # no stray newlines or runs of spaces in a label
    if _has_control_characters(text):
        raise _Refused(f"{what} contains a control character; type it again as plain text.")
    if len(text) > limit:
        raise _Refused(f"{what} can be at most {limit} characters (it has {len(text)}).")
    return text


def _flag(raw: object, what: str) -> bool:
    if not isinstance(raw, bool):
        raise _Refused(f"{what}: choose yes or no.")
    return raw


# --- Drafts: a version as plain values ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Item:
    position: int
    code: str
    label: str
    unit: str
    unit_cents: int
    hsa_fsa_eligible: bool
    superbill_codes: str


@dataclass(frozen=True)
class _Draft:
    version: int
    policy: dict[str, int]  # model attribute -> value
    items: tuple[_Item, ...]

    def sheet(self, version: int) -> estimator.PriceSheet:
        return estimator.PriceSheet(
            version=version, **self.policy,
            items={item.code: estimator.PriceItem(item.code, item.label, item.unit, item.unit_cents,
                                                  item.hsa_fsa_eligible, item.superbill_codes)
                   for item in self.items},
        )


def _draft_of(price_list: PriceList) -> _Draft:
    return _Draft(
        version=price_list.version,
        policy={attribute: getattr(price_list, attribute) for attribute, _, _ in POLICY_FIELDS.values()},
        items=tuple(_Item(item.position, item.code, item.label, item.unit, item.unit_cents,
                          item.hsa_fsa_eligible, item.superbill_codes) for item in price_list.items),
    )


def _apply(base: _Draft, values: Mapping[str, object]) -> _Draft:
    """The base version with `values` applied (a missing field keeps its value); ValidationFailed names each
    bad field."""
    errors: dict[str, list[str]] = {}
    known = set(POLICY_FIELDS)
    known |= {f"{prefix}_{item.code}" for item in base.items for prefix, _, _ in ITEM_FIELDS}
    for name in sorted(set(values) - known):
        errors.setdefault(name, []).append(f"There is no field called {name!r} on the price list.")

    policy = dict(base.policy)
    for name, (attribute, kind, what) in POLICY_FIELDS.items():
        if name not in values:
            continue
        try:
            if kind == "money":
                policy[attribute] = dollars_to_cents(values[name], what)
            elif kind == "percent":
                policy[attribute] = _whole_number(values[name], what, 0, 100, "%")
            else:
                policy[attribute] = _whole_number(values[name], what, 0, MAX_BALANCE_DUE_DAYS, " days")
        except _Refused as refusal:
            errors[name] = [str(refusal)]
    if "band_min" not in errors and "band_max" not in errors \
            and policy["band_min_cents"] > policy["band_max_cents"]:
        low, high = format_usd(policy["band_min_cents"]), format_usd(policy["band_max_cents"])
        errors["band_min"] = [f"The lowest usual total ({low}) must not be above the highest ({high})."]

    items = []
    for item in base.items:
        edited = {}
        for prefix, attribute, kind in ITEM_FIELDS:
            name = f"{prefix}_{item.code}"
            if name not in values:
                continue
            try:
                if kind == "money":
                    edited[attribute] = dollars_to_cents(values[name], f"The price of {item.code}")
                elif kind == "text":
                    edited[attribute] = _text(values[name], f"The label of {item.code}", LABEL_MAX)
                else:
                    edited[attribute] = _flag(values[name], f"HSA/FSA eligibility of {item.code}")
            except _Refused as refusal:
                errors[name] = [str(refusal)]
        items.append(replace(item, **edited))

    if errors:
        raise ValidationFailed(errors)
    return _Draft(version=base.version, policy=policy, items=tuple(items))


def _changes(old: _Draft, new: _Draft) -> list[Change]:
    changes = []
    for _, (attribute, kind, what) in POLICY_FIELDS.items():
        if old.policy[attribute] != new.policy[attribute]:
            changes.append(Change(attribute, what, kind, old.policy[attribute], new.policy[attribute]))
    old_items = {item.code: item for item in old.items}
    new_codes = {item.code for item in new.items}
    for item in old.items:
        if item.code not in new_codes:
            changes.append(Change(f"{item.code}.removed", f"{item.label} (removed)", "text", item.label, "—"))
    for item in new.items:
        before = old_items.get(item.code)
        if before is None:
            changes.append(Change(f"{item.code}.unit_cents", f"{item.label} (new item)", "money", 0,
                                  item.unit_cents))
            continue
        for prefix, attribute, kind in ITEM_FIELDS:
            if getattr(before, attribute) != getattr(item, attribute):
                what = {"price": "price", "label": "label", "hsa": "HSA/FSA eligible"}[prefix]
                changes.append(Change(f"{item.code}.{attribute}", f"{before.label}: {what}", kind,
                                      getattr(before, attribute), getattr(item, attribute)))
    return changes


# --- Preview and save ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleChange:
    name: str
    before_min: int
    before_max: int
    after_min: int
    after_max: int
    custom_quote_after: bool  # some configuration of it falls outside the new usual range

    @property
    def changed(self) -> bool:
        return (self.before_min, self.before_max) != (self.after_min, self.after_max)


@dataclass(frozen=True)
class Preview:
    base_version: int
    changes: list[Change]
    samples: list[SampleChange]


# The worked examples of domain/pricing.md, shown when no program is published yet and as a fixed reference.
REFERENCE_CONFIGURATIONS = (
    ("1 week, sublingual ×4, ART, no lodging",
     estimator.Configuration(7, "sublingual", 4, "art", 4, 1, "none")),
    ("1 week, IV ×4, EMDR, shared room", estimator.Configuration(7, "iv", 4, "emdr", 4, 1, "shared")),
    ("2 weeks, IV ×6, IFS, private room", estimator.Configuration(14, "iv", 6, "ifs", 6, 2, "private")),
)


# Sent with no arguments to ask for the configurations a price change would be previewed on, as (name,
# [configurations]) pairs: the catalog answers with its published programs.
price_samples_wanted = Namespace().signal("price-samples-wanted")
# Sent once a new price list version is committed: the catalog forgets what it cached of the old prices.
price_list_saved = Namespace().signal("price-list-saved")


def _samples(before: estimator.PriceSheet, after: estimator.PriceSheet) -> list[SampleChange]:
    groups = [group for _, answer in price_samples_wanted.send() for group in answer]
    groups += [(name, [configuration]) for name, configuration in REFERENCE_CONFIGURATIONS]
    samples = []
    for name, configurations in groups:
        old = [estimator.estimate(c, before) for c in configurations]
        new = [estimator.estimate(c, after) for c in configurations]
        samples.append(SampleChange(
            name=name,
            before_min=min(e.total_cents for e in old), before_max=max(e.total_cents for e in old),
            after_min=min(e.total_cents for e in new), after_max=max(e.total_cents for e in new),
            custom_quote_after=any(e.custom_quote_required for e in new),
        ))
    return samples


def preview_price_list_version(values: Mapping[str, object]) -> Preview:
    """What saving `values` would change, without saving: the edited fields, and the price of each published
    program (lowest to highest lodging option) and of the worked examples before and after."""
    newest = newest_price_list()
    base = _draft_of(newest)
    draft = _apply(base, values)
    return Preview(base_version=base.version, changes=_changes(base, draft),
                   samples=_samples(base.sheet(base.version), draft.sheet(base.version + 1)))


def create_price_list_version(values: Mapping[str, object], note: object, *,
                              based_on: int | None = None) -> PriceList:
    """Save the newest version with `values` applied as version N+1; the older versions stay as they are.

    `values` uses the field names of this module's docstring (a missing field keeps the newest version's
    value); `note` says what changed and why. `based_on` is the version the editor started from: when another
    version was saved since, PriceListChanged is raised rather than quietly undoing it. Refuses with
    ValidationFailed (naming each field) when a value is bad, the note is missing or nothing changed.
    """
    base = _draft_of(newest_price_list())
    if based_on is not None and based_on != base.version:
        raise _changed_since(based_on, base.version)
    errors: dict[str, list[str]] = {}
    try:
        draft = _apply(base, values)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
    if not isinstance(note, str) or not note.strip():
        errors["note"] = ["Write a note: say what changed and why."]
    elif _has_control_characters(note, allowed="\r\n\t"):
        errors["note"] = ["The note contains a control character; type it again as plain text."]
    elif len(note.strip()) > NOTE_MAX:
        errors["note"] = [f"The note can be at most {NOTE_MAX} characters (it has {len(note.strip())})."]
    if errors:
        raise ValidationFailed(errors)
    note_text = note.strip()
    changes = _changes(base, draft)
    if not changes:
        raise ValidationFailed({"changes": [
            f"Nothing differs from version {base.version}: change a price, label, HSA/FSA flag or policy "
            "number before saving a new version."]})

    # Checked and written in one unit of work holding the write lock, so two admins saving at once get N+1 and a
    # clear refusal.
    try:
        with unit_of_work():
            # PostgreSQL: lock the newest row, then look again (a new statement sees what committed while we
            # waited).
            db.session.execute(sa.select(PriceList.id).order_by(PriceList.version.desc()).limit(1)
                               .with_for_update())
            newest_now = db.session.scalar(sa.select(sa.func.max(PriceList.version)))
            if newest_now != base.version:
                raise _changed_since(base.version, newest_now)
            version = base.version + 1
            price_list = PriceList(version=version, note=note_text, **draft.policy)
            for item in draft.items:
                price_list.items.append(PriceListItem(
                    position=item.position, code=item.code, label=item.label, unit=item.unit,
                    unit_cents=item.unit_cents, hsa_fsa_eligible=item.hsa_fsa_eligible,
                    superbill_codes=item.superbill_codes,
                ))
            db.session.add(price_list)
            audit.record(AUDIT_ACTION, "price_list", version, {
                "copied_from_version": base.version,
                "note": note_text,
                "changes": {change.key: {"from": change.before, "to": change.after} for change in changes},
            })
            after_commit(price_list_saved.send)
    except IntegrityError:  # another version N+1 committed first (PostgreSQL, between our check and insert)
        raise _changed_since(base.version, None) from None
    return price_list


def _changed_since(based_on: int, newest: int | None) -> PriceListChanged:
    saved = f"Version {newest}" if newest else "A newer version"
    return PriceListChanged(
        f"{saved} of the price list was saved after you opened this form (you started from version "
        f"{based_on}). Nothing was saved: reload the form to edit the newest prices.")
