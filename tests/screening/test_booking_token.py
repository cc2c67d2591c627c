"""The screening token books once, within 30 days; booking (a later issue) sets token_used_at when it holds
the seat, and `services.by_token(for_booking=True)` is the check it calls."""

from datetime import timedelta

import pytest
import time_machine

from retreat.core.clock import now
from retreat.core.errors import DomainError, NotFound
from retreat.extensions import db
from retreat.screening import services
from tests.screening.test_review_queue import valid_answers


def test_a_token_books_within_30_days_and_only_once(app):
    with time_machine.travel("2027-01-10T12:00:00+00:00", tick=False) as traveller:
        submitted = services.submit(valid_answers())
        assert services.by_token(submitted.token, for_booking=True).id == submitted.screening.id

        traveller.shift(timedelta(days=30) - timedelta(seconds=1))
        assert services.by_token(submitted.token, for_booking=True).id == submitted.screening.id
        traveller.shift(timedelta(seconds=1))
        with pytest.raises(DomainError) as expired:
            services.by_token(submitted.token, for_booking=True)
        assert expired.value.code == "screening_expired"
        assert services.by_token(submitted.token).id == submitted.screening.id  # the result page still opens

    fresh = services.submit(valid_answers())
    fresh.screening.token_used_at = now()
    db.session.commit()
    with pytest.raises(DomainError) as used:
        services.by_token(fresh.token, for_booking=True)
    assert used.value.code == "screening_used"
    with pytest.raises(NotFound):
        services.by_token("not-a-token", for_booking=True)
