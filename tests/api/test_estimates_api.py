"""Contract tests of the public estimates API: POST /api/v1/estimates and GET /api/v1/estimates/{id}
(shared/API.md, "Estimates"; rules and worked examples from shared/domain/pricing.md)."""

import re
from datetime import date
from urllib.parse import urlparse

import pytest

from retreat.catalog.services import forget_cached_catalog
from retreat.core.clock import today
from retreat.demo import DEMO_PROGRAMS
from retreat.extensions import db
from retreat.pricing.defaults import DEFAULT_PRICE_LIST
from retreat.pricing.models import PriceList, PriceListItem

ESTIMATE_FIELDS = {
    "id", "currency", "price_list_version", "line_items", "total_cents", "deposit_cents", "balance_cents",
    "hsa_fsa_eligible_cents", "custom_quote_required", "valid_until",
}
LINE_ITEM_FIELDS = {"code", "label", "quantity", "unit_cents", "total_cents", "hsa_fsa_eligible"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The three worked examples of domain/pricing.md, as custom bodies, with their line items and totals.
WORKED_EXAMPLES = {
    "1-week-sublingual-art-no-lodging": (
        {"duration_days": 7, "ketamine_route": "sublingual", "dosing_sessions": 4, "therapy_modality": "art",
         "integration_sessions": 4, "intensive_sessions": 1, "lodging": "none"},
        [("intake", 1, 300_00), ("dosing_sublingual", 4, 400_00), ("integration_art", 4, 200_00),
         ("intensive_art", 1, 750_00)],
        3_450_00,
    ),
    "1-week-iv-emdr-shared": (
        {"duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
         "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"},
        [("intake", 1, 300_00), ("dosing_iv", 4, 600_00), ("integration_emdr", 4, 200_00),
         ("intensive_emdr", 1, 750_00), ("lodging_shared", 6, 120_00)],
        4_970_00,
    ),
    "2-weeks-iv-ifs-private": (
        {"duration_days": 14, "ketamine_route": "iv", "dosing_sessions": 6, "therapy_modality": "ifs",
         "integration_sessions": 6, "intensive_sessions": 2, "lodging": "private"},
        [("intake", 1, 300_00), ("dosing_iv", 6, 600_00), ("integration_ifs", 6, 200_00),
         ("intensive_ifs", 2, 750_00), ("lodging_private", 13, 190_00)],
        9_070_00,
    ),
}


def is_int(value) -> bool:
    return type(value) is int  # a JSON true/false must not pass for a number


def expected_deposit(total_cents: int) -> int:
    """20% of the total rounded up to the whole dollar, at least $500, never more than the total."""
    twenty_percent_dollars = -(-total_cents * 20 // (100 * 100))
    return min(total_cents, max(500_00, twenty_percent_dollars * 100))


def assert_estimate_shape(estimate: dict) -> None:
    assert estimate.keys() >= ESTIMATE_FIELDS, ESTIMATE_FIELDS - estimate.keys()
    assert isinstance(estimate["id"], str) and estimate["id"]
    assert estimate["currency"] == "usd"
    assert is_int(estimate["price_list_version"])
    assert isinstance(estimate["line_items"], list) and estimate["line_items"]
    for item in estimate["line_items"]:
        assert item.keys() >= LINE_ITEM_FIELDS, LINE_ITEM_FIELDS - item.keys()
        assert isinstance(item["code"], str) and item["code"]
        assert isinstance(item["label"], str) and item["label"]
        assert is_int(item["quantity"]) and is_int(item["unit_cents"]) and is_int(item["total_cents"])
        assert item["total_cents"] == item["quantity"] * item["unit_cents"]
        assert isinstance(item["hsa_fsa_eligible"], bool)
    for field in ("total_cents", "deposit_cents", "balance_cents", "hsa_fsa_eligible_cents"):
        assert is_int(estimate[field]), field
    assert estimate["total_cents"] == sum(item["total_cents"] for item in estimate["line_items"])
    assert estimate["deposit_cents"] + estimate["balance_cents"] == estimate["total_cents"]
    assert estimate["hsa_fsa_eligible_cents"] == sum(
        item["total_cents"] for item in estimate["line_items"] if item["hsa_fsa_eligible"])
    assert isinstance(estimate["custom_quote_required"], bool)
    assert isinstance(estimate["valid_until"], str) and ISO_DATE.match(estimate["valid_until"])
    assert date.fromisoformat(estimate["valid_until"]) >= today()


def post_estimate(client, body: dict) -> dict:
    response = client.post("/api/v1/estimates", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.mimetype == "application/json"
    estimate = response.get_json()
    assert_estimate_shape(estimate)
    location = response.headers.get("Location")
    assert location, "a created estimate says where it lives"
    assert urlparse(location).path == f"/api/v1/estimates/{estimate['id']}"
    return estimate


def get_estimate(client, estimate_id: str) -> dict:
    response = client.get(f"/api/v1/estimates/{estimate_id}")
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    return response.get_json()


def items(estimate: dict) -> list[tuple[str, int, int]]:
    return [(item["code"], item["quantity"], item["unit_cents"]) for item in estimate["line_items"]]


# --- Custom configurations ----------------------------------------------------------------------------------

@pytest.mark.parametrize("example", list(WORKED_EXAMPLES))
def test_worked_examples_of_the_pricing_reference(client, example):
    body, line_items, total = WORKED_EXAMPLES[example]
    estimate = post_estimate(client, body)

    assert items(estimate) == line_items
    assert estimate["total_cents"] == total
    assert estimate["price_list_version"] == 1
    assert estimate["deposit_cents"] == expected_deposit(total)
    assert estimate["balance_cents"] == total - expected_deposit(total)
    lodging = [item for item in estimate["line_items"] if item["code"].startswith("lodging")]
    assert estimate["hsa_fsa_eligible_cents"] == total - sum(item["total_cents"] for item in lodging)
    for item in estimate["line_items"]:
        assert item["hsa_fsa_eligible"] is not item["code"].startswith("lodging"), item["code"]
    assert estimate["custom_quote_required"] is False


@pytest.mark.parametrize(("total", "deposit"), [(3_450_00, 690_00), (4_970_00, 994_00), (9_070_00, 1_814_00)])
def test_deposit_of_the_worked_examples(client, total, deposit):
    body = next(body for body, _, example_total in WORKED_EXAMPLES.values() if example_total == total)
    estimate = post_estimate(client, body)
    assert (estimate["deposit_cents"], estimate["balance_cents"]) == (deposit, total - deposit)


@pytest.mark.parametrize(("body", "total"), [
    # The cheapest and dearest valid configurations of pricing.md: $3,250 (esketamine x2) and $9,870.
    ({"duration_days": 7, "ketamine_route": "esketamine", "dosing_sessions": 2, "therapy_modality": "emdr",
      "integration_sessions": 2, "intensive_sessions": 1, "lodging": "none"}, 3_250_00),
    ({"duration_days": 14, "ketamine_route": "esketamine", "dosing_sessions": 4, "therapy_modality": "ifs",
      "integration_sessions": 10, "intensive_sessions": 2, "lodging": "private"}, 9_870_00),
], ids=["cheapest", "dearest"])
def test_band_edges_need_no_custom_quote(client, body, total):
    estimate = post_estimate(client, body)
    assert estimate["total_cents"] == total
    assert estimate["custom_quote_required"] is False


def test_nights_are_duration_minus_one_and_none_without_lodging(client):
    body = dict(WORKED_EXAMPLES["1-week-sublingual-art-no-lodging"][0], duration_days=10)
    codes = [item["code"] for item in post_estimate(client, body)["line_items"]]
    assert not [code for code in codes if code.startswith("lodging")]
    for lodging, unit in (("shared", 120_00), ("private", 190_00)):
        estimate = post_estimate(client, dict(body, lodging=lodging))
        assert items(estimate)[-1] == (f"lodging_{lodging}", 9, unit)


# --- Program estimates --------------------------------------------------------------------------------------

def test_program_estimate_equals_the_custom_estimate_of_its_configuration(client, demo):
    program = post_estimate(client, {"program": "iv-emdr-one-week", "lodging": "shared"})
    custom = post_estimate(client, WORKED_EXAMPLES["1-week-iv-emdr-shared"][0])

    assert program["total_cents"] == 4_970_00
    assert program["id"] != custom["id"]
    for field in ESTIMATE_FIELDS - {"id"}:
        assert program[field] == custom[field], field


def test_every_lodging_option_of_every_demo_program_can_be_estimated(client, demo):
    for spec in DEMO_PROGRAMS:
        for lodging in spec["lodging_options"]:
            estimate = post_estimate(client, {"program": spec["slug"], "lodging": lodging})
            assert estimate["custom_quote_required"] is False
            route, modality = spec["ketamine_route"], spec["therapy_modality"]
            codes = [item["code"] for item in estimate["line_items"]]
            assert codes[:4] == [
                "intake", f"dosing_{route}", f"integration_{modality}", f"intensive_{modality}"]
            assert [item["quantity"] for item in estimate["line_items"]][:4] == [
                1, spec["dosing_sessions"], spec["integration_sessions"], spec["intensive_sessions"]]


# --- Fetching an estimate -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"program": "iv-ifs-two-weeks", "lodging": "private"},
    WORKED_EXAMPLES["1-week-sublingual-art-no-lodging"][0],
], ids=["program", "custom"])
def test_get_returns_the_created_estimate(client, demo, body):
    response = client.post("/api/v1/estimates", json=body)
    assert response.status_code == 201
    created = response.get_json()

    assert get_estimate(client, created["id"]) == created
    assert client.get(urlparse(response.headers["Location"]).path).get_json() == created


@pytest.mark.parametrize("estimate_id", ["nope", "0", "e" * 300])
def test_unknown_estimate_is_not_found(client, estimate_id):
    response = client.get(f"/api/v1/estimates/{estimate_id}")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert isinstance(error["message"], str) and error["message"]


def test_tampered_estimate_id_is_not_found(client):
    estimate = post_estimate(client, WORKED_EXAMPLES["1-week-iv-emdr-shared"][0])
    estimate_id = estimate["id"]
    tampered = estimate_id[:-1] + ("A" if estimate_id[-1] != "A" else "B")

    response = client.get(f"/api/v1/estimates/{tampered}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


# --- Edited prices ------------------------------------------------------------------------------------------

def publish_price_list(version: int, factor: float) -> None:
    """A new price list version with every unit price scaled, as the staff console would save it."""
    defaults = dict(DEFAULT_PRICE_LIST)
    default_items = defaults.pop("items")
    price_list = PriceList(version=version, **defaults)
    for position, (code, label, unit, unit_cents, eligible, superbill) in enumerate(default_items):
        price_list.items.append(PriceListItem(
            position=position, code=code, label=label, unit=unit, unit_cents=round(unit_cents * factor),
            hsa_fsa_eligible=eligible, superbill_codes=superbill,
        ))
    db.session.add(price_list)
    db.session.commit()
    forget_cached_catalog()


@pytest.mark.parametrize(("factor", "example"), [
    (2, "2-weeks-iv-ifs-private"),             # $18,140: above the $10,000 band
    (0.5, "1-week-sublingual-art-no-lodging"),  # $1,725: below the $3,000 band
], ids=["above-band", "below-band"])
def test_edited_prices_outside_the_band_require_a_custom_quote(client, factor, example):
    body, _, total = WORKED_EXAMPLES[example]
    before = post_estimate(client, body)
    publish_price_list(2, factor)

    after = post_estimate(client, body)
    assert after["price_list_version"] == 2
    assert after["total_cents"] == round(total * factor)
    assert after["custom_quote_required"] is True
    assert after["deposit_cents"] == expected_deposit(after["total_cents"])

    # An estimate issued earlier keeps the prices it was made with.
    assert get_estimate(client, before["id"]) == before
    assert before["price_list_version"] == 1 and before["total_cents"] == total
