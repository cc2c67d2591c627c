"""Price taken off bookings, for the month close: the bookings of a month (made in it, by UTC date like the rest
of the month close, and charged: their deposit or whole price was received, so `confirmed_at` is set, even if they
were cancelled later) with their gross list price, the discounts of discount codes, the reductions granted by
staff, and the net charged (the frozen `total_cents`: list price less both)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import sqlalchemy as sa

from retreat.booking.models import Booking
from retreat.extensions import db


@dataclass(frozen=True)
class CodeLine:
    code: str
    bookings: int
    discount_cents: int


@dataclass(frozen=True)
class PriceOffs:
    bookings: int
    gross_cents: int
    discount_cents: int
    reduction_cents: int
    net_cents: int
    by_code: list[CodeLine]


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_price_offs(month: date) -> PriceOffs:
    start = datetime.combine(month.replace(day=1), time(), UTC)
    end = datetime.combine(_next_month(month), time(), UTC)
    charged = (Booking.confirmed_at.is_not(None), Booking.created_at >= start, Booking.created_at < end)
    count, net, discount, reduction = db.session.execute(
        sa.select(sa.func.count(Booking.id), sa.func.coalesce(sa.func.sum(Booking.total_cents), 0),
                  sa.func.coalesce(sa.func.sum(Booking.discount_cents), 0),
                  sa.func.coalesce(sa.func.sum(Booking.reduction_cents), 0)).where(*charged)).one()
    by_code = [CodeLine(code, int(n), int(cents)) for code, n, cents in db.session.execute(
        sa.select(Booking.discount_code, sa.func.count(Booking.id), sa.func.sum(Booking.discount_cents))
        .where(*charged, Booking.discount_code.is_not(None)).group_by(Booking.discount_code)
        .order_by(Booking.discount_code))]
    net, discount, reduction = int(net), int(discount), int(reduction)
    return PriceOffs(int(count), net + discount + reduction, discount, reduction, net, by_code)
