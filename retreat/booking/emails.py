"""The emails a booking sends, as (kind, to, subject, body) for notify.enqueue.

They say what happened and link to the private manage page; they never carry health information. The manage
link is a secret: each email says to keep it to oneself.
"""


from retreat.booking import plans, policy
from retreat.booking.hold_rules import email_confirmation_token, full_hold
from retreat.booking.models import Booking, WaitlistEntry
from retreat.core import clinic
from retreat.core.links import external_url
from retreat.core.money import format_usd
from retreat.notify.services import clinic_contact, clinic_name
from retreat.payments import ledger

Email = tuple[str, str, str, str]
# The receipt PDF attached to the emails about money (booking.documents makes it when the email is sent).
RECEIPT_ATTACHMENT = "receipt"


def receipt_attachment(booking: Booking) -> str:
    return f"{RECEIPT_ATTACHMENT}:{booking.reference}"


def _signature() -> str:
    return (f"With warm regards,\nThe team at {clinic_name()}\n\n{clinic_contact()}\n\n"
            "If you are struggling right now: call or text 988 (Suicide & Crisis Lifeline, US). In immediate "
            "danger, call 911 or go to the nearest emergency room.\n")


def manage_url(token: str) -> str:
    return external_url("booking.manage", token=token)


def _what(booking: Booking) -> str:
    cohort = booking.cohort
    return (f"{cohort.program.name}, {cohort.start_date:%A %-d %B %Y} to {cohort.end_date:%A %-d %B %Y}\n"
            f"Booking reference: {booking.reference}")


def _greeting(first_name: str) -> str:
    return f"Dear {first_name}," if first_name else "Hello,"


def _when(moment) -> str:
    """`Mon 7 Dec 2026, 2:05 PM EST`: in the clinic's time zone."""
    return clinic.clinic_time(moment)


def _link_paragraph(token: str) -> str:
    return (f"Your booking's private page (status, payments, calendar file, cancelling):\n{manage_url(token)}\n"
            "Keep this link to yourself: anyone with it can manage your booking.")


def confirm_email_url(booking: Booking) -> str:
    return external_url("booking.confirm_email", reference=booking.reference,
                        token=email_confirmation_token(booking))


def _confirm_paragraph(booking: Booking, *, fee_requested: bool = False) -> str:
    """A long hold (a clinician's review, a bank transfer, a reduced fee's decision) starts short and is kept once
    the applicant shows that this email reached them."""
    kept = ("while a clinician reviews your pre-screen" if booking.status == "pending_review"
            else "while the clinic decides on your request for a reduced fee" if fee_requested
            else f"for {full_hold(booking.status, booking.payment_provider).days} days while your transfer arrives")
    return (f"Please confirm your email address by opening this link before {_when(booking.hold_expires_at)}:\n"
            f"{confirm_email_url(booking)}\nOnce it is confirmed we keep your seat {kept}; if it is not, the "
            "seat is released then.")


def booking_held(booking: Booking, token: str, *, confirm: bool = False, fee_requested: bool = False) -> Email:
    """The seat is held. With `confirm`, the applicant is asked to confirm their address to keep a long hold; with
    `fee_requested`, nothing can be paid until the clinic decides on the reduced fee asked for."""
    if fee_requested:
        review = (" and a clinician has reviewed your pre-screen" if booking.status == "pending_review" else "")
        middle = ("We are holding your seat while the clinic considers your request for a reduced fee. Nothing is "
                  f"charged until the clinic has decided{review}; we will email you the price with a link to pay."
                  + (f"\n\n{_confirm_paragraph(booking, fee_requested=True)}" if confirm else
                     f" The seat is held until {_when(booking.hold_expires_at)}."))
    elif confirm and booking.status == "pending_review":
        middle = ("We are holding your seat while a clinician reviews your pre-screen. Nothing is charged until a "
                  "clinician approves; we will email you as soon as they decide, with a link to pay the deposit.\n\n"
                  + _confirm_paragraph(booking))
    elif confirm:
        middle = (f"We are holding your seat while your deposit of {format_usd(booking.deposit_cents)} arrives by "
                  f"bank transfer. The bank details are on your booking page; quote {booking.reference} as the "
                  f"transfer reference.\n\n{_confirm_paragraph(booking)}")
    elif booking.status == "pending_review":
        middle = ("We are holding your seat while a clinician reviews your pre-screen (until "
                  f"{_when(booking.hold_expires_at)}). Nothing is charged until a clinician approves; we will "
                  "email you as soon as they decide, with a link to pay the deposit.")
    elif booking.payment_provider == "offline":
        middle = (f"We are holding your seat until {_when(booking.hold_expires_at)} while your deposit of "
                  f"{format_usd(booking.deposit_cents)} arrives by bank transfer. The bank details are on your "
                  f"booking page; quote {booking.reference} as the transfer reference.")
    else:
        middle = (f"We are holding your seat until {_when(booking.hold_expires_at)} while you pay the deposit of "
                  f"{format_usd(booking.deposit_cents)}. If the deposit is not paid by then, the seat is "
                  "released.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n{middle}\n\n"
            + (f"Price before any reduced fee: {format_usd(booking.total_cents)}.\n\n"
               if fee_requested else
               f"Total price: {format_usd(booking.total_cents)} (fixed when you booked).{_whole_price_note(booking)}"
               "\n\n")
            + f"{schedule_paragraph(booking)}\n\n"
            + f"{_policy_paragraph()}\n\n{_link_paragraph(token)}\n\n{_signature()}")
    return ("booking_held", booking.applicant_email, f"{clinic_name()}: your seat is held ({booking.reference})", body)


def payment_receipt(booking: Booking, payment, token: str) -> Email:
    from retreat.payments import ledger
    paid = ledger.paid_cents(booking.id)
    left = max(0, booking.total_cents - paid)
    what = {"deposit": "deposit", "installment": "monthly payment"}.get(payment.kind, "balance payment")
    status_line = ("Your booking is confirmed." if booking.status == "confirmed"
                   else "Your booking is paid in full." if booking.status == "paid_in_full" else "")
    due = f", due by {booking.balance_due_date:%-d %B %Y}" if booking.balance_due_date else ""
    balance = f"Balance still to pay: {format_usd(left)}{due}." if left else "Nothing more is owed."
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"Thank you: we received your {what} of {format_usd(payment.amount_cents, show_cents=True)} "
            f"({payment.provider_reference}).\n{status_line}\n\n"
            f"Paid so far: {format_usd(paid, show_cents=True)} of {format_usd(booking.total_cents, show_cents=True)}."
            f"\n{balance}\n\n"
            "The attached PDF is your receipt and itemised statement, with the service codes, for your records "
            "and for you to submit to your HSA/FSA plan or insurer: the clinic does not bill insurers. Once your "
            "program has started you can also download a superbill from your booking page.\n\n"
            f"{_link_paragraph(token)}\n\n{_signature()}")
    return (f"receipt_{payment.kind}", booking.applicant_email,
            f"{clinic_name()}: receipt for your {what} ({booking.reference})", body)


def payment_failed(booking: Booking, token: str, message: str) -> Email:
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"Your payment did not go through: {message}\n\n"
            + (f"Your seat is still held until {_when(booking.hold_expires_at)}. " if booking.hold_expires_at else "")
            + f"You can try again with another card from your booking page.\n\n{_link_paragraph(token)}\n\n"
            f"{_signature()}")
    return ("payment_failed", booking.applicant_email, f"{clinic_name()}: your payment did not go through", body)


def approved_to_pay(booking: Booking, token: str, *, fee_awaited: bool = False) -> Email:
    """A clinician approved; with `fee_awaited`, the clinic has still to decide on the reduced fee asked for."""
    then = (f"Your seat is held until {_when(booking.hold_expires_at)}. The clinic has still to decide on your "
            "request for a reduced fee: we will email you the price with a link to pay."
            if fee_awaited else
            f"Your seat is held until {_when(booking.hold_expires_at)} while you pay the deposit of "
            f"{format_usd(booking.deposit_cents)}.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"A clinician has reviewed your pre-screen and approved it. {then}\n\n"
            "This approval is not medical clearance: a medical evaluation at intake still decides whether "
            f"treatment is right for you.\n\n{_link_paragraph(token)}\n\n{_signature()}")
    return ("booking_approved", booking.applicant_email,
            f"{clinic_name()}: approved, please pay your deposit ({booking.reference})", body)


def _pay_step(booking: Booking) -> str:
    if booking.status == "pending_review":
        return ("You can pay once a clinician has reviewed your pre-screen; we will email you as soon as they "
                "decide.")
    if booking.payment_provider == "offline":
        return (f"Your seat is held until {_when(booking.hold_expires_at)} while your deposit of "
                f"{format_usd(booking.deposit_cents)} arrives by bank transfer; the bank details are on your "
                f"booking page (quote {booking.reference}).")
    return (f"Your seat is held until {_when(booking.hold_expires_at)}: pay the deposit of "
            f"{format_usd(booking.deposit_cents)} from your booking page before then, or the seat is released.")


def reduced_fee_granted(booking: Booking, token: str) -> Email:
    balance = (f"Deposit: {format_usd(booking.deposit_cents)}, then a balance of "
               f"{format_usd(booking.balance_cents)} due by {booking.balance_due_date:%A %-d %B %Y}."
               if booking.balance_cents else
               "Your dates start soon, so the whole price is paid at once: there is no balance to pay later.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            "The clinic has agreed to a reduced fee for your booking.\n\n"
            f"Your price: {format_usd(booking.total_cents)} (list price {format_usd(booking.list_price_cents)}).\n"
            f"{balance}\n\n{_pay_step(booking)}\n\n{_link_paragraph(token)}\n\n{_signature()}")
    return ("reduced_fee_granted", booking.applicant_email,
            f"{clinic_name()}: your reduced fee ({booking.reference})", body)


def reduced_fee_declined(booking: Booking, token: str) -> Email:
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            "We are sorry: the clinic cannot offer a reduced fee for this booking.\n\n"
            f"You are still welcome to come at the price of {format_usd(booking.total_cents)}. "
            f"{_pay_step(booking)} If you would rather not come, you can cancel from your booking page at no cost: "
            f"nothing has been paid. To talk it over, {clinic.contact_words()}.\n\n"
            f"{_link_paragraph(token)}\n\n{_signature()}")
    return ("reduced_fee_declined", booking.applicant_email,
            f"{clinic_name()}: your request for a reduced fee ({booking.reference})", body)


def approved_without_seat(booking: Booking) -> Email:
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            "A clinician has reviewed your pre-screen and approved it. We are sorry: the seat we held for you was "
            "released when the review took longer than the hold, and these dates are now full or closed. Nothing "
            f"was charged. Please {clinic.contact_words()}, and we will help you find other dates or join a "
            "waitlist.\n\n"
            f"{_signature()}")
    return ("booking_approved_no_seat", booking.applicant_email,
            f"{clinic_name()}: approved, but your seat was released ({booking.reference})", body)


def refund_issued(booking: Booking, refund_cents: int, reason: str) -> Email:
    """Sent with the change that owes the refund, before the provider has made it (it is made just after the
    commit, or by the retry job): the words say it is on its way, not that it arrived."""
    way = ("It will be sent back by bank transfer; allow a few working days."
           if booking.payment_provider == "offline"
           else "It goes back to the card you paid with; banks usually show it within 5 to 10 working days.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"We are refunding {format_usd(refund_cents, show_cents=True)} ({reason}). {way}\n\n"
            "The attached PDF is your updated receipt and itemised statement.\n\n"
            f"{_signature()}")
    return ("refund_issued", booking.applicant_email, f"{clinic_name()}: your refund ({booking.reference})", body)


def booking_cancelled(booking: Booking, quote) -> Email:
    refund = (f"Refund: {format_usd(quote.refund_cents, show_cents=True)} of the "
              f"{format_usd(quote.paid_cents, show_cents=True)} you paid ({quote.rule})."
              if quote.paid_cents else "Nothing had been paid, so nothing is refunded.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"Your booking is cancelled.\n{refund}\n\n"
            f"If you did not ask for this, or would like to book other dates, {clinic.contact_words()}.\n\n"
            f"{_signature()}")
    return ("booking_cancelled", booking.applicant_email, f"{clinic_name()}: booking cancelled ({booking.reference})",
            body)


def hold_expired(booking: Booking) -> Email:
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            "The hold on your seat has lapsed, and the seat has been released. Nothing was charged. If you still "
            "wish to come, you are welcome to book again (your pre-screen may need to be taken again) or to "
            f"{clinic.contact_words()}.\n\n{_signature()}")
    return ("booking_expired", booking.applicant_email, f"{clinic_name()}: your seat hold has lapsed", body)


def hold_released(booking: Booking) -> Email:
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            "The clinic has released the hold on this seat, so it is no longer reserved for you. Nothing was "
            f"charged. If you did not expect this, or still wish to come, please {clinic.contact_words()} and we "
            "will help.\n\n"
            f"{_signature()}")
    return ("booking_hold_released", booking.applicant_email,
            f"{clinic_name()}: your seat hold was released ({booking.reference})", body)


def waitlist_joined(entry: WaitlistEntry, position: int) -> Email:
    cohort = entry.cohort
    body = (f"{_greeting(entry.applicant_first_name)}\n\n"
            f"You are on the waitlist for {cohort.program.name}, starting {cohort.start_date:%A %-d %B %Y}: number "
            f"{position} in line. If a seat frees, we email you and hold it for you for 24 hours.\n\n"
            f"{_signature()}")
    return ("waitlist_joined", entry.applicant_email, f"{clinic_name()}: you are on the waitlist", body)


def waitlist_cohort_cancelled(entry: WaitlistEntry) -> Email:
    cohort = entry.cohort
    body = (f"{_greeting(entry.applicant_first_name)}\n\n"
            f"We are sorry: {cohort.program.name}, which was to start {cohort.start_date:%A %-d %B %Y}, will not run, "
            "so its waitlist is closed. Nothing was charged. Your pre-screen can still be used to book other "
            f"dates within 30 days of taking it. Our programs and their dates: {external_url('catalog.home')}\n\n"
            f"{_signature()}")
    return ("waitlist_cohort_cancelled", entry.applicant_email, f"{clinic_name()}: dates cancelled", body)


def waitlist_offer(booking: Booking, token: str) -> Email:
    if booking.status == "pending_review":
        step = ("A clinician will review your pre-screen first; we hold the seat while they decide and email "
                "you with a link to pay the deposit once they approve.")
    else:
        step = (f"It is held for you until {_when(booking.hold_expires_at)}. To take it, pay the deposit of "
                f"{format_usd(booking.deposit_cents)} from your booking page.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n"
            f"A seat has become free and it is yours if you want it.\n\n{_what(booking)}\n\n{step} "
            f"If you no longer want it, do nothing: the seat goes to the next person waiting.\n\n"
            f"Total price: {format_usd(booking.total_cents)}.{_whole_price_note(booking)}\n\n{_policy_paragraph()}\n\n"
            f"{_link_paragraph(token)}\n\n{_signature()}")
    return ("waitlist_offer", booking.applicant_email, f"{clinic_name()}: a seat is free for you", body)


def balance_reminder(booking: Booking, left_cents: int, token: str) -> Email:
    card = ("We will charge the card you saved on the due date; you do not need to do anything."
            if booking.save_card_consent and booking.stripe_payment_method_id
            else "You can pay it from your booking page.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"A reminder: the balance of {format_usd(left_cents, show_cents=True)} is due by "
            f"{booking.balance_due_date:%A %-d %B %Y}. {card}\n\n{schedule_paragraph(booking)}\n\n"
            f"{_link_paragraph(token)}\n\n{_signature()}")
    return ("balance_reminder", booking.applicant_email,
            f"{clinic_name()}: your balance is due {booking.balance_due_date:%-d %B}", body)


def balance_charge_failed(booking: Booking, left_cents: int, token: str, message: str) -> Email:
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"We could not charge the balance of {format_usd(left_cents, show_cents=True)} to your saved card: "
            f"{message}\nPlease pay it from your booking page.\n\n{schedule_paragraph(booking)}\n\n"
            f"{_link_paragraph(token)}\n\n{_signature()}")
    return ("balance_charge_failed", booking.applicant_email,
            f"{clinic_name()}: please pay your balance ({booking.reference})", body)


SCHEDULE_WORDS = {"paid": "paid", "scheduled": "to pay", "failed": "not charged: please pay it",
                  "cancelled": "not charged: the booking ended"}
KIND_WORDS = {"deposit": "Deposit", "balance": "Balance", "installment": "Monthly part"}


def schedule_paragraph(booking: Booking) -> str:
    """The booking's payment schedule, part by part with its state, as every reminder shows it."""
    lines = plans.schedule_lines(booking, ledger.received_cents(booking.id))
    rows = "\n".join(
        f"- {line.part.due_date:%a %-d %b %Y}: {KIND_WORDS[line.part.kind]} "
        f"{format_usd(line.part.amount_cents, show_cents=True)} ({SCHEDULE_WORDS[line.status]})" for line in lines)
    how = (" Each monthly part is charged to the card you paid the deposit with, on its date."
           if booking.payment_plan == "installments" else "")
    return f"Your payment schedule:{how}\n{rows}"


def installment_reminder(booking: Booking, item, token: str) -> Email:
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"A reminder: the monthly part of {format_usd(item.amount_cents, show_cents=True)} is charged to your "
            f"saved card on {item.due_date:%A %-d %B %Y}. You do not need to do anything; we email you a receipt."
            f"\n\n{schedule_paragraph(booking)}\n\n{_link_paragraph(token)}\n\n{_signature()}")
    return ("installment_reminder", booking.applicant_email,
            f"{clinic_name()}: your next payment on {item.due_date:%-d %B}", body)


def installment_charge_failed(booking: Booking, item, cents: int, token: str, message: str, *,
                              retry_on=None) -> Email:
    """A monthly part could not be charged: the link to pay it by hand, and whether we try again."""
    then = (f"We will try the card again on {retry_on:%A %-d %B}, unless you pay it first."
            if retry_on else "We will not try the card again: the clinic will be in touch.")
    body = (f"{_greeting(booking.applicant_first_name)}\n\n{_what(booking)}\n\n"
            f"We could not charge the monthly part of {format_usd(cents, show_cents=True)} (due "
            f"{item.due_date:%A %-d %B %Y}) to your saved card: {message}\n"
            f"Please pay it from your booking page: {external_url('booking.pay', token=token)}\n{then}\n\n"
            f"{schedule_paragraph(booking)}\n\n{_link_paragraph(token)}\n\n{_signature()}")
    return ("installment_charge_failed", booking.applicant_email,
            f"{clinic_name()}: please pay your monthly part ({booking.reference})", body)


def _whole_price_note(booking: Booking) -> str:
    """A booking whose dates start soon pays the whole price at once (booking.creation.payment_split)."""
    if booking.balance_cents or booking.deposit_cents < booking.total_cents:
        return ""
    return " Your dates start soon, so the whole price is paid now: there is no balance to pay later."


def _policy_paragraph() -> str:
    """The cancellation and refund policy (booking.policy, the one source), in the words every page shows."""
    points = "\n".join(f"- {point}" for point in policy.policy_points())
    return f"Cancellation and refunds (policy version {policy.POLICY_VERSION}):\n{points}"
