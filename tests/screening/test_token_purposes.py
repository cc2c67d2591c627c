"""Each secret opens only the pages of its purpose (issue "Trust", point 4). The applicant's pre-screen token
(from the result page) opens the result page, its review request and the booking pages; the approval token (from
a clinician's approval email, which promises that its page shows nothing about health) opens the
continue-to-booking page and the booking pages, never the result page with the reasons and the PHQ-9 score. A token
on another purpose's page is 404, worded as for a token that does not exist."""

import sqlalchemy as sa

from retreat.extensions import db
from retreat.notify.models import OutboxEmail
from retreat.screening import early, review, services
from tests.booking.support import make_cohort
from tests.screening.test_review_queue import CONTACT, review_answers

# What the result page of this review screening shows and the approval pages must not.
HEALTH_WORDS = ("interacting_medication", "medicines", "PHQ-9", "moderately severe",
                "clinician needs to look at your answers")


def approved_screening(staff_user) -> tuple[str, str]:
    """A review pre-screen whose applicant asked for a review and a clinician approved: (pre-screen token,
    approval token from the email)."""
    submitted = services.submit(review_answers())
    early.request_review(submitted.screening, CONTACT)
    review.decide(submitted.screening.id, "approved", "", staff_user("clinician"))
    (email,) = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "screening_approved")).all()
    link = next(word for word in email.body.split() if "/screening/approved/" in word)
    return submitted.token, link.rsplit("/", 1)[1]


def text(response) -> str:
    return response.get_data(as_text=True)


def test_each_token_opens_only_the_pages_of_its_purpose(app, client, staff_user):
    make_cohort()
    prescreen, approval = approved_screening(staff_user)
    assert prescreen != approval

    # The pre-screen token: its result (with the health findings) and booking.
    result = client.get(f"/screening/result/{prescreen}")
    assert result.status_code == 200
    assert "interacting_medication" in text(result) and "moderately severe" in text(result)
    assert client.get(f"/bookings/new/{prescreen}").status_code == 200

    # The approval token: the continue-to-booking page, with nothing about health, and booking.
    page = client.get(f"/screening/approved/{approval}")
    assert page.status_code == 200
    for word in HEALTH_WORDS:
        assert word not in text(page), word
    assert f"/bookings/new/{approval}" in text(page)
    booking_page = client.get(f"/bookings/new/{approval}")
    assert booking_page.status_code == 200
    for word in HEALTH_WORDS:
        assert word not in text(booking_page), word
    assert services.by_token(approval, for_booking=True).id == services.by_token(prescreen).id

    # Each on the other's pages: 404, exactly as an unknown token.
    unknown_result = client.get("/screening/result/" + "x" * 43)
    unknown_approved = client.get("/screening/approved/" + "x" * 43)
    assert unknown_result.status_code == unknown_approved.status_code == 404
    crossed = {
        "approval token on the result page": (client.get(f"/screening/result/{approval}"), unknown_result),
        "approval token asking for a review": (client.post(f"/screening/result/{approval}/review",
                                                           data=dict(CONTACT)),
                                               client.post("/screening/result/" + "x" * 43 + "/review",
                                                           data=dict(CONTACT))),
        "pre-screen token on the approval page": (client.get(f"/screening/approved/{prescreen}"), unknown_approved),
    }
    for name, (response, unknown) in crossed.items():
        assert response.status_code == 404, name
        assert text(response) == text(unknown), f"{name}: the 404 gives no hint that the token exists"
        for word in HEALTH_WORDS:
            assert word not in text(response), (name, word)
