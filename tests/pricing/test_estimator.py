"""The estimator against domain/pricing.md: worked examples, the deposit rule, the price band and validation.

Pure: no database, no app. The price sheet is built straight from retreat/pricing/defaults.py.
"""

import itertools
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from retreat.core.errors import ValidationFailed
from retreat.pricing import rules
from retreat.pricing.defaults import DEFAULT_PRICE_LIST
from retreat.pricing.estimator import (
    Configuration,
    PriceItem,
    PriceSheet,
    deposit_for,
    estimate,
    validate_configuration,
)

FIELDS = ("duration_days", "ketamine_route", "dosing_sessions", "therapy_modality", "integration_sessions",
          "intensive_sessions", "lodging")


def price_sheet(*, version: int = 1, percent_of_prices: int = 100, **policy) -> PriceSheet:
    """The default price list as a PriceSheet; `percent_of_prices` scales every unit price, `policy` overrides
    deposit and band settings."""
    settings_ = {key: value for key, value in DEFAULT_PRICE_LIST.items() if key not in ("note", "items")}
    settings_.update(policy)
    items = {
        code: PriceItem(code=code, label=label, unit=unit, unit_cents=unit_cents * percent_of_prices // 100,
                        hsa_fsa_eligible=eligible, superbill_codes=superbill)
        for code, label, unit, unit_cents, eligible, superbill in DEFAULT_PRICE_LIST["items"]
    }
    return PriceSheet(version=version, items=items, **settings_)


DEFAULTS = price_sheet()


def values(**changes) -> dict:
    """A valid configuration (the $4,970 example) as form values, with some of them changed."""
    base = {"duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
            "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"}
    base.update(changes)
    return base


def all_valid_configurations():
    """Every configuration pricing.md allows (about 11,000), enumerated from the rules."""
    for route, bounds in rules.DOSING_SESSIONS_BY_ROUTE.items():
        for dosing in range(bounds.low, bounds.high + 1):
            for duration, integration, modality, intensives, lodging in itertools.product(
                range(rules.DURATION_DAYS.low, rules.DURATION_DAYS.high + 1),
                range(dosing, rules.INTEGRATION_SESSIONS_MAX + 1),
                rules.THERAPY_MODALITIES,
                range(rules.INTENSIVE_SESSIONS.low, rules.INTENSIVE_SESSIONS.high + 1),
                rules.LODGING_KINDS,
            ):
                yield Configuration(duration, route, dosing, modality, integration, intensives, lodging)


@st.composite
def valid_values(draw) -> dict:
    route = draw(st.sampled_from(rules.KETAMINE_ROUTES))
    bounds = rules.DOSING_SESSIONS_BY_ROUTE[route]
    dosing = draw(st.integers(bounds.low, bounds.high))
    return {
        "duration_days": draw(st.integers(rules.DURATION_DAYS.low, rules.DURATION_DAYS.high)),
        "ketamine_route": route,
        "dosing_sessions": dosing,
        "therapy_modality": draw(st.sampled_from(rules.THERAPY_MODALITIES)),
        "integration_sessions": draw(st.integers(dosing, rules.INTEGRATION_SESSIONS_MAX)),
        "intensive_sessions": draw(st.integers(rules.INTENSIVE_SESSIONS.low, rules.INTENSIVE_SESSIONS.high)),
        "lodging": draw(st.sampled_from(rules.LODGING_KINDS)),
    }


def item_rows(result):
    return [(item.code, item.quantity, item.unit_cents, item.total_cents, item.hsa_fsa_eligible)
            for item in result.line_items]


# --- The rules and the default prices are the ones pricing.md states -------------------------------------

def test_rules_match_the_domain_document():
    assert (rules.DURATION_DAYS.low, rules.DURATION_DAYS.high) == (7, 14)
    assert {route: (b.low, b.high) for route, b in rules.DOSING_SESSIONS_BY_ROUTE.items()} == {
        "iv": (4, 6), "im": (4, 6), "sublingual": (4, 6), "esketamine": (2, 4)}
    assert rules.INTEGRATION_SESSIONS_MAX == 10
    assert (rules.INTENSIVE_SESSIONS.low, rules.INTENSIVE_SESSIONS.high) == (1, 2)
    assert set(rules.THERAPY_MODALITIES) == {"emdr", "art", "ifs"}
    assert set(rules.LODGING_KINDS) == {"none", "shared", "private"}


def test_default_prices_match_the_domain_document():
    assert {code: item.unit_cents for code, item in DEFAULTS.items.items()} == {
        "intake": 300_00, "dosing_iv": 600_00, "dosing_im": 550_00, "dosing_sublingual": 400_00,
        "dosing_esketamine": 900_00, "integration_emdr": 200_00, "integration_art": 200_00,
        "integration_ifs": 200_00, "intensive_emdr": 750_00, "intensive_art": 750_00, "intensive_ifs": 750_00,
        "lodging_shared": 120_00, "lodging_private": 190_00,
    }
    assert {code for code, item in DEFAULTS.items.items() if not item.hsa_fsa_eligible} == {
        "lodging_shared", "lodging_private"}
    assert (DEFAULTS.deposit_percent, DEFAULTS.deposit_minimum_cents) == (20, 500_00)
    assert (DEFAULTS.band_min_cents, DEFAULTS.band_max_cents) == (3_000_00, 10_000_00)
    assert DEFAULTS.balance_due_days_before_start == 14


# --- Worked examples ---------------------------------------------------------------------------------------

WORKED_EXAMPLES = [
    pytest.param(
        Configuration(7, "sublingual", 4, "art", 4, 1, "none"),
        [("intake", 1, 300_00, 300_00, True),
         ("dosing_sublingual", 4, 400_00, 1_600_00, True),
         ("integration_art", 4, 200_00, 800_00, True),
         ("intensive_art", 1, 750_00, 750_00, True)],
        3_450_00, 690_00, 3_450_00,
        id="1-week-sublingual-art-no-lodging-3450",
    ),
    pytest.param(
        Configuration(7, "iv", 4, "emdr", 4, 1, "shared"),
        [("intake", 1, 300_00, 300_00, True),
         ("dosing_iv", 4, 600_00, 2_400_00, True),
         ("integration_emdr", 4, 200_00, 800_00, True),
         ("intensive_emdr", 1, 750_00, 750_00, True),
         ("lodging_shared", 6, 120_00, 720_00, False)],
        4_970_00, 994_00, 4_250_00,
        id="1-week-iv-emdr-shared-4970",
    ),
    pytest.param(
        Configuration(14, "iv", 6, "ifs", 6, 2, "private"),
        [("intake", 1, 300_00, 300_00, True),
         ("dosing_iv", 6, 600_00, 3_600_00, True),
         ("integration_ifs", 6, 200_00, 1_200_00, True),
         ("intensive_ifs", 2, 750_00, 1_500_00, True),
         ("lodging_private", 13, 190_00, 2_470_00, False)],
        9_070_00, 1_814_00, 6_600_00,
        id="2-weeks-iv-ifs-private-9070",
    ),
]


@pytest.mark.parametrize(("configuration", "rows", "total", "deposit", "hsa_fsa"), WORKED_EXAMPLES)
def test_worked_examples(configuration, rows, total, deposit, hsa_fsa):
    result = estimate(configuration, DEFAULTS)

    assert item_rows(result) == rows
    assert result.total_cents == total
    assert result.deposit_cents == deposit
    assert result.balance_cents == total - deposit
    assert result.hsa_fsa_eligible_cents == hsa_fsa
    assert result.custom_quote_required is False
    assert result.price_list_version == 1
    assert result.configuration == configuration
    for item in result.line_items:
        price = DEFAULTS.items[item.code]
        assert (item.label, item.unit) == (price.label, price.unit)


def test_worked_examples_pass_validation_unchanged():
    for param in WORKED_EXAMPLES:
        configuration = param.values[0]
        given_values = {name: getattr(configuration, name) for name in FIELDS}
        assert validate_configuration(given_values) == configuration


def test_spending_by_category_and_balance_due_date():
    result = estimate(Configuration(7, "iv", 4, "emdr", 4, 1, "shared"), DEFAULTS)
    # 6.04%, 48.29%, 16.10%, 15.09%, 14.49%: floors add to 99, the largest remainder (lodging) gets the 1.
    assert result.spending_by_category() == [
        ("Medical assessment", 300_00, 6), ("Ketamine sessions", 2_400_00, 48),
        ("Integration therapy", 800_00, 16), ("Therapy intensives", 750_00, 15), ("Lodging", 720_00, 15),
    ]
    assert result.balance_due_date(date(2027, 3, 1)) == date(2027, 2, 15)
    without_lodging = estimate(Configuration(7, "iv", 4, "emdr", 4, 1, "none"), DEFAULTS)
    assert [label for label, _, _ in without_lodging.spending_by_category()] == [
        "Medical assessment", "Ketamine sessions", "Integration therapy", "Therapy intensives"]


def test_spending_by_category_with_nothing_to_pay():
    free = estimate(Configuration(7, "iv", 4, "emdr", 4, 1, "shared"), price_sheet(percent_of_prices=0))
    assert free.total_cents == 0
    assert free.deposit_cents == 0
    assert free.custom_quote_required is True
    assert free.spending_by_category() == []


@pytest.mark.parametrize(("duration", "lodging", "nights"), [
    (7, "shared", 6), (7, "private", 6), (14, "shared", 13), (10, "private", 9),
    (7, "none", 0), (14, "none", 0),
])
def test_nights_follow_the_length_of_stay(duration, lodging, nights):
    configuration = Configuration(duration, "im", 5, "art", 5, 1, lodging)
    assert configuration.nights == nights
    result = estimate(configuration, DEFAULTS)
    lodging_items = [item for item in result.line_items if item.category == "lodging"]
    if lodging == "none":
        assert lodging_items == []
    else:
        assert [(item.code, item.quantity) for item in lodging_items] == [(f"lodging_{lodging}", nights)]


# --- Deposit rule ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("total", "deposit"), [
    (0, 0),
    (1, 1),                       # never more than the total
    (100_00, 100_00),
    (499_99, 499_99),
    (500_00, 500_00),
    (2_000_00, 500_00),           # 20% is $400: the $500 minimum applies
    (2_499_00, 500_00),           # 20% is $499.80, rounded up to $500
    (2_500_00, 500_00),
    (2_500_01, 501_00),           # 20% is $500.002: rounded up to the next whole dollar
    (2_505_00, 501_00),           # 20% is exactly $501
    (2_505_01, 502_00),
    (3_450_00, 690_00),
    (4_970_00, 994_00),
    (9_070_00, 1_814_00),
    (9_070_01, 1_815_00),
    (10_000_00, 2_000_00),
    (12_345_67, 2_470_00),        # 20% is $2,469.134
])
def test_deposit_rule(total, deposit):
    assert deposit_for(total, DEFAULTS) == deposit


def test_deposit_follows_the_price_sheet_policy():
    policy = price_sheet(deposit_percent=25, deposit_minimum_cents=1_000_00)
    assert deposit_for(3_000_00, policy) == 1_000_00
    assert deposit_for(4_000_01, policy) == 1_001_00
    assert deposit_for(800_00, policy) == 800_00
    assert deposit_for(10_000_00, price_sheet(deposit_percent=0)) == 500_00
    assert deposit_for(10_000_00, price_sheet(deposit_percent=100)) == 10_000_00
    assert deposit_for(10_000_00, price_sheet(deposit_minimum_cents=0)) == 2_000_00


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**9))
def test_deposit_rule_property(total):
    deposit = deposit_for(total, DEFAULTS)
    assert 0 <= deposit <= total
    if total <= 500_00:
        assert deposit == total
    else:
        assert deposit % 100 == 0                       # whole dollars
        assert deposit >= 500_00
        assert deposit * 100 >= total * 20              # at least 20%
        if deposit > 500_00:                            # rounded up by less than a dollar
            assert (deposit - 100) * 100 < total * 20


# --- Every valid configuration -----------------------------------------------------------------------------

def check_invariants(result, configuration, prices):
    assert result.total_cents == sum(item.total_cents for item in result.line_items)
    assert result.hsa_fsa_eligible_cents == sum(
        item.total_cents for item in result.line_items if not item.code.startswith("lodging"))
    assert result.deposit_cents == deposit_for(result.total_cents, prices)
    assert result.balance_cents == result.total_cents - result.deposit_cents
    for item in result.line_items:
        assert item.total_cents == item.quantity * item.unit_cents
        assert item.unit_cents == prices.items[item.code].unit_cents
    expected_nights = 0 if configuration.lodging == "none" else configuration.duration_days - 1
    assert configuration.nights == expected_nights
    assert sum(item.quantity for item in result.line_items if item.category == "lodging") == expected_nights
    assert [item.code for item in result.line_items][:4] == [
        "intake", f"dosing_{configuration.ketamine_route}", f"integration_{configuration.therapy_modality}",
        f"intensive_{configuration.therapy_modality}"]
    assert [item.quantity for item in result.line_items][:4] == [
        1, configuration.dosing_sessions, configuration.integration_sessions,
        configuration.intensive_sessions]


@settings(max_examples=200)
@given(valid_values())
def test_every_valid_configuration_prices_inside_the_band(given_values):
    configuration = validate_configuration(given_values)
    assert {name: getattr(configuration, name) for name in FIELDS} == given_values

    result = estimate(configuration, DEFAULTS)

    assert 3_000_00 <= result.total_cents <= 10_000_00
    assert 3_250_00 <= result.total_cents <= 9_870_00
    assert result.custom_quote_required is False
    assert result.deposit_cents == max(500_00, -(-result.total_cents * 20 // 100_00) * 100)
    check_invariants(result, configuration, DEFAULTS)
    parts = result.spending_by_category()
    assert sum(percent for _, _, percent in parts) == 100
    assert sum(cents for _, cents, _ in parts) == result.total_cents
    for _, cents, percent in parts:
        assert abs(percent - 100 * cents / result.total_cents) < 1


def test_enumerated_configurations_span_3250_to_9870():
    totals = {}
    count = 0
    for configuration in all_valid_configurations():
        count += 1
        result = estimate(configuration, DEFAULTS)
        assert result.custom_quote_required is False, configuration
        assert result.total_cents == sum(item.total_cents for item in result.line_items)
        totals[configuration] = result.total_cents
    assert count == 11_232
    assert min(totals.values()) == 3_250_00
    assert max(totals.values()) == 9_870_00
    assert totals[Configuration(7, "esketamine", 2, "emdr", 2, 1, "none")] == 3_250_00
    assert totals[Configuration(14, "iv", 6, "ifs", 10, 2, "private")] == 9_870_00
    assert totals[Configuration(14, "esketamine", 4, "art", 10, 2, "private")] == 9_870_00


def test_enumerated_configurations_all_pass_validation():
    for configuration in all_valid_configurations():
        given_values = {name: getattr(configuration, name) for name in FIELDS}
        assert validate_configuration(given_values) == configuration


# --- Edited prices: outside the band a custom quote is required --------------------------------------------

@settings(max_examples=200)
@given(valid_values(), st.integers(min_value=0, max_value=400))
@example(values(duration_days=14, dosing_sessions=6, integration_sessions=10, intensive_sessions=2,
                lodging="private"), 300)
@example(values(ketamine_route="esketamine", dosing_sessions=2, integration_sessions=2, lodging="none"), 50)
@example(values(), 0)
def test_edited_prices_outside_the_band_require_a_custom_quote(given_values, percent):
    prices = price_sheet(version=2, percent_of_prices=percent)
    configuration = validate_configuration(given_values)

    result = estimate(configuration, prices)

    assert result.price_list_version == 2
    out_of_band = result.total_cents > prices.band_max_cents or result.total_cents < prices.band_min_cents
    assert result.custom_quote_required is out_of_band
    check_invariants(result, configuration, prices)


def test_edited_prices_flag_exactly_the_out_of_band_configurations():
    doubled = price_sheet(percent_of_prices=200)
    halved = price_sheet(percent_of_prices=50)
    above = below = 0
    for configuration in itertools.islice(all_valid_configurations(), 0, None, 7):
        high = estimate(configuration, doubled)
        assert high.total_cents == 2 * estimate(configuration, DEFAULTS).total_cents
        assert high.custom_quote_required is (high.total_cents > 10_000_00)
        above += high.custom_quote_required
        low = estimate(configuration, halved)
        assert low.custom_quote_required is (low.total_cents < 3_000_00)
        below += low.custom_quote_required
    assert above > 0
    assert below > 0


@pytest.mark.parametrize(("band", "custom_quote"), [
    ({"band_max_cents": 9_070_00}, False),
    ({"band_max_cents": 9_069_99}, True),
    ({"band_min_cents": 9_070_00}, False),
    ({"band_min_cents": 9_070_01, "band_max_cents": 20_000_00}, True),
])
def test_band_limits_are_inclusive(band, custom_quote):
    result = estimate(Configuration(14, "iv", 6, "ifs", 6, 2, "private"), price_sheet(**band))
    assert result.total_cents == 9_070_00
    assert result.custom_quote_required is custom_quote


def test_custom_quote_estimate_still_itemises():
    result = estimate(Configuration(14, "iv", 6, "ifs", 6, 2, "private"), price_sheet(percent_of_prices=200))
    assert result.custom_quote_required is True
    assert result.total_cents == 18_140_00
    assert result.deposit_cents == 3_628_00
    assert result.balance_cents == 18_140_00 - 3_628_00
    assert result.hsa_fsa_eligible_cents == 13_200_00


# --- Invalid configurations --------------------------------------------------------------------------------

INVALID = [
    ("duration-6", values(duration_days=6), "duration_days"),
    ("duration-15", values(duration_days=15), "duration_days"),
    ("duration-0", values(duration_days=0), "duration_days"),
    ("iv-dosing-3", values(ketamine_route="iv", dosing_sessions=3), "dosing_sessions"),
    ("iv-dosing-7", values(ketamine_route="iv", dosing_sessions=7, integration_sessions=7),
     "dosing_sessions"),
    ("im-dosing-3", values(ketamine_route="im", dosing_sessions=3), "dosing_sessions"),
    ("sublingual-dosing-7", values(ketamine_route="sublingual", dosing_sessions=7, integration_sessions=7),
     "dosing_sessions"),
    ("esketamine-dosing-1", values(ketamine_route="esketamine", dosing_sessions=1, integration_sessions=2),
     "dosing_sessions"),
    ("esketamine-dosing-5", values(ketamine_route="esketamine", dosing_sessions=5, integration_sessions=5),
     "dosing_sessions"),
    ("esketamine-dosing-6", values(ketamine_route="esketamine", dosing_sessions=6, integration_sessions=6),
     "dosing_sessions"),
    ("integration-below-dosing", values(dosing_sessions=5, integration_sessions=4), "integration_sessions"),
    ("esketamine-integration-below-dosing",
     values(ketamine_route="esketamine", dosing_sessions=3, integration_sessions=2), "integration_sessions"),
    # integration is not judged against a dosing count that is itself refused
    ("esketamine-dosing-6-integration-2",
     values(ketamine_route="esketamine", dosing_sessions=6, integration_sessions=2), "dosing_sessions"),
    ("iv-dosing-7-integration-5", values(dosing_sessions=7, integration_sessions=5), "dosing_sessions"),
    ("integration-11", values(integration_sessions=11), "integration_sessions"),
    ("integration-negative", values(integration_sessions=-1), "integration_sessions"),
    ("intensive-0", values(intensive_sessions=0), "intensive_sessions"),
    ("intensive-3", values(intensive_sessions=3), "intensive_sessions"),
    ("route-unknown", values(ketamine_route="oral"), "ketamine_route"),
    ("route-wrong-case", values(ketamine_route="IV"), "ketamine_route"),
    ("route-empty", values(ketamine_route=""), "ketamine_route"),
    ("modality-unknown", values(therapy_modality="cbt"), "therapy_modality"),
    ("modality-int", values(therapy_modality=1), "therapy_modality"),
    ("lodging-unknown", values(lodging="tent"), "lodging"),
    ("lodging-empty", values(lodging=""), "lodging"),
    ("duration-bool", values(duration_days=True), "duration_days"),
    ("intensive-bool", values(intensive_sessions=True), "intensive_sessions"),  # True == 1 would pass
    ("dosing-bool", values(dosing_sessions=False), "dosing_sessions"),
    ("duration-str", values(duration_days="7"), "duration_days"),
    ("dosing-str", values(dosing_sessions="4"), "dosing_sessions"),
    ("integration-str", values(integration_sessions="4"), "integration_sessions"),
    ("intensive-str", values(intensive_sessions="1"), "intensive_sessions"),
    ("integration-float", values(integration_sessions=4.0), "integration_sessions"),
] + [
    (f"{name}-missing", {key: value for key, value in values().items() if key != name}, name)
    for name in FIELDS
] + [
    (f"{name}-none", values(**{name: None}), name) for name in FIELDS
]


@pytest.mark.parametrize(("given_values", "field"), [pytest.param(v, f, id=i) for i, v, f in INVALID])
def test_invalid_configuration_names_the_field(given_values, field):
    with pytest.raises(ValidationFailed) as refused:
        validate_configuration(given_values)
    assert set(refused.value.fields) == {field}
    reasons = refused.value.fields[field]
    assert reasons and all(isinstance(reason, str) and reason for reason in reasons)
    assert refused.value.status == 422
    assert refused.value.code == "validation_failed"


@pytest.mark.parametrize(("given_values", "field", "words"), [
    (values(duration_days=15), "duration_days", "7 to 14"),
    (values(ketamine_route="esketamine", dosing_sessions=6, integration_sessions=6), "dosing_sessions",
     "2 to 4"),
    (values(dosing_sessions=7, integration_sessions=7), "dosing_sessions", "4 to 6"),
    (values(dosing_sessions=5, integration_sessions=4), "integration_sessions", "5 or more"),
    (values(integration_sessions=11), "integration_sessions", "10"),
    (values(dosing_sessions="4"), "dosing_sessions", "whole number"),
    (values(lodging=None), "lodging", "required"),
])
def test_invalid_configuration_says_why(given_values, field, words):
    with pytest.raises(ValidationFailed) as refused:
        validate_configuration(given_values)
    assert words in " ".join(refused.value.fields[field])


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(ValidationFailed) as refused:
        validate_configuration({
            "duration_days": 6, "ketamine_route": "esketamine", "dosing_sessions": 6,
            "therapy_modality": "emdr", "integration_sessions": 11, "intensive_sessions": 3,
            "lodging": "tent",
        })
    assert set(refused.value.fields) == {"duration_days", "dosing_sessions", "integration_sessions",
                                         "intensive_sessions", "lodging"}


def test_every_field_missing_is_reported_at_once():
    with pytest.raises(ValidationFailed) as refused:
        validate_configuration({})
    assert set(refused.value.fields) == set(FIELDS)


def test_unknown_choices_reported_together():
    with pytest.raises(ValidationFailed) as refused:
        validate_configuration(values(ketamine_route="oral", therapy_modality="yoga", lodging="castle",
                                      duration_days="a week"))
    assert set(refused.value.fields) == {"ketamine_route", "therapy_modality", "lodging", "duration_days"}


def _independently_valid(v: dict) -> dict[str, bool]:
    """pricing.md's table, written out again without rules.py: which fields are acceptable."""
    ranges = {"iv": (4, 6), "im": (4, 6), "sublingual": (4, 6), "esketamine": (2, 4)}
    dosing_range = ranges.get(v["ketamine_route"])
    dosing_ok = dosing_range is None or dosing_range[0] <= v["dosing_sessions"] <= dosing_range[1]
    # At least one integration session per dosing session (when the dosing count itself is acceptable), at
    # most 10, never negative.
    integration_ok = (0 <= v["integration_sessions"] <= 10
                      and (not dosing_ok or v["integration_sessions"] >= v["dosing_sessions"]))
    return {
        "duration_days": 7 <= v["duration_days"] <= 14,
        "ketamine_route": dosing_range is not None,
        "dosing_sessions": dosing_ok,
        "therapy_modality": v["therapy_modality"] in ("emdr", "art", "ifs"),
        "integration_sessions": integration_ok,
        "intensive_sessions": v["intensive_sessions"] in (1, 2),
        "lodging": v["lodging"] in ("none", "shared", "private"),
    }


@settings(max_examples=200)
@given(st.fixed_dictionaries({
    "duration_days": st.integers(4, 17),
    "ketamine_route": st.sampled_from(["iv", "im", "sublingual", "esketamine", "oral"]),
    "dosing_sessions": st.integers(0, 8),
    "therapy_modality": st.sampled_from(["emdr", "art", "ifs", "cbt"]),
    "integration_sessions": st.integers(-1, 12),
    "intensive_sessions": st.integers(-1, 3),
    "lodging": st.sampled_from(["none", "shared", "private", "tent"]),
}))
def test_validation_agrees_with_the_domain_table(given_values):
    ok = _independently_valid(given_values)
    bad = {field for field, fine in ok.items() if not fine}
    if not bad:
        configuration = validate_configuration(given_values)
        assert configuration == Configuration(**given_values)
        return
    with pytest.raises(ValidationFailed) as refused:
        validate_configuration(given_values)
    assert set(refused.value.fields) == bad
