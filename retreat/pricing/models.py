from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retreat.core.clock import now
from retreat.core.types import UTCDateTime
from retreat.extensions import db


class PriceList(db.Model):
    """One version of the clinic's prices and estimate policy. A version is never edited: a change is a new
    version, so every estimate and booking can say which prices it was made with."""

    __tablename__ = "price_list"
    __table_args__ = (
        sa.CheckConstraint("deposit_percent BETWEEN 0 AND 100", name="deposit_percent"),
        sa.CheckConstraint("band_min_cents <= band_max_cents", name="band_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    note: Mapped[str] = mapped_column(sa.String(400), default="")
    deposit_percent: Mapped[int]
    deposit_minimum_cents: Mapped[int]
    balance_due_days_before_start: Mapped[int]
    # Outside this band an estimate still computes but says a custom quote is required.
    band_min_cents: Mapped[int]
    band_max_cents: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    items: Mapped[list["PriceListItem"]] = relationship(
        back_populates="price_list", order_by="PriceListItem.position", cascade="all, delete-orphan"
    )


class PriceListItem(db.Model):
    __tablename__ = "price_list_item"
    __table_args__ = (
        sa.UniqueConstraint("price_list_id", "code", name="uq_price_list_item_code"),
        sa.CheckConstraint("unit_cents >= 0", name="unit_cents_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    price_list_id: Mapped[int] = mapped_column(sa.ForeignKey("price_list.id"))
    position: Mapped[int]
    code: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(20))
    unit_cents: Mapped[int]
    hsa_fsa_eligible: Mapped[bool]
    superbill_codes: Mapped[str] = mapped_column(sa.String(60), default="")

    price_list: Mapped[PriceList] = relationship(back_populates="items")
