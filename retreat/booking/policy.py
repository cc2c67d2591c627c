"""How long seats are held, and how much a cancellation refunds: product decisions (domain/pricing.md), as data.

The clinic may change these defaults; each tier is read from the top and the first that applies wins.
"""

from dataclasses import dataclass
from datetime import timedelta

HOLD_FOR_DEPOSIT = timedelta(minutes=30)      # an eligible applicant's seat while they pay the deposit
HOLD_FOR_REVIEW = timedelta(hours=72)         # a `review` applicant's seat while a clinician decides
HOLD_AFTER_APPROVAL = timedelta(hours=48)     # once approved, while they pay from the emailed link
HOLD_FOR_BANK_TRANSFER = timedelta(days=5)    # the deposit paid by bank transfer takes days to arrive
HOLD_FOR_WAITLIST_OFFER = timedelta(hours=24)  # a freed seat offered to the first on the waitlist
BALANCE_REMINDER_DAYS = (21, 7)               # days before the balance is due


@dataclass(frozen=True)
class RefundTier:
    """An applicant's cancellation at least `min_days_before_start` days before the cohort starts refunds
    `percent` of what was paid, less `fee_cents` (never below zero)."""

    min_days_before_start: int
    percent: int
    fee_cents: int
    wording: str


# domain/pricing.md: 30+ days: the deposit less a $100 administrative fee (and, if paid early, the balance);
# 14-29 days: 50% of what was paid; fewer than 14: nothing, unless staff override (audited).
APPLICANT_CANCELLATION_TIERS = (
    RefundTier(30, 100, 100_00, "30 days or more before the start: everything paid, less a $100 administrative fee"),
    RefundTier(14, 50, 0, "14 to 29 days before the start: half of what was paid"),
    RefundTier(0, 0, 0, "fewer than 14 days before the start: no refund"),
)
CLINIC_DECISION_PERCENT = 100  # a clinician's decline or the clinic's cancellation of the cohort: everything paid


@dataclass(frozen=True)
class RefundQuote:
    refund_cents: int
    paid_cents: int
    rule: str


def applicant_cancellation_refund(paid_cents: int, days_before_start: int) -> RefundQuote:
    """What an applicant cancelling `days_before_start` days before the cohort starts gets back of what they
    paid (pure: the same numbers are shown before confirming and refunded after)."""
    for tier in APPLICANT_CANCELLATION_TIERS:
        if days_before_start >= tier.min_days_before_start:
            refund = max(0, paid_cents * tier.percent // 100 - tier.fee_cents)
            return RefundQuote(min(refund, paid_cents), paid_cents, tier.wording)
    return RefundQuote(0, paid_cents, APPLICANT_CANCELLATION_TIERS[-1].wording)


def full_refund(paid_cents: int, rule: str) -> RefundQuote:
    return RefundQuote(max(0, paid_cents) * CLINIC_DECISION_PERCENT // 100, paid_cents, rule)
