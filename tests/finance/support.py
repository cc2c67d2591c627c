"""A small ledger with known figures, for the finance tests.

March 2027 (UTC) holds five movements; one just before the month, two just after (one of them recorded at
20:00 New York time on 31 March, which is already 1 April in UTC):

| booking   | payer                        | movement                                     | when (UTC)              |
|-----------|------------------------------|----------------------------------------------|-------------------------|
| RT-AAAA22 | Jane Doe                     | deposit  stripe pi_dep   994.00 fee 29.12    | 2027-03-01 00:00:00     |
| RT-AAAA22 | Jane Doe                     | balance  stripe pi_bal  3976.00 fee unknown  | 2027-03-31 23:59:59.999 |
| RT-BBBB33 | =HYPERLINK(...) Smith        | deposit  offline @SUM(A1) 500.00             | 2027-03-10 12:00        |
| RT-BBBB33 | =HYPERLINK(...) Smith        | refund   offline -500.00 pending             | 2027-03-11 09:00        |
| RT-CCCC44 | -2 +1                        | refund   stripe re_1    -250.00 fee 0.00     | 2027-03-15 08:30        |
| RT-CCCC44 | -2 +1                        | deposit  demo            1000.00             | 2027-02-28 23:59:59     |
| RT-CCCC44 | -2 +1                        | balance  demo             400.00             | 2027-03-31 20:00 EDT    |
| RT-CCCC44 | -2 +1                        | balance  stripe pi_apr    100.00 fee 3.20    | 2027-04-01 00:00:00     |
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from retreat.booking.models import Booking
from retreat.catalog.models import Cohort, Program
from retreat.extensions import db
from retreat.payments.models import Payment

MARCH = (date(2027, 3, 1), date(2027, 3, 31))
EVIL_NAME = '=HYPERLINK("http://evil.example","Click")'
_count = {"program": 0}


def make_program(name: str = "IV Ketamine with EMDR, One Week") -> Program:
    _count["program"] += 1
    program = Program(slug=f"finance-test-{_count['program']}", name=name, summary="A test program.",
                      duration_days=7, ketamine_route="iv", dosing_sessions=4, therapy_modality="emdr",
                      integration_sessions=4, intensive_sessions=1, lodging_options=["shared"], published=True)
    db.session.add(program)
    db.session.flush()
    return program


def make_cohort(program: Program, start: date = date(2027, 5, 3)) -> Cohort:
    cohort = Cohort(program=program, start_date=start, end_date=start + timedelta(days=6), capacity=8)
    db.session.add(cohort)
    db.session.flush()
    return cohort


def make_booking(cohort: Cohort, reference: str, first: str = "Jane", last: str = "Doe", *,
                 email: str | None = None, status: str = "confirmed", total: int = 497_000,
                 deposit: int = 99_400, due: date | None = None) -> Booking:
    booking = Booking(
        reference=reference, cohort=cohort, status=status, lodging="shared", applicant_first_name=first,
        applicant_last_name=last, applicant_email=email or f"{reference.lower()}@example.org",
        applicant_phone="+1 555 0100", price_list_version=1, total_cents=total, deposit_cents=deposit,
        balance_cents=total - deposit, balance_due_date=due or cohort.start_date - timedelta(days=30),
        payment_provider="stripe")
    db.session.add(booking)
    db.session.flush()
    return booking


def pay(booking: Booking, kind: str, cents: int, provider: str, reference: str, at: datetime, *,
        status: str = "succeeded", fee: int | None = None, net: int | None = None) -> Payment:
    payment = Payment(booking_id=booking.id, kind=kind, provider=provider, provider_reference=reference,
                      status=status, amount_cents=cents, fee_cents=fee, net_cents=net, created_at=at)
    db.session.add(payment)
    db.session.flush()
    return payment


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass
class Ledger:
    programs: dict[str, Program]
    cohorts: dict[str, Cohort]
    bookings: dict[str, Booking]
    payments: dict[str, Payment]


def make_ledger() -> Ledger:
    iv = make_program("IV Ketamine with EMDR, One Week")
    esk = make_program("Esketamine with IFS")
    may = make_cohort(iv, date(2027, 5, 3))
    june = make_cohort(esk, date(2027, 6, 7))
    jane = make_booking(may, "RT-AAAA22", "Jane", "Doe", email="jane@example.org", status="paid_in_full")
    evil = make_booking(june, "RT-BBBB33", EVIL_NAME, "Smith", email="+1@example.org", status="cancelled")
    signs = make_booking(may, "RT-CCCC44", "-2", "+1", email="signs@example.org", status="confirmed",
                         total=300_000, deposit=100_000, due=date(2027, 4, 3))
    payments = {
        "jane_deposit": pay(jane, "deposit", 99_400, "stripe", "pi_dep", utc(2027, 3, 1, 0, 0, 0),
                            fee=2_912, net=96_488),
        "jane_balance": pay(jane, "balance", 397_600, "stripe", "pi_bal", utc(2027, 3, 31, 23, 59, 59, 999_000)),
        "evil_deposit": pay(evil, "deposit", 50_000, "offline", "@SUM(A1)", utc(2027, 3, 10, 12, 0)),
        "evil_refund": pay(evil, "refund", -50_000, "offline", "refund-evil", utc(2027, 3, 11, 9, 0),
                           status="pending"),
        "signs_refund": pay(signs, "refund", -25_000, "stripe", "re_1", utc(2027, 3, 15, 8, 30), fee=0,
                            net=-25_000),
        "signs_deposit": pay(signs, "deposit", 100_000, "demo", "demo_1", utc(2027, 2, 28, 23, 59, 59)),
        "signs_late": pay(signs, "balance", 40_000, "demo", "demo_2",
                          datetime(2027, 3, 31, 20, 0, tzinfo=ZoneInfo("America/New_York"))),
        "signs_april": pay(signs, "balance", 10_000, "stripe", "pi_apr", utc(2027, 4, 1, 0, 0), fee=320,
                           net=9_680),
    }
    db.session.commit()
    return Ledger({"iv": iv, "esk": esk}, {"may": may, "june": june},
                  {"jane": jane, "evil": evil, "signs": signs}, payments)


MARCH_KEYS = ("jane_deposit", "evil_deposit", "evil_refund", "signs_refund", "jane_balance")


def ledger_sums(ledger: Ledger, keys=MARCH_KEYS) -> dict[str, int]:
    """What the rows `keys` add up to, computed here without the code under test."""
    rows = [ledger.payments[key] for key in keys]
    return {
        "count": len(rows),
        "amount": sum(p.amount_cents for p in rows),
        "gross": sum(p.amount_cents for p in rows if p.amount_cents > 0),
        "refunds": sum(p.amount_cents for p in rows if p.amount_cents < 0),
        "fees": sum(p.fee_cents or 0 for p in rows),
        "net_known": sum(p.net_cents for p in rows if p.net_cents is not None),
    }
