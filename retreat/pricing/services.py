"""Price lists in the database, and issuing estimates.

An issued estimate is reproducible from its configuration and its price list version (a version is never
edited), so its id carries both, signed: an estimate is recorded in its id and recomputed when fetched,
which keeps the public estimate endpoint free of database writes.
"""

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from retreat.core.clock import today
from retreat.core.errors import NotFound, ValidationFailed
from retreat.core.read_cache import read_cache
from retreat.core.transactions import after_commit, unit_of_work
from retreat.extensions import db
from retreat.pricing import estimator, rules
from retreat.pricing.defaults import DEFAULT_PRICE_LIST
from retreat.pricing.models import PriceList, PriceListItem

CURRENT_PRICE_SHEET_KEY = "pricing:current"


@dataclass(frozen=True)
class IssuedEstimate:
    id: str
    estimate: estimator.Estimate
    issued_on: date
    valid_until: date
    program_slug: str | None = None


def ensure_default_price_list() -> bool:
    """Load the default price list as version 1 unless a price list exists (one unit of work). True when it loaded
    it."""
    with unit_of_work():
        if db.session.scalar(sa.select(sa.func.count()).select_from(PriceList)):
            return False
        defaults = dict(DEFAULT_PRICE_LIST)
        items = defaults.pop("items")
        price_list = PriceList(version=1, **defaults)
        for position, (code, label, unit, unit_cents, eligible, superbill) in enumerate(items):
            price_list.items.append(PriceListItem(
                position=position, code=code, label=label, unit=unit, unit_cents=unit_cents,
                hsa_fsa_eligible=eligible, superbill_codes=superbill,
            ))
        db.session.add(price_list)
        after_commit(lambda: read_cache().forget(CURRENT_PRICE_SHEET_KEY))
    return True


def _sheet_from(price_list: PriceList) -> estimator.PriceSheet:
    return estimator.PriceSheet(
        version=price_list.version,
        deposit_percent=price_list.deposit_percent,
        deposit_minimum_cents=price_list.deposit_minimum_cents,
        balance_due_days_before_start=price_list.balance_due_days_before_start,
        band_min_cents=price_list.band_min_cents,
        band_max_cents=price_list.band_max_cents,
        items=MappingProxyType({
            item.code: estimator.PriceItem(
                code=item.code, label=item.label, unit=item.unit, unit_cents=item.unit_cents,
                hsa_fsa_eligible=item.hsa_fsa_eligible, superbill_codes=item.superbill_codes,
            )
            for item in price_list.items
        }),
    )


def current_price_sheet() -> estimator.PriceSheet:
    """The newest price list version. Cached per process for a few seconds (see CACHE_DEFAULT_TIMEOUT)."""
    def load() -> estimator.PriceSheet:
        price_list = db.session.scalar(sa.select(PriceList).order_by(PriceList.version.desc()).limit(1))
        if price_list is None:
            raise RuntimeError("No price list: run `flask pricing init` (or `flask demo seed`).")
        return _sheet_from(price_list)

    return read_cache().get(CURRENT_PRICE_SHEET_KEY, load)


def price_sheet(version: int) -> estimator.PriceSheet:
    """One price list version; versions never change, so they are cached without expiry."""
    def load() -> estimator.PriceSheet:
        price_list = db.session.scalar(sa.select(PriceList).where(PriceList.version == version))
        if price_list is None:
            raise NotFound(f"There is no price list version {version}.")
        return _sheet_from(price_list)

    return read_cache().get(("pricing:version", version), load, permanent=True)


def price_range(configurations: list[estimator.Configuration]) -> tuple[int, int]:
    """The lowest and highest total over some configurations, under the current prices."""
    prices = current_price_sheet()
    totals = [estimator.estimate(configuration, prices).total_cents for configuration in configurations]
    return min(totals), max(totals)


# --- Issued estimates -------------------------------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=4)
def _serializer_for(secret_key: str) -> URLSafeSerializer:
    """A signer keyed for estimate ids only: the key is derived once here rather than on every signature."""
    estimate_key = hmac.new(secret_key.encode(), b"retreat.estimate.v1", hashlib.sha256).digest()
    return URLSafeSerializer(estimate_key, signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256})


def issue_estimate(configuration: estimator.Configuration, *, program_slug: str | None = None) -> IssuedEstimate:
    """Price a valid configuration under the current price list and give it an id to fetch it by."""
    prices = current_price_sheet()
    issued_on = today()
    c = configuration
    payload = [prices.version, issued_on.toordinal(), c.duration_days, c.ketamine_route, c.dosing_sessions,
               c.therapy_modality, c.integration_sessions, c.intensive_sessions, c.lodging, program_slug]
    return _issued(_serializer().dumps(payload), prices, issued_on, configuration, program_slug)


def estimate_custom(values: Mapping[str, object]) -> IssuedEstimate:
    """Validate a custom configuration and issue its estimate (ValidationFailed names each bad field)."""
    return issue_estimate(estimator.validate_configuration(values))


def load_estimate(estimate_id: str) -> IssuedEstimate:
    """Recompute an issued estimate from its id; NotFound for an id this service did not issue."""
    try:
        (version, issued_ordinal, duration, route, dosing, modality, integration, intensives, lodging,
         program_slug) = _serializer().loads(estimate_id)
        issued_on = date.fromordinal(issued_ordinal)
    except (BadSignature, ValueError, TypeError, OverflowError):
        raise NotFound("There is no estimate with this id.") from None
    try:
        configuration = estimator.validate_configuration({
            "duration_days": duration, "ketamine_route": route, "dosing_sessions": dosing,
            "therapy_modality": modality, "integration_sessions": integration, "intensive_sessions": intensives,
            "lodging": lodging,
        })
    except ValidationFailed:
        raise NotFound("There is no estimate with this id.") from None
    return _issued(estimate_id, price_sheet(version), issued_on, configuration, program_slug)


def _issued(estimate_id, prices, issued_on, configuration, program_slug) -> IssuedEstimate:
    valid_days = current_app.config["ESTIMATE_VALID_DAYS"]
    return IssuedEstimate(
        id=estimate_id,
        estimate=estimator.estimate(configuration, prices),
        issued_on=issued_on,
        valid_until=issued_on + timedelta(days=valid_days),
        program_slug=program_slug,
    )


def check_lodging_offered(lodging: object, offered: tuple[str, ...]) -> None:
    """Refuse a lodging kind that is unknown or not offered by a program."""
    if lodging not in rules.LODGING_KINDS:
        raise ValidationFailed({"lodging": [f"Choose one of: {', '.join(rules.LODGING_KINDS)}."]})
    if lodging not in offered:
        raise ValidationFailed({"lodging": [f"This program offers: {', '.join(offered)}."]})
