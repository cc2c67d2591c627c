"""A discount code's arithmetic (pricing/estimator.py: discount_off, discounted), for any valid code on any valid
configuration: the discount is between nothing and the list price, total and discount add up to the list price,
and the deposit rule (20% rounded up to the whole dollar, at least $500, never more than the total) holds on the
discounted total. Pure: no database."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from retreat.catalog.discounts import MAX_AMOUNT_CENTS
from retreat.pricing.estimator import deposit_for, discount_off, discounted, estimate, validate_configuration
from tests.pricing.test_estimator import DEFAULTS, price_sheet, valid_values

CODES = st.one_of(st.builds(lambda p: {"percent": p}, st.integers(1, 100)),
                  st.builds(lambda a: {"amount_cents": a}, st.integers(1, MAX_AMOUNT_CENTS)))


@settings(max_examples=100)
@given(valid_values(), CODES)
@example({"duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
          "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"}, {"percent": 100})
@example({"duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
          "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"}, {"amount_cents": 4_470_01})
def test_any_valid_code_on_any_program(given_values, code):
    listed = estimate(validate_configuration(given_values), DEFAULTS)
    off = discount_off(listed.total_cents, **code)
    result = discounted(listed, off, DEFAULTS)

    assert 0 <= result.discount_cents <= listed.total_cents
    assert result.discount_cents == off
    assert result.total_cents + result.discount_cents == listed.total_cents == result.list_cents
    if "percent" in code:
        assert off == listed.total_cents * code["percent"] // 100       # rounded down to the cent
    else:
        assert off == min(code["amount_cents"], listed.total_cents)
    # The deposit rule, on the discounted total.
    total, deposit = result.total_cents, result.deposit_cents
    assert deposit == deposit_for(total, DEFAULTS)
    assert 0 <= deposit <= total and result.balance_cents == total - deposit
    if total <= 500_00:
        assert deposit == total
    else:
        assert deposit % 100 == 0 and deposit >= 500_00 and deposit * 100 >= total * 20
        if deposit > 500_00:
            assert (deposit - 100) * 100 < total * 20
    # The list price's lines are untouched: the discount is a line of its own.
    assert result.line_items == listed.line_items


def test_a_discount_is_one_kind_and_of_its_own_price_list():
    with pytest.raises(ValueError):
        discount_off(1000, percent=10, amount_cents=100)
    with pytest.raises(ValueError):
        discount_off(1000)
    listed = estimate(validate_configuration({
        "duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
        "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"}), DEFAULTS)
    with pytest.raises(ValueError):
        discounted(listed, listed.total_cents + 1, DEFAULTS)
    with pytest.raises(ValueError):
        discounted(listed, 100, price_sheet(version=2))
