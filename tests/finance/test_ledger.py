"""The ledger as finance reads it: filters (table-driven), inclusive UTC dates, totals, the chart, a booking's
money, the month close. None of it reads the screening table."""

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from retreat.core.errors import NotFound, ValidationFailed
from retreat.extensions import db
from retreat.finance import services as finance
from retreat.finance.services import LedgerFilters
from tests.finance.support import MARCH, ledger_sums

MARCH_FILTERS = LedgerFilters(date_from=MARCH[0], date_to=MARCH[1])


def references(filters: LedgerFilters) -> list[str]:
    return [row.provider_reference for row in finance.iter_payments(filters)]


@pytest.mark.parametrize(("filters", "expected"), [
    # Dates are inclusive, by the payment's UTC date: 00:00:00 on the first day and 23:59:59.999 on the last are
    # in; 23:59:59 the day before and 00:00 the day after are out, as is 20:00 New York time on 31 March.
    (dict(date_from=MARCH[0], date_to=MARCH[1]), ["pi_dep", "@SUM(A1)", "refund-evil", "re_1", "pi_bal"]),
    (dict(date_from=date(2027, 3, 1), date_to=date(2027, 3, 1)), ["pi_dep"]),
    (dict(date_from=date(2027, 3, 31), date_to=date(2027, 3, 31)), ["pi_bal"]),
    (dict(date_from=date(2027, 4, 1), date_to=date(2027, 4, 1)), ["demo_2", "pi_apr"]),
    (dict(date_from=date(2027, 2, 28), date_to=date(2027, 2, 28)), ["demo_1"]),
    (dict(date_from=date(2027, 4, 2)), []),
    (dict(date_to=date(2027, 2, 28)), ["demo_1"]),
    (dict(), ["demo_1", "pi_dep", "@SUM(A1)", "refund-evil", "re_1", "pi_bal", "demo_2", "pi_apr"]),
    (dict(provider="stripe", date_from=MARCH[0], date_to=MARCH[1]), ["pi_dep", "re_1", "pi_bal"]),
    (dict(provider="offline"), ["@SUM(A1)", "refund-evil"]),
    (dict(kind="refund"), ["refund-evil", "re_1"]),
    (dict(kind="balance", provider="demo"), ["demo_2"]),
    (dict(status="pending"), ["refund-evil"]),
    (dict(status="succeeded", date_from=MARCH[0], date_to=MARCH[1]), ["pi_dep", "@SUM(A1)", "re_1", "pi_bal"]),
], ids=lambda value: ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None)
def test_filters_select_exactly_these_payments_oldest_first(ledger, filters, expected):
    assert references(LedgerFilters(**filters)) == expected
    assert finance.count_payments(LedgerFilters(**filters)) == len(expected)


def test_program_and_cohort_filters(ledger):
    by_program = LedgerFilters(program_id=ledger.programs["esk"].id)
    assert references(by_program) == ["@SUM(A1)", "refund-evil"]
    by_cohort = LedgerFilters(cohort_id=ledger.cohorts["may"].id, date_from=MARCH[0], date_to=MARCH[1])
    assert references(by_cohort) == ["pi_dep", "re_1", "pi_bal"]


@pytest.mark.parametrize(("filters", "field"), [
    (dict(date_from=date(2027, 3, 2), date_to=date(2027, 3, 1)), "to"),
    (dict(kind="chargeback"), "kind"),
    (dict(provider="paypal"), "provider"),
    (dict(status="failed"), "status"),
    (dict(date_to=date(9999, 12, 31)), "to"),
    (dict(date_from=date(1, 1, 1)), "from"),
])
def test_impossible_filters_are_refused(filters, field):
    with pytest.raises(ValidationFailed) as refused:
        LedgerFilters(**filters).check()
    assert field in refused.value.fields


def test_rows_carry_the_contract_fields(ledger):
    rows = {row.provider_reference: row for row in finance.iter_payments(MARCH_FILTERS)}
    deposit = rows["pi_dep"]
    assert deposit.date == "2027-03-01", "the export rows carry dates as ISO text"
    assert (deposit.booking_reference, deposit.payer_name, deposit.payer_email) == (
        "RT-AAAA22", "Jane Doe", "jane@example.org")
    assert (deposit.program, deposit.cohort_start) == ("IV Ketamine with EMDR, One Week", "2027-05-03")
    assert (deposit.kind, deposit.provider, deposit.status, deposit.currency) == (
        "deposit", "stripe", "succeeded", "usd")
    assert (deposit.amount_cents, deposit.fee_cents, deposit.net_cents) == (99_400, 2_912, 96_488)
    assert (rows["pi_bal"].fee_cents, rows["pi_bal"].net_cents) == (None, None), "unknown stays unknown"
    assert rows["re_1"].amount_cents == -25_000 and rows["re_1"].fee_cents == 0
    assert rows["pi_bal"].date == "2027-03-31" and len(deposit) == len(finance.EXPORT_COLUMNS)

    typed = {row.provider_reference: row for row in finance.iter_ledger(MARCH_FILTERS)}
    assert list(typed) == list(rows), "the typed stream has the same rows in the same order"
    assert (typed["pi_dep"].date, typed["pi_dep"].cohort_start) == (date(2027, 3, 1), date(2027, 5, 3))
    assert typed["pi_bal"].created_at.isoformat() == "2027-03-31T23:59:59.999000+00:00"
    assert typed["pi_dep"][1:6] == deposit[1:6] and typed["pi_dep"][7:15] == deposit[7:15]


def test_totals_match_the_ledger(ledger):
    totals = finance.totals(MARCH_FILTERS)
    expected = ledger_sums(ledger)
    assert totals.count == expected["count"] == 5
    assert totals.gross_cents == expected["gross"] == 547_000
    assert totals.refunds_cents == expected["refunds"] == -75_000
    assert totals.fees_cents == expected["fees"] == 2_912
    assert totals.net_cents == 547_000 - 75_000 - 2_912
    assert totals.pending_cents == -50_000
    assert totals.fees_unknown == 1, "the Stripe balance whose fee is not known yet"
    assert finance.totals(LedgerFilters(date_from=date(2030, 1, 1))) == finance.Totals()


def test_chart_by_week_and_by_month(ledger):
    period, weeks = finance.chart(MARCH_FILTERS, "week")
    assert period == "week"
    # Weeks start on Monday: 1 March 2027 is a Monday, 31 March a Wednesday.
    assert [bucket.start for bucket in weeks] == [date(2027, 3, 1), date(2027, 3, 8), date(2027, 3, 15),
                                                 date(2027, 3, 22), date(2027, 3, 29)]
    assert [(b.in_cents, b.refunds_cents) for b in weeks] == [
        (99_400, 0), (50_000, -50_000), (0, -25_000), (0, 0), (397_600, 0)]
    assert sum(b.net_cents for b in weeks) == ledger_sums(ledger)["amount"]

    period, months = finance.chart(LedgerFilters(date_from=date(2027, 2, 1), date_to=date(2027, 4, 30)), "month")
    assert period == "month"
    assert [(b.label, b.in_cents, b.refunds_cents) for b in months] == [
        ("Feb 2027", 100_000, 0), ("Mar 2027", 547_000, -75_000), ("Apr 2027", 50_000, 0)]


def test_a_long_range_charts_by_month_then_year(ledger):
    period, buckets = finance.chart(LedgerFilters(date_from=date(2026, 1, 1), date_to=date(2027, 12, 31)), "week")
    assert period == "month" and len(buckets) == 24
    period, buckets = finance.chart(LedgerFilters(date_from=date(1900, 1, 1), date_to=date(2999, 12, 31)), "week")
    assert period == "year" and len(buckets) <= finance.MAX_BUCKETS
    assert sum(b.net_cents for b in buckets) == sum(p.amount_cents for p in ledger.payments.values())


def test_a_bookings_money_history(ledger):
    money = finance.booking_money(" rt-cccc44 ")
    assert money.booking.reference == "RT-CCCC44" and money.booking.payer_name == "-2 +1"
    assert [p.provider_reference for p in money.payments] == ["demo_1", "re_1", "demo_2", "pi_apr"]
    assert money.paid_cents == 150_000 and money.refunded_cents == -25_000
    assert money.net_paid_cents == 125_000
    assert money.owed_cents == 300_000 - 150_000  # what was received: a goodwill refund is not owed again
    assert money.fees_cents == 320

    cancelled = finance.booking_money("RT-BBBB33")
    assert cancelled.pending_refund_cents == -50_000 and cancelled.owed_cents == 0
    with pytest.raises(NotFound):
        finance.booking_money("RT-NOPE00")


def test_month_close(ledger, time_machine):
    time_machine.move_to("2027-04-05T12:00:00Z")
    close = finance.month_close(date(2027, 3, 1))
    assert (close.month, close.last_day) == (date(2027, 3, 1), date(2027, 3, 31))
    lines = {line.kind: (line.count, line.amount_cents, line.fees_cents) for line in close.lines}
    assert lines == {"deposit": (2, 149_400, 2_912), "balance": (1, 397_600, 0), "installment": (0, 0, 0),
                     "refund": (1, -25_000, 0)}
    assert (close.pending.count, close.pending.amount_cents) == (1, -50_000)
    providers = {line.kind: (line.count, line.amount_cents) for line in close.by_provider}
    assert providers == {"stripe": (3, 472_000), "offline": (1, 50_000)}
    assert (close.stripe_reconciled.count, close.stripe_reconciled.amount_cents) == (2, 74_400)
    assert [row.provider_reference for row in close.stripe_unreconciled] == ["pi_bal"]
    assert [(b.reference, b.owed_cents, b.due_date) for b in close.owed] == [
        ("RT-CCCC44", 150_000, date(2027, 4, 3))]
    assert [b.reference for b in close.overdue] == ["RT-CCCC44"]
    assert (close.previous, close.next) == (date(2027, 2, 1), date(2027, 4, 1))


@pytest.mark.parametrize(("text", "expected"), [
    ("2027-03", date(2027, 3, 1)), ("2027-12", date(2027, 12, 1)), (" 2027-3 ", date(2027, 3, 1)),
    ("2027-13", None), ("March", None), ("2027-03-01", None), ("9999-12", None), ("0-1", None),
])
def test_parse_month(text, expected):
    if expected is None:
        with pytest.raises(ValidationFailed):
            finance.parse_month(text)
    else:
        assert finance.parse_month(text) == expected


def test_no_finance_read_touches_the_screening_table(ledger):
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.lower())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        list(finance.iter_payments(LedgerFilters()))
        list(finance.iter_ledger(LedgerFilters()))
        finance.totals(MARCH_FILTERS)
        finance.chart(MARCH_FILTERS, "week")
        finance.ledger_page(MARCH_FILTERS)
        finance.booking_money("RT-AAAA22")
        finance.month_close(date(2027, 3, 1))
        finance.filter_choices()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert statements
    assert not [s for s in statements if "screening" in s]


def test_reads_write_nothing(ledger):
    def counts():
        db.session.rollback()
        return [db.session.scalar(sa.select(sa.func.count()).select_from(table))
                for table in db.metadata.sorted_tables]

    before = counts()
    list(finance.iter_payments(LedgerFilters()))
    finance.month_close(date(2027, 3, 1))
    finance.booking_money("RT-AAAA22")
    assert not db.session.new and not db.session.dirty
    assert counts() == before
