"""Queue emails with the change they belong to; send them after commit, retrying what failed.

Without MAIL_SERVER (development) a message is written to the log instead of sent. Emails never carry health
answers: they say what happened and link to a page that checks access.
"""

import smtplib
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app

from retreat.core.clock import now
from retreat.extensions import db
from retreat.notify.models import OutboxEmail

MAX_ATTEMPTS = 10


def enqueue(kind: str, to_address: str, subject: str, body: str) -> OutboxEmail:
    """Add an email to the current transaction: it exists only if the change it announces commits."""
    email = OutboxEmail(kind=kind, to_address=to_address, subject=subject, body=body)
    db.session.add(email)
    return email


def _deliver(email: OutboxEmail) -> None:
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        current_app.logger.info("Email (no MAIL_SERVER, not sent) to %s: %s\n%s", email.to_address, email.subject,
                                email.body)
        return
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message.set_content(email.body)
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
        if config.get("MAIL_USERNAME"):
            smtp.starttls()
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(message)


def send_pending(limit: int = 50) -> int:
    """Send unsent emails, oldest first; a failure is recorded and retried on a later call. Returns the
    number sent. Call after the transaction that queued them has committed."""
    pending = db.session.scalars(
        sa.select(OutboxEmail)
        .where(OutboxEmail.sent_at.is_(None), OutboxEmail.attempts < MAX_ATTEMPTS)
        .order_by(OutboxEmail.created_at, OutboxEmail.id).limit(limit)
    ).all()
    sent = 0
    for email in pending:
        email.attempts += 1
        try:
            _deliver(email)
        except (OSError, smtplib.SMTPException) as error:
            email.last_error = f"{type(error).__name__}: {error}"[:500]
            current_app.logger.warning("Email %s to %s failed: %s", email.id, email.to_address, error)
        else:
            email.sent_at = now()
            email.last_error = None
            sent += 1
        db.session.commit()
    return sent
