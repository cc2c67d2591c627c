from retreat.booking import services
from retreat.payments import ledger
from tests.booking.support import APPLICANT, eligible_token, make_cohort


def test_hold_pay_cancel(app):
    cohort = make_cohort(2)
    created = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                      lodging="shared",
                                      applicant=APPLICANT)
    booking = created.booking
    assert booking.status == "held" and booking.total_cents == 497000 and booking.deposit_cents == 99400
    assert services.booking_by_manage_token(created.manage_token).id == booking.id
    outcome = services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                                        provider="demo", provider_reference="demo_1")
    assert outcome.created and outcome.booking.status == "confirmed"
    again = services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                                      provider="demo", provider_reference="demo_1")
    assert not again.created
    quote = services.cancel_booking(booking)
    assert quote.refund_cents == 99400 - 10000
    assert ledger.paid_cents(booking.id) == 10000
