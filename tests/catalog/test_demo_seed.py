from datetime import timedelta

import sqlalchemy as sa

from retreat.catalog import services
from retreat.catalog.models import Program
from retreat.core.clock import today
from retreat.demo import seed_demo_data
from retreat.extensions import db
from retreat.pricing.rules import KETAMINE_ROUTES, THERAPY_MODALITIES


def test_demo_covers_every_route_modality_and_length(demo):
    programs = services.published_programs()
    assert len(programs) >= 6
    assert {p.ketamine_route for p in programs} == set(KETAMINE_ROUTES)
    assert {p.therapy_modality for p in programs} == set(THERAPY_MODALITIES)
    assert {7, 14} <= {p.duration_days for p in programs}


def test_demo_cohorts_are_dated_over_the_next_six_months(demo):
    horizon = today() + timedelta(days=183)
    for program in services.published_programs():
        assert 2 <= len(program.cohorts) <= 4, program.slug
        for cohort in program.cohorts:
            assert today() < cohort.start_date <= horizon
            assert (cohort.end_date - cohort.start_date).days == program.duration_days - 1


def test_demo_has_one_full_cohort_and_some_nearly_full(demo):
    cohorts = [c for p in services.published_programs() for c in p.cohorts]
    assert [c.status for c in cohorts].count("full") == 1
    nearly_full = [c for c in cohorts if c.status == "open" and c.seats_left <= 2]
    assert len(nearly_full) >= 2


def test_seeding_twice_changes_nothing(demo):
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Program))
    assert seed_demo_data() is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Program)) == count
