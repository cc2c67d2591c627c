"""Where Stripe sends the applicant back after paying (the pay page's return_url): a route of the booking pages,
served from here because it turns what Stripe says into the booking's change."""

import re

from flask import flash, redirect, request, url_for

from retreat.booking import services
from retreat.booking.views import booking_bp, flash_outcome
from retreat.payment_events import stripe as events
from retreat.payments.contract import ProviderUnavailable

PAYMENT_INTENT_ID = re.compile(r"pi_[A-Za-z0-9_]{1,97}")


@booking_bp.get("/manage/<token>/paid")
def paid(token: str):
    """Stripe's return_url: record the PaymentIntent named in the query if it succeeded (the webhook may have done
    it first; recording it twice changes nothing), then the manage page, without the intent's secret in the
    address."""
    booking = services.booking_by_manage_token(token)
    intent_id = request.args.get("payment_intent", "")
    if booking.payment_provider != "stripe" or not PAYMENT_INTENT_ID.fullmatch(intent_id):
        return redirect(url_for("booking.manage", token=token), code=303)
    try:
        outcome = events.confirm_from_return(booking, intent_id)
    except ProviderUnavailable:
        flash("We could not confirm your payment with Stripe just now. If it went through, we will email your "
              "receipt; nothing is charged twice.", "error")
        return redirect(url_for("booking.manage", token=token), code=303)
    if outcome is not None:
        flash_outcome(outcome.booking, outcome.payment.amount_cents, refunded=outcome.refunded_unplaced)
    elif request.args.get("redirect_status") in ("failed", "requires_payment_method"):
        flash("Your payment did not go through, and nothing was charged. You can try again or use another card.",
              "error")
        return redirect(url_for("booking.pay", token=token), code=303)
    else:
        flash("Your payment is being processed. We will email your receipt as soon as it is confirmed.")
    return redirect(url_for("booking.manage", token=token), code=303)
