"""Queue emails with the change they belong to; send them after commit, retrying what failed.

Without MAIL_SERVER (development) a message is written to the log instead of sent. Emails never carry health
answers: they say what happened and link to a page that checks access. Those links are live secrets (a booking's
manage link, a clinician's approval link), so a sent email's body is kept 30 days, then emptied
(`purge_sent_bodies`, `flask notify purge` from cron): subject, recipient, kind and times stay.
"""

import smtplib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app

from retreat.core import audit, clinic
from retreat.core.clock import now
from retreat.core.transactions import after_commit, in_unit_of_work, unit_of_work
from retreat.extensions import db
from retreat.notify.models import OutboxEmail

MAX_ATTEMPTS = 10
CLAIM_EXPIRES = timedelta(minutes=5)  # a sender that died mid-send lets go after this
KEEP_SENT_BODY_DAYS = 30


def clinic_name() -> str:
    return clinic.name()


def clinic_contact() -> str:
    """The foot of every email to an applicant: the clinic's name, postal address, phone and email (CLINIC_*)."""
    config = current_app.config
    lines = [clinic.name()]
    lines += [f"{label}{config[setting]}" for label, setting in
              (("", "CLINIC_ADDRESS"), ("Phone: ", "CLINIC_PHONE"), ("Email: ", "CLINIC_EMAIL")) if config.get(setting)]
    return "\n".join(lines)


# What makes an attachment when an email is sent: kind -> function(key) -> (file name, content type, bytes).
# Registered by the areas that own the documents (booking registers "receipt"); notify knows none of them.
ATTACHMENT_MAKERS: dict[str, Callable[[str], tuple[str, str, bytes]]] = {}


def register_attachment(kind: str, make: Callable[[str], tuple[str, str, bytes]]) -> None:
    ATTACHMENT_MAKERS[kind] = make


def enqueue(kind: str, to_address: str, subject: str, body: str, *, attachment: str | None = None) -> OutboxEmail:
    """Add an email to the current transaction: it exists only if the change it announces commits. Inside a unit
    of work it is sent right after that commit; either way, what is not sent then waits in the outbox for
    `flask notify send`. `attachment` ("<kind>:<key>") names a file made when the email is sent."""
    email = OutboxEmail(kind=kind, to_address=to_address, subject=subject, body=body, attachment=attachment)
    db.session.add(email)
    if in_unit_of_work():
        # Claimed from birth by this request, which sends it right after the commit: no other sender takes it
        # meanwhile, and the request needs neither a transaction to claim it nor a read to load it again. If the
        # process dies before sending, the claim lapses (CLAIM_EXPIRES) and `flask notify send` sends it.
        email.claimed_at = now()
        envelope = Envelope(None, kind, to_address, subject, body, attachment)
        after_commit(lambda: _send_claimed(email, envelope))
    return email


@dataclass(frozen=True)
class Envelope:
    """What delivering an email reads: its row's values, kept by the request that queued it."""

    id: int | None
    kind: str
    to_address: str
    subject: str
    body: str
    attachment: str | None


def make_attachment(name: str) -> tuple[str, str, bytes]:
    """The file an email's `attachment` names, made now."""
    kind, _, key = name.partition(":")
    return ATTACHMENT_MAKERS[kind](key)


def _deliver(email: OutboxEmail) -> None:
    config = current_app.config
    if not config.get("MAIL_SERVER"):  # development only: production refuses to start without MAIL_SERVER
        current_app.logger.info("Email %s (no MAIL_SERVER, not sent) to %s: %s%s\n%s", email.id, email.to_address,
                                email.subject, f" [attached: {email.attachment}]" if email.attachment else "",
                                email.body)
        return
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message.set_content(email.body)
    if email.attachment:
        filename, content_type, data = make_attachment(email.attachment)
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
        if config.get("MAIL_USERNAME"):
            smtp.starttls()
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(message)


def _claim(email_id: int) -> bool:
    """Take an unsent email for this sender; False when it was sent or another sender holds it.

    Both writes of sending are units of work of their own, taking the write lock first (BEGIN IMMEDIATE on
    SQLite): upgrading a read transaction to a write is refused at once by SQLite when another writer is busy,
    which lost sends under load. The message itself leaves between them, outside any transaction."""
    moment = now()
    with unit_of_work():
        return db.session.execute(
            sa.update(OutboxEmail)
            .where(OutboxEmail.id == email_id, OutboxEmail.sent_at.is_(None),
                   sa.or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < moment - CLAIM_EXPIRES))
            .values(claimed_at=moment)
        ).rowcount == 1


def _send(email_id: int) -> bool:
    if not _claim(email_id):
        return False
    return _deliver_claimed(db.session.get(OutboxEmail, email_id))


def _send_claimed(email: OutboxEmail, envelope: Envelope) -> None:
    """After the commit that queued (and claimed) it: deliver it. Its id is the committed row's identity, known
    without reading the row again."""
    try:
        _deliver_claimed(replace(envelope, id=sa.inspect(email).identity[0]))
    except Exception:  # noqa: BLE001  (as send_now: the email stays queued for `flask notify send`)
        db.session.rollback()
        current_app.logger.exception("Email of kind %s could not be sent at once; it stays queued", envelope.kind)


def _deliver_claimed(email: OutboxEmail | Envelope) -> bool:
    """Deliver an email this sender holds the claim of, and record the outcome (letting the claim go)."""
    email_id = email.id
    try:
        _deliver(email)
    except Exception as error:  # noqa: BLE001  (any failure leaves the email queued for the next run)
        outcome = {"last_error": f"{type(error).__name__}: {error}"[:500]}
        current_app.logger.warning("Email %s (%s) failed: %s", email_id, email.kind, type(error).__name__)
        sent = False
    else:
        outcome = {"sent_at": now(), "last_error": None}
        sent = True
    with unit_of_work():
        db.session.execute(sa.update(OutboxEmail).where(OutboxEmail.id == email_id)
                           .values(attempts=OutboxEmail.attempts + 1, claimed_at=None, **outcome))
    return sent


def send_pending(limit: int = 50) -> int:
    """Send unsent emails, oldest first; a failure is recorded and retried on a later run (`flask notify
    send` from cron). Returns the number sent."""
    pending = db.session.scalars(
        sa.select(OutboxEmail.id)
        .where(OutboxEmail.sent_at.is_(None), OutboxEmail.attempts < MAX_ATTEMPTS)
        .order_by(OutboxEmail.created_at, OutboxEmail.id).limit(limit)
    ).all()
    return sum(_send(email_id) for email_id in pending)


def send_now(*emails: OutboxEmail) -> None:
    """Try to deliver emails a request has just committed, without ever failing or slowing that request
    for long: what fails here stays queued for `flask notify send`."""
    for email in emails:
        try:
            _send(email.id)
        except Exception:  # noqa: BLE001
            db.session.rollback()
            current_app.logger.exception("Email %s could not be sent at once; it stays queued", email.id)


def purge_sent_bodies(older_than_days: int = KEEP_SENT_BODY_DAYS) -> int:
    """Empty the body of every email sent longer ago than this (it holds live manage and approval links); the
    subject, recipient, kind and times stay as the record of what was sent. Unsent emails are untouched, so a
    retry still has its body. One unit of work; returns how many bodies were emptied."""
    with unit_of_work():
        cutoff = now() - timedelta(days=older_than_days)
        count = db.session.execute(
            sa.update(OutboxEmail)
            .where(OutboxEmail.sent_at.is_not(None), OutboxEmail.sent_at < cutoff, OutboxEmail.body.is_not(None))
            .values(body=None)
        ).rowcount
        if count:
            audit.record("outbox.purge_bodies", "outbox_email", "many", {"count": count,
                                                                       "cutoff": cutoff.isoformat()})
    return count
