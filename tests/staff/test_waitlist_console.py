"""The waitlist, visible to coordinators: each cohort's page lists those waiting with their place in line and the
offers made (who, offered until, status); the dashboard counts those waiting and the offers open."""

import re
from datetime import timedelta

import pytest

from retreat.booking.models import Booking, WaitlistEntry
from retreat.core.clock import now
from retreat.extensions import db
from tests.booking.support import make_cohort
from tests.screening.test_review_queue import make_screening


def entry(cohort, screening_id, name, *, status="waiting", minutes_ago=0, booking=None):
    row = WaitlistEntry(cohort_id=cohort.id, screening_id=screening_id, status=status, lodging="shared",
                        applicant_first_name=name, applicant_last_name="Waiting",
                        applicant_email=f"{name.lower()}@example.org", applicant_phone="+1 555 0100",
                        created_at=now() - timedelta(minutes=minutes_ago),
                        offered_at=now() - timedelta(minutes=minutes_ago - 5) if booking else None,
                        booking_id=booking.id if booking else None)
    db.session.add(row)
    return row


def offer_booking(cohort, reference, *, status="held", hold_hours=20):
    booking = Booking(
        reference=reference, cohort=cohort, status=status, lodging="shared", applicant_first_name="Offered",
        applicant_last_name="Person", applicant_email=f"{reference.lower()}@example.org",
        applicant_phone="+1 555 0100", price_list_version=1, total_cents=497_000, deposit_cents=99_400,
        balance_cents=397_600, balance_due_date=cohort.start_date - timedelta(days=30), payment_provider="stripe",
        hold_expires_at=now() + timedelta(hours=hold_hours))
    db.session.add(booking)
    db.session.flush()
    return booking


@pytest.fixture
def waitlisted(app):
    cohort = make_cohort(capacity=2, starts_in_days=30)
    ids = [make_screening().id for _ in range(5)]  # each in its own unit of work, before the rows below
    entry(cohort, ids[0], "Second", minutes_ago=10)
    entry(cohort, ids[1], "First", minutes_ago=50)
    entry(cohort, ids[2], "Offered", status="offered", minutes_ago=90, booking=offer_booking(cohort, "RT-OFFER1"))
    entry(cohort, ids[3], "Paid", status="offered", minutes_ago=120,
          booking=offer_booking(cohort, "RT-OFFER2", status="confirmed"))
    entry(cohort, ids[4], "Lapsed", status="lapsed", minutes_ago=200)
    db.session.commit()
    return cohort


def test_the_cohort_page_shows_places_in_line_and_the_offers(client, login_as, waitlisted):
    login_as("coordinator")
    html = client.get(f"/staff/cohorts/{waitlisted.id}").get_data(as_text=True)
    rows = re.findall(r'<tr class="waitlist-row is-(\w+)">\s*<td>([^<]+)</td>\s*<th scope="row">(\w+)', html)
    assert rows == [("waiting", "1", "First"), ("waiting", "2", "Second"), ("offered", "—", "Offered"),
                    ("booked", "—", "Paid"), ("lapsed", "—", "Lapsed")]
    assert "2</strong> waiting, <strong>1</strong> offer open" in html
    offered = html[html.index("is-offered"):html.index("is-booked")]
    assert "Offered: seat held until they pay" in offered and "RT-OFFER1" in offered
    times = re.findall(r'<td class="nowrap">([^<]+)</td>', offered)
    assert len(times) == 2 and "—" not in times, "joined, and offered until"


def test_the_dashboard_counts_the_waitlists(client, login_as, waitlisted):
    login_as("coordinator")
    html = client.get("/staff/dashboard").get_data(as_text=True)
    assert f'data-waitlist="{waitlisted.id}">Waitlist: 2 waiting, 1 offered<' in html
    assert re.search(r'data-waitlist="totals">Waitlists: <strong>2</strong> waiting,\s*<strong>1</strong> offer open',
                     html)
