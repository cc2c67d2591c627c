"""The month close's bookings (finance/price_offs.py): gross list price, discount codes, reduced fees granted and
net charged, for the bookings made in the month (UTC dates) that were charged, cancelled since or not."""

from datetime import date

from retreat.extensions import db
from retreat.finance.price_offs import month_price_offs
from tests.finance.support import make_booking, make_cohort, make_program, utc


def _booking(cohort, reference, made_at, *, status="confirmed", confirmed=True, total=497_000, discount=0,
             code=None, reduction=0):
    booking = make_booking(cohort, reference, status=status, total=total)
    booking.created_at = made_at
    booking.confirmed_at = made_at if confirmed else None
    booking.discount_cents, booking.discount_code, booking.reduction_cents = discount, code, reduction
    return booking


def month_of_bookings():
    cohort = make_cohort(make_program())
    _booking(cohort, "RT-AAAA22", utc(2027, 3, 1))                                      # list price
    _booking(cohort, "RT-BBBB33", utc(2027, 3, 10), total=447_300, discount=49_700, code="WELCOME10")
    _booking(cohort, "RT-CCCC44", utc(2027, 3, 31, 23, 59, 59), total=397_000, discount=100_000,
             code="SPRING", status="cancelled")                                         # charged, cancelled since
    _booking(cohort, "RT-DDDD55", utc(2027, 3, 20), total=347_000, reduction=150_000)  # reduced fee
    _booking(cohort, "RT-EEEE66", utc(2027, 3, 12), total=447_300, discount=49_700, code="WELCOME10",
             status="expired", confirmed=False)                                          # never charged
    _booking(cohort, "RT-FFFF77", utc(2027, 2, 28, 23, 59, 59), total=447_300, discount=49_700,
             code="WELCOME10")                                                          # February
    _booking(cohort, "RT-GGGG88", utc(2027, 4, 1), total=100_000, discount=397_000, code="WELCOME10")  # April
    db.session.commit()


def test_the_bookings_of_a_month_gross_discounts_reductions_and_net(app):
    month_of_bookings()
    march = month_price_offs(date(2027, 3, 1))
    assert march.bookings == 4
    assert march.gross_cents == 4 * 497_000
    assert (march.discount_cents, march.reduction_cents) == (149_700, 150_000)
    assert march.net_cents == 497_000 + 447_300 + 397_000 + 347_000
    assert march.gross_cents - march.discount_cents - march.reduction_cents == march.net_cents
    assert [(line.code, line.bookings, line.discount_cents) for line in march.by_code] == [
        ("SPRING", 1, 100_000), ("WELCOME10", 1, 49_700)]
    empty = month_price_offs(date(2027, 1, 1))
    assert (empty.bookings, empty.gross_cents, empty.net_cents, empty.by_code) == (0, 0, 0, [])
    december = month_price_offs(date(2026, 12, 1))  # the year turns
    assert december.bookings == 0


def test_the_month_close_page_shows_them(app, client, login_as):
    month_of_bookings()
    login_as("finance")
    page = client.get("/staff/finance/close", query_string={"month": "2027-03"}).get_data(as_text=True)
    assert 'data-total="priced-bookings">4<' in page
    assert 'data-total="gross"><span class="">$19,880.00</span>' in page
    assert 'data-total="discounts"><span class="is-negative">-$1,497.00</span>' in page
    assert 'data-total="reductions"><span class="is-negative">-$1,500.00</span>' in page
    assert 'data-total="net-charged"><span class="">$16,883.00</span>' in page
    assert 'data-code="WELCOME10"' in page and 'data-code="SPRING"' in page
