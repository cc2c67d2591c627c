"""Imports every area's models, so Alembic and SQLAlchemy see all tables."""

from retreat.booking.models import Booking
from retreat.catalog.models import Cohort, Program
from retreat.pricing.models import PriceList, PriceListItem

__all__ = ["Booking", "Cohort", "PriceList", "PriceListItem", "Program"]
