"""Price lists in the database, issued estimates and their ids, and the cache of the current prices."""

from datetime import date

import pytest
import sqlalchemy as sa
import time_machine
from itsdangerous import URLSafeSerializer

from retreat import create_app
from retreat.catalog.services import forget_cached_prices
from retreat.core.errors import NotFound
from retreat.extensions import db
from retreat.pricing import services
from retreat.pricing.defaults import DEFAULT_PRICE_LIST
from retreat.pricing.estimator import Configuration
from retreat.pricing.models import PriceList, PriceListItem

EXAMPLE = Configuration(7, "iv", 4, "emdr", 4, 1, "shared")  # $4,970 under the default prices
POLICY_FIELDS = ("deposit_percent", "deposit_minimum_cents", "balance_due_days_before_start",
                 "band_min_cents", "band_max_cents")


def add_price_list(version: int, *, percent_of_prices: int) -> PriceList:
    """A new price list version: the default items with every unit price scaled."""
    price_list = PriceList(version=version, note=f"Version {version}",
                           **{name: DEFAULT_PRICE_LIST[name] for name in POLICY_FIELDS})
    for position, row in enumerate(DEFAULT_PRICE_LIST["items"]):
        code, label, unit, unit_cents, eligible, superbill = row
        price_list.items.append(PriceListItem(
            position=position, code=code, label=label, unit=unit,
            unit_cents=unit_cents * percent_of_prices // 100,
            hsa_fsa_eligible=eligible, superbill_codes=superbill,
        ))
    db.session.add(price_list)
    db.session.commit()
    return price_list


def price_list_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(PriceList))


# --- The default price list --------------------------------------------------------------------------------

def test_default_price_list_is_version_1_with_the_default_prices(app):
    price_list = db.session.scalars(sa.select(PriceList)).one()
    assert price_list.version == 1
    for name in POLICY_FIELDS:
        assert getattr(price_list, name) == DEFAULT_PRICE_LIST[name], name
    assert [(item.position, item.code, item.label, item.unit, item.unit_cents, item.hsa_fsa_eligible,
             item.superbill_codes) for item in price_list.items] == [
        (position, *row) for position, row in enumerate(DEFAULT_PRICE_LIST["items"])]

    sheet = services.current_price_sheet()
    assert sheet.version == 1
    assert {code: (item.label, item.unit, item.unit_cents, item.hsa_fsa_eligible, item.superbill_codes)
            for code, item in sheet.items.items()} == {
        code: (label, unit, cents, eligible, superbill)
        for code, label, unit, cents, eligible, superbill in DEFAULT_PRICE_LIST["items"]}
    assert (sheet.deposit_percent, sheet.deposit_minimum_cents, sheet.band_min_cents, sheet.band_max_cents,
            sheet.balance_due_days_before_start) == (20, 500_00, 3_000_00, 10_000_00, 14)
    by_version = services.price_sheet(1)  # sheets compare by identity; compare their contents
    assert (by_version.version, dict(by_version.items)) == (sheet.version, dict(sheet.items))


def test_ensure_default_price_list_is_idempotent(app):
    assert services.ensure_default_price_list() is False
    assert services.ensure_default_price_list() is False
    assert price_list_count() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PriceListItem)) == len(
        DEFAULT_PRICE_LIST["items"])


def test_ensure_default_price_list_loads_into_an_empty_database_once(app):
    db.session.execute(sa.delete(PriceListItem))
    db.session.execute(sa.delete(PriceList))
    db.session.commit()
    assert price_list_count() == 0

    assert services.ensure_default_price_list() is True
    assert services.ensure_default_price_list() is False
    assert price_list_count() == 1
    assert services.current_price_sheet().version == 1
    assert services.issue_estimate(EXAMPLE).estimate.total_cents == 4_970_00


def test_ensure_default_price_list_leaves_an_edited_price_list_alone(app):
    add_price_list(2, percent_of_prices=110)
    assert services.ensure_default_price_list() is False
    assert price_list_count() == 2


# --- Versions ----------------------------------------------------------------------------------------------

def test_current_price_sheet_is_the_newest_version(app):
    add_price_list(2, percent_of_prices=200)
    forget_cached_prices()

    sheet = services.current_price_sheet()
    assert sheet.version == 2
    assert sheet.items["dosing_iv"].unit_cents == 1_200_00
    issued = services.issue_estimate(EXAMPLE)
    assert issued.estimate.price_list_version == 2
    assert issued.estimate.total_cents == 9_940_00


def test_newest_means_highest_version_not_latest_row(app):
    add_price_list(3, percent_of_prices=150)
    add_price_list(2, percent_of_prices=200)  # inserted last, but an older version
    forget_cached_prices()
    assert services.current_price_sheet().version == 3
    assert services.current_price_sheet().items["intake"].unit_cents == 450_00


def test_estimate_issued_under_v1_keeps_v1_after_v2(app):
    issued = services.issue_estimate(EXAMPLE)
    assert issued.estimate.price_list_version == 1

    add_price_list(2, percent_of_prices=200)
    forget_cached_prices()

    loaded = services.load_estimate(issued.id)
    assert loaded.estimate.price_list_version == 1
    assert loaded.estimate.total_cents == 4_970_00
    assert loaded.estimate.deposit_cents == 994_00
    assert [(item.code, item.unit_cents) for item in loaded.estimate.line_items] == [
        ("intake", 300_00), ("dosing_iv", 600_00), ("integration_emdr", 200_00), ("intensive_emdr", 750_00),
        ("lodging_shared", 120_00)]
    assert loaded.estimate == issued.estimate
    assert (loaded.issued_on, loaded.valid_until) == (issued.issued_on, issued.valid_until)

    fresh = services.issue_estimate(EXAMPLE)
    assert fresh.estimate.price_list_version == 2
    assert fresh.estimate.total_cents == 9_940_00
    assert fresh.id != issued.id


def test_loading_keeps_the_program_slug(app):
    issued = services.issue_estimate(EXAMPLE, program_slug="iv-emdr-one-week")
    assert services.load_estimate(issued.id).program_slug == "iv-emdr-one-week"
    assert services.load_estimate(services.issue_estimate(EXAMPLE).id).program_slug is None


def test_estimate_custom_validates_and_issues(app):
    issued = services.estimate_custom({
        "duration_days": 14, "ketamine_route": "iv", "dosing_sessions": 6, "therapy_modality": "ifs",
        "integration_sessions": 6, "intensive_sessions": 2, "lodging": "private"})
    loaded = services.load_estimate(issued.id)
    assert loaded.estimate.total_cents == 9_070_00
    assert loaded.estimate.configuration == Configuration(14, "iv", 6, "ifs", 6, 2, "private")


def test_unknown_price_list_version_is_not_found(app):
    with pytest.raises(NotFound):
        services.price_sheet(99)


# --- Estimate ids ------------------------------------------------------------------------------------------

def _tampered(estimate_id: str, position: int) -> str:
    replacement = "A" if estimate_id[position] != "A" else "B"
    return estimate_id[:position] + replacement + estimate_id[position + 1:]


def test_tampered_or_garbage_estimate_ids_are_not_found(app):
    real = services.issue_estimate(EXAMPLE).id
    payload, signature = real.rsplit(".", 1)
    assert services.load_estimate(real).estimate.total_cents == 4_970_00

    candidates = [
        "garbage", "", ".", "a.b", "garbage.garbage", real + "x", real[:-1], payload, payload + ".",
        _tampered(real, 3), _tampered(real, len(payload) - 1), _tampered(real, len(real) - 2),
        "." + signature,
    ]
    for candidate in candidates:
        with pytest.raises(NotFound):
            services.load_estimate(candidate)


@pytest.mark.parametrize("payload", [
    pytest.param([1, 2], id="too-short"),
    pytest.param(42, id="not-a-list"),
    pytest.param({"version": 1}, id="a-dict"),
    pytest.param([1, 0, 7, "iv", 4, "emdr", 4, 1, "shared", None], id="day-zero"),
    pytest.param([1, "today", 7, "iv", 4, "emdr", 4, 1, "shared", None], id="day-not-a-number"),
    pytest.param([99, 739_000, 7, "iv", 4, "emdr", 4, 1, "shared", None], id="unknown-price-list-version"),
])
def test_signed_but_malformed_estimate_ids_are_not_found(app, payload):
    forged = URLSafeSerializer(app.config["SECRET_KEY"], salt="retreat.estimate.v1").dumps(payload)
    with pytest.raises(NotFound):
        services.load_estimate(forged)


def test_ids_signed_with_another_key_are_not_found(app):
    genuine_payload = [1, date(2027, 1, 10).toordinal(), 7, "iv", 4, "emdr", 4, 1, "shared", None]
    other_keys = [("another-secret", "retreat.estimate.v1"), (app.config["SECRET_KEY"], "another-salt")]
    for secret, salt in other_keys:
        forged = URLSafeSerializer(secret, salt=salt).dumps(genuine_payload)
        with pytest.raises(NotFound):
            services.load_estimate(forged)
    with pytest.raises(NotFound):
        services.load_estimate(services._serializer_for("another-secret").dumps(genuine_payload))
    signed = services._serializer().dumps(genuine_payload)
    assert services.load_estimate(signed).estimate.total_cents == 4_970_00


# --- Validity --------------------------------------------------------------------------------------------

def test_estimate_is_valid_for_30_days_from_issue(app):
    with time_machine.travel("2027-01-10T12:00:00+00:00", tick=False):
        issued = services.issue_estimate(EXAMPLE)
    assert issued.issued_on == date(2027, 1, 10)
    assert issued.valid_until == date(2027, 2, 9)

    with time_machine.travel("2027-03-15T12:00:00+00:00", tick=False):
        loaded = services.load_estimate(issued.id)
        assert (loaded.issued_on, loaded.valid_until) == (date(2027, 1, 10), date(2027, 2, 9))
        assert services.issue_estimate(EXAMPLE).valid_until == date(2027, 4, 14)


def test_valid_until_crosses_a_leap_day(app):
    with time_machine.travel("2028-02-15T12:00:00+00:00", tick=False):
        assert services.issue_estimate(EXAMPLE).valid_until == date(2028, 3, 16)


def test_valid_days_come_from_configuration(app):
    app.config["ESTIMATE_VALID_DAYS"] = 7
    with time_machine.travel("2027-01-10T12:00:00+00:00", tick=False):
        assert services.issue_estimate(EXAMPLE).valid_until == date(2027, 1, 17)


# --- Cache ------------------------------------------------------------------------------------------------

@pytest.fixture
def cached_app(app, database_url):
    """A second app on the same (emptied, default-priced) database, with a real per-process cache."""
    cached = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, CATALOG_CACHE_SECONDS=10)
    with cached.app_context():
        yield cached
        db.session.remove()
        db.engine.dispose()


def test_current_price_sheet_is_cached_until_forgotten(cached_app):
    assert services.current_price_sheet().version == 1

    add_price_list(2, percent_of_prices=200)
    assert services.current_price_sheet().version == 1  # served from the cache
    assert services.issue_estimate(EXAMPLE).estimate.total_cents == 4_970_00

    forget_cached_prices()
    assert services.current_price_sheet().version == 2
    assert services.issue_estimate(EXAMPLE).estimate.total_cents == 9_940_00


def test_current_price_sheet_cache_expires(cached_app):
    with time_machine.travel("2027-01-10T12:00:00+00:00", tick=False) as traveller:
        assert services.current_price_sheet().version == 1
        add_price_list(2, percent_of_prices=200)
        traveller.shift(5)
        assert services.current_price_sheet().version == 1
        traveller.shift(6)
        assert services.current_price_sheet().version == 2


def test_without_a_cache_a_new_version_shows_at_once(app):
    assert app.config["CATALOG_CACHE_SECONDS"] == 0
    assert services.current_price_sheet().version == 1
    add_price_list(2, percent_of_prices=200)
    assert services.current_price_sheet().version == 2


def test_loading_the_default_price_list_clears_the_cached_sheet(cached_app):
    db.session.execute(sa.delete(PriceListItem))
    db.session.execute(sa.delete(PriceList))
    db.session.commit()
    with pytest.raises(RuntimeError):
        services.current_price_sheet()
    assert services.ensure_default_price_list() is True
    assert services.current_price_sheet().version == 1


def test_old_versions_stay_loadable_from_the_cache(cached_app):
    issued = services.issue_estimate(EXAMPLE)
    add_price_list(2, percent_of_prices=200)
    forget_cached_prices()
    assert services.current_price_sheet().version == 2
    assert services.load_estimate(issued.id).estimate.total_cents == 4_970_00
    assert services.price_sheet(1).version == 1
    assert services.price_sheet(2).items["intake"].unit_cents == 600_00
