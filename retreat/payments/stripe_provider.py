"""Stripe, the adapter: PaymentIntents paid with the Payment Element on our own page, refunds, the balance charged
to a saved card, and reading what Stripe has (intents, charges' fees, refunds). It knows no booking: what Stripe
reports is turned into bookings' changes above booking, by payment_events.

Every PaymentIntent the app creates is written down (payments.requested) before it can be paid; a succeeded intent
moves its booking only when it is one of those, of the amount and currency asked, and is otherwise recorded for
finance (payments.flags). Every Stripe payment is recorded under its PaymentIntent id and every Stripe refund under
its refund id, so the ledger's idempotency (one row per provider reference) makes each of those paths safe to
repeat. Network calls to Stripe are made outside the transactions that change bookings: refunds are asked after
the cancellation or decline that owes them has committed (payments.refunds), each with metadata naming its pending
refund, so a refund Stripe made before a crash is found and recorded instead of being made again.

STRIPE_API_BASE points the library at a stand-in for Stripe: localstripe, in tests and CI. It rejects some
parameters real Stripe takes (description, receipt_email, setup_future_usage, a `created` filter on lists), so
against it those are left out; each place says what differs. Production leaves STRIPE_API_BASE unset.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import stripe
from flask import current_app

from retreat.core.clock import today
from retreat.core.money import CURRENCY
from retreat.payments import requested
from retreat.payments.contract import CardDeclined, Charged, PaymentStart, ProviderUnavailable, RefundResult
from retreat.payments.models import Payer, Payment

PAYMENT_KINDS = ("deposit", "balance", "installment")
# Stripe refunds that return money (pending ones are on their way): recorded in the ledger as made.
REFUND_STATUSES_MADE = ("succeeded", "pending")
# The metadata key under which a refund the app asked for carries its pending refund's idempotency key.
REFUND_KEY = "retreat_refund"
PAGE_SIZE = 100


# --- The client ------------------------------------------------------------------------------------------------

def stripe_client() -> stripe.StripeClient:
    """A client for the configured account (one per key and API base, kept on the app)."""
    config = current_app.config
    key = config.get("STRIPE_SECRET_KEY")
    if not key:
        raise ProviderUnavailable("Card payments are not set up on this site (STRIPE_SECRET_KEY).")
    base = config.get("STRIPE_API_BASE")
    clients = current_app.extensions.setdefault("retreat_stripe_clients", {})
    client = clients.get((key, base))
    if client is None:
        if base:  # a stand-in answers at once or not at all: retrying only slows a failing test
            client = stripe.StripeClient(key, base_addresses={"api": base}, max_network_retries=0)
        else:  # safe: every request that moves money carries an idempotency key
            client = stripe.StripeClient(key, max_network_retries=2)
        clients[(key, base)] = client
    return client


def talks_to_stand_in() -> bool:
    """True when STRIPE_API_BASE points at a stand-in for Stripe (localstripe) rather than at Stripe."""
    return bool(current_app.config.get("STRIPE_API_BASE"))


def _decline_message(error: stripe.CardError) -> str:
    if error.code == "authentication_required":
        return ("Your bank asked to confirm this payment, which cannot be done automatically. Please pay from "
                "your booking page.")
    return error.user_message or "Your card was declined."


@contextmanager
def calling_stripe(what: str) -> Iterator[None]:
    """Turn Stripe's errors into ours: a declined card into CardDeclined (402), anything else (network, API,
    authentication) into ProviderUnavailable (503): nothing was changed here, try again."""
    try:
        yield
    except stripe.CardError as declined:
        raise CardDeclined(_decline_message(declined)) from declined
    except stripe.StripeError as error:
        current_app.logger.warning("Stripe failed while %s: %s %s", what, type(error).__name__,
                                   getattr(error, "code", None) or "")
        raise ProviderUnavailable(
            "The card payment service could not be reached or refused the request; nothing was changed. "
            "Please try again in a moment.") from error


def object_id(value) -> str | None:
    """An object's id whether Stripe sent it as an id or expanded (localstripe expands latest_charge)."""
    if value is None or isinstance(value, str):
        return value
    return value.id


def metadata_of(stripe_object) -> dict:
    metadata = getattr(stripe_object, "metadata", None)
    if metadata is None:
        return {}
    return metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata)


# --- The provider ----------------------------------------------------------------------------------------------

class StripeProvider:
    """Card payments through Stripe PaymentIntents (see contract.PaymentProvider)."""

    name = "stripe"
    # Stripe.js and its Payment Element (https://docs.stripe.com/security/guide#content-security-policy): the
    # payment page alone widens its Content-Security-Policy for these.
    page_sources = {
        "script-src": ("https://js.stripe.com", "https://*.js.stripe.com"),
        "frame-src": ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"),
        "connect-src": ("https://api.stripe.com",),
        "img-src": ("https://*.stripe.com",),
    }

    def start(self, booking: Payer, kind: str, amount_cents: int) -> PaymentStart:
        """Create the PaymentIntent the applicant's page confirms. The same booking, kind and amount give the
        same intent again (idempotency key), so reloading the page does not create payments."""
        params: dict = {
            "amount": amount_cents, "currency": CURRENCY, "payment_method_types": ["card"],
            "metadata": {"booking_reference": booking.reference, "kind": kind},
        }
        if not talks_to_stand_in():  # localstripe rejects both ("Unexpected ...")
            params["description"] = f"Booking {booking.reference}: {kind}"
            params["receipt_email"] = booking.applicant_email
        if kind == "deposit" and booking.save_card_consent and not booking.stripe_payment_method_id:
            params["customer"] = self._customer_for(booking)
            if not talks_to_stand_in():
                # Stripe keeps the card on the customer for the balance. localstripe rejects this parameter;
                # there the card is attached after the payment instead (see card_on_file).
                params["setup_future_usage"] = "off_session"
        with calling_stripe("starting a payment"):
            intent = stripe_client().v1.payment_intents.create(params=params, options={
                "idempotency_key": f"retreat-{booking.reference}-{kind}-{amount_cents}"})
        requested.remember(booking, kind=kind, amount_cents=amount_cents, currency=CURRENCY, provider="stripe",
                           provider_reference=intent.id)
        return PaymentStart("stripe", "requires_payment", amount_cents, kind, {
            "client_secret": intent.client_secret,
            "payment_intent": intent.id,
            "publishable_key": current_app.config.get("STRIPE_PUBLISHABLE_KEY") or "",
        })

    @staticmethod
    def _customer_for(booking: Payer) -> str:
        """The Stripe customer the card is saved to: the booking's, or a new one (its id is stored on the booking
        with the card, by payment_received, once the payment succeeded)."""
        if booking.stripe_customer_id:
            return booking.stripe_customer_id
        with calling_stripe("creating a customer"):
            customer = stripe_client().v1.customers.create(params={
                "email": booking.applicant_email, "name": booking.applicant_name,
                "metadata": {"booking_reference": booking.reference},
            }, options={"idempotency_key": f"retreat-customer-{booking.reference}"})
        return customer.id

    def refund(self, payment: Payment, amount_cents: int, *, idempotency_key: str) -> RefundResult:
        """Refund part or all of a payment's PaymentIntent. Stripe accepting the refund (succeeded, or pending on
        its way back to the card) is recorded as made: the ledger's `pending` means money the clinic still has to
        send, which a Stripe refund is not. The key goes in the refund's metadata too (find_refund)."""
        with calling_stripe("refunding"):
            refund = stripe_client().v1.refunds.create(params={
                "payment_intent": payment.provider_reference, "amount": amount_cents,
                "metadata": {"booking_reference": payment.booking.reference, REFUND_KEY: idempotency_key},
            }, options={"idempotency_key": f"retreat-{idempotency_key}"})
        if refund.status not in REFUND_STATUSES_MADE:
            current_app.logger.warning("Stripe refund %s of %s is %s", refund.id, payment.provider_reference,
                                       refund.status)
            raise ProviderUnavailable("The card payment service did not make the refund; nothing was changed. "
                                      "Please try again, or refund from the Stripe dashboard.")
        return RefundResult(refund.id, "succeeded")

    def find_refund(self, payment: Payment, *, idempotency_key: str) -> RefundResult | None:
        """The refund of the payment's PaymentIntent that Stripe made under this key (from its metadata): what a
        retry looks for before asking again (localstripe, like a key older than Stripe's 24 hours, does not
        dedupe by the idempotency key)."""
        for refund in refunds_at_stripe(payment.provider_reference):
            if metadata_of(refund).get(REFUND_KEY) == idempotency_key and refund.status in REFUND_STATUSES_MADE:
                return RefundResult(refund.id, "succeeded")
        return None

    def charge_saved_card(self, booking: Payer, amount_cents: int, *, kind: str = "balance",
                          key: str | None = None) -> Charged:
        """Charge the balance (or an installment) to the card saved with the applicant's consent, without them
        present. A decline (or a bank asking the applicant to confirm) raises CardDeclined with plain words.
        `key` makes the charge once per key (an installment: its part and attempt); by default one a day.

        The PaymentIntent is created, written down (payments.requested) and only then confirmed, so that its
        webhook, however early, finds it is a payment the app asked for."""
        if not (booking.stripe_customer_id and booking.stripe_payment_method_id):
            raise CardDeclined("No card is saved for this booking.")
        reference = booking.reference
        params: dict = {
            "amount": amount_cents, "currency": CURRENCY, "payment_method_types": ["card"],
            "customer": booking.stripe_customer_id, "payment_method": booking.stripe_payment_method_id,
            # off_session: the charging job emails the applicant itself when it fails, not the webhook.
            "metadata": {"booking_reference": reference, "kind": kind, "off_session": "true"},
        }
        if not talks_to_stand_in():
            params["description"] = f"Booking {reference}: {kind}"
            params["receipt_email"] = booking.applicant_email
        key = key or f"retreat-{reference}-saved-card-{amount_cents}-{today().isoformat()}"
        with calling_stripe("charging a saved card"):
            intent = stripe_client().v1.payment_intents.create(params=params, options={"idempotency_key": key})
        requested.remember(booking, kind=kind, amount_cents=amount_cents, currency=CURRENCY, provider="stripe",
                           provider_reference=intent.id)
        if intent.status == "requires_confirmation":
            # localstripe takes no parameter when confirming; Stripe needs off_session for a charge made without
            # the applicant present.
            confirm: dict = {} if talks_to_stand_in() else {"off_session": True}
            with calling_stripe("charging a saved card"):
                intent = stripe_client().v1.payment_intents.confirm(intent.id, params=confirm,
                                                                     options={"idempotency_key": f"{key}-confirm"})
        if intent.status != "succeeded":
            raise CardDeclined("Your bank asked to confirm this payment, which cannot be done automatically. "
                               "Please pay from your booking page.")
        fee, net = fee_and_net(intent.latest_charge)
        return Charged(intent.id, fee, net)


# --- What Stripe reports ---------------------------------------------------------------------------------------

def fee_and_net(charge) -> tuple[int | None, int | None]:
    """Stripe's fee and the net of a charge (id or object), from its balance transaction; (None, None) when
    Stripe does not say (yet): a fee unknown is left blank, never recorded as zero."""
    if charge is None:
        return None, None
    try:
        with calling_stripe("reading a charge's fee"):
            if isinstance(charge, str):
                charge = stripe_client().v1.charges.retrieve(charge)
            transaction = getattr(charge, "balance_transaction", None)
            if isinstance(transaction, str):
                transaction = stripe_client().v1.balance_transactions.retrieve(transaction)
    except ProviderUnavailable:
        return None, None
    if transaction is None:
        return None, None
    fee, net = getattr(transaction, "fee", None), getattr(transaction, "net", None)
    if not isinstance(fee, int) or not isinstance(net, int):
        return None, None
    return fee, net


def card_on_file(intent, booking: Payer) -> tuple[str, str] | None:
    """(customer id, payment method id) of a succeeded deposit whose card the applicant agreed to save, for
    payment_received to keep; None when there is nothing (more) to keep."""
    if not booking.save_card_consent or booking.stripe_payment_method_id:
        return None
    customer, method = object_id(getattr(intent, "customer", None)), object_id(getattr(intent, "payment_method", None))
    if not customer or not method:
        return None
    if talks_to_stand_in():
        # localstripe rejected setup_future_usage, so the payment did not save the card: attach it now. Real
        # Stripe refuses to attach a card already used without setup_future_usage, so this runs only here.
        try:
            with calling_stripe("saving the card"):
                method = stripe_client().v1.payment_methods.attach(method, params={"customer": customer}).id
        except ProviderUnavailable:
            return None  # the payment is recorded all the same; the balance is then paid from the manage page
    return customer, method


def retrieve_intent(payment_intent_id: str):
    """The PaymentIntent at Stripe; None when Stripe has no such intent (not of this account)."""
    with calling_stripe("reading a payment"):
        try:
            return stripe_client().v1.payment_intents.retrieve(payment_intent_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise


def refunds_at_stripe(payment_intent_id: str) -> list:
    """Every refund Stripe made of a PaymentIntent (all pages)."""
    with calling_stripe("listing refunds"):
        listing = stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": PAGE_SIZE})
        return list(listing.auto_paging_iter())



def recent_intents(since: datetime) -> Iterator:
    """PaymentIntents created since `since`, all pages."""
    cutoff = int(since.timestamp())
    params: dict = {"limit": PAGE_SIZE}
    if not talks_to_stand_in():  # localstripe rejects the filter ("Unexpected created"): filtered below
        params["created"] = {"gte": cutoff}
    with calling_stripe("listing payments"):
        for intent in stripe_client().v1.payment_intents.list(params=params).auto_paging_iter():
            if intent.created >= cutoff:
                yield intent
