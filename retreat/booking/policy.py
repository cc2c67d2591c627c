"""How long seats are held, and how much a cancellation refunds: product decisions (domain/pricing.md), as data.

The clinic may change these defaults; each tier is read from the top and the first that applies wins.
"""

from dataclasses import dataclass
from datetime import timedelta

from retreat.core.money import format_usd

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

    @property
    def wording(self) -> str:
        """The tier in words, from its numbers (so the words and the refund cannot disagree)."""
        return f"{_days_wording(self)}: {_refund_wording(self)}"


# The version of the cancellation and refund policy below: a booking records the one its applicant accepted.
# Change it with any change to the tiers or CLINIC_DECISION_PERCENT.
POLICY_VERSION = "2026-12-07"

# domain/pricing.md: 30+ days: the deposit less a $100 administrative fee (and, if paid early, the balance);
# 14-29 days: 50% of what was paid; fewer than 14: nothing, unless staff override (audited). Highest first.
APPLICANT_CANCELLATION_TIERS = (
    RefundTier(30, 100, 100_00),
    RefundTier(14, 50, 0),
    RefundTier(0, 0, 0),
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


def _days_wording(tier: RefundTier) -> str:
    tiers = APPLICANT_CANCELLATION_TIERS
    index = tiers.index(tier)
    above = tiers[index - 1].min_days_before_start if index > 0 else None
    if above is None:
        return f"{tier.min_days_before_start} days or more before the start"
    if tier.min_days_before_start <= 0:
        return f"fewer than {above} days before the start"
    return f"{tier.min_days_before_start} to {above - 1} days before the start"


def _refund_wording(tier: RefundTier) -> str:
    if tier.percent <= 0:
        return "no refund"
    what = {100: "everything paid", 50: "half of what was paid"}.get(tier.percent, f"{tier.percent}% of what was paid")
    if tier.fee_cents:
        what += f", less a {format_usd(tier.fee_cents)} administrative fee"
    return what


def _refund_sentence(tier: RefundTier) -> str:
    if tier.percent <= 0:
        return "there is no refund"
    what = {100: "everything you paid", 50: "half of what you paid"}.get(
        tier.percent, f"{tier.percent}% of what you paid")
    fee = f", less a {format_usd(tier.fee_cents)} administrative fee" if tier.fee_cents else ""
    return f"we refund {what}{fee}"


def policy_points() -> list[str]:
    """The policy in sentences, one per rule (pages list them; the text joins them)."""
    points = [f"If you cancel {_days_wording(tier)}, {_refund_sentence(tier)}."
              for tier in APPLICANT_CANCELLATION_TIERS]
    share = "everything you paid" if CLINIC_DECISION_PERCENT == 100 else f"{CLINIC_DECISION_PERCENT}% of what you paid"
    points.append(f"If a clinician declines your booking after review, or the clinic cancels your dates, we refund "
                  f"{share}.")
    return points


def public_policy() -> dict:
    """The cancellation and refund policy as the applicant reads it (pages, emails, the JSON API):
    {version, text, rules: [{min_days_before_start, refund_percent, fee_cents}]}, highest tier first. The text is
    written from the rules."""
    return {
        "version": POLICY_VERSION,
        "text": " ".join(policy_points()),
        "rules": [{"min_days_before_start": tier.min_days_before_start, "refund_percent": tier.percent,
                   "fee_cents": tier.fee_cents} for tier in APPLICANT_CANCELLATION_TIERS],
    }
