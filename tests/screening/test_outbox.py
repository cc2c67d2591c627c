"""Decision emails go through the outbox: queued in the decision's transaction, to the applicant, without health
answers; the sender marks them sent, keeps failures queued with the error, and retries (`flask notify send`)."""

import socket
import socketserver
import threading
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa

from retreat.core.errors import DomainError
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail
from retreat.screening import review, services
from retreat.screening.models import Screening
from tests.screening.test_review_queue import CONTACT, make_screening, review_answers, signed_in, urgent_answers

NOTE = "Psychiatrist letter mentions lithium; decline for now."
# Words of the answers and the rules that must never travel by email.
HEALTH_WORDS = ("lamotrigine", "Lamotrigine", "interacting_medication", "phq9", "PHQ", "medicines can change",
                "lithium", "Psychiatrist letter", "suicid", "better off dead")


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib to deliver one message per connection."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 test SMTP")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 test")
            elif command.startswith(("MAIL FROM", "RCPT TO", "RSET", "NOOP")):
                self.reply("250 OK")
            elif command == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append(message_from_bytes(data, policy=default_policy))
                self.reply("250 queued")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_smtp(app, port: int) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USERNAME=None)


def outbox(kind_prefix: str = "") -> list[OutboxEmail]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind.startswith(kind_prefix))
                                   .order_by(OutboxEmail.id)))


def queued_email(app, to: str = "someone@example.org") -> OutboxEmail:
    email = notify.enqueue("test", to, "Hello", "A body.")
    db.session.commit()
    return email


# --- Decision emails -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("decision, note, kind, must_say", [
    ("approved", "", "screening_approved",
     ("approved by a clinician", "You can now choose your dates and book:",
      "not medical clearance")),
    ("declined", NOTE, "screening_declined",
     ("refunded in full", "988", "911", "your own doctor", "take the pre-screen again", "not a judgement of you")),
    ("records_requested", NOTE, "screening_records_requested",
     ("What to send", "How to send them", "do not reply to this email with medical records")),
])
def test_a_decision_emails_the_applicant_without_health_answers(app, staff_user, decision, note, kind, must_say):
    app.config.update(CLINIC_NAME="Cedar Hollow Retreats", CLINIC_EMAIL="care@cedarhollow.example",
                      CLINIC_PHONE="+1 555 0100")
    screening = make_screening(review_answers(), contact=CONTACT, pending=True)
    review.decide(screening.id, decision, note, staff_user("clinician"))

    [email] = outbox("screening_")
    assert (email.kind, email.to_address) == (kind, CONTACT["email"])
    assert email.sent_at is not None and email.attempts == 1, "sent after commit (logged: no MAIL_SERVER)"
    text = email.subject + "\n" + email.body
    assert "Dear Marguerite," in email.body
    for phrase in must_say:
        assert phrase in email.body, phrase
    assert "care@cedarhollow.example" in email.body and "+1 555 0100" in email.body
    assert f"pre-screen {screening.id}" in email.body, "a reference to quote"
    for word in HEALTH_WORDS:
        assert word not in text, word
    assert CONTACT["last_name"] not in text and CONTACT["phone"] not in text


def test_a_decision_without_contact_details_queues_no_email(app, staff_user):
    screening = make_screening(urgent_answers())
    review.decide(screening.id, "approved", "", staff_user("clinician"))
    assert outbox("screening_") == []
    assert db.session.get(Screening, screening.id).review_status == "approved"


def test_a_decision_made_on_the_page_is_emailed(app, staff_user):
    client, _ = signed_in(app, staff_user, "clinician")
    screening = make_screening(review_answers(), contact=CONTACT, pending=True)
    response = client.post(f"/staff/screenings/{screening.id}", data={"decision": "declined", "note": NOTE})
    assert response.status_code == 302
    [email] = outbox("screening_")
    assert (email.kind, email.to_address) == ("screening_declined", CONTACT["email"])
    assert "lithium" not in email.body
    assert "Phone: (828) 555-0142\nEmail: hello@cedarhouse.example" in email.body, "the clinic's contact details"
    assert "on our website" not in email.body


def test_a_refused_decision_queues_no_email(app, staff_user):
    clinician = staff_user("clinician")
    screening = make_screening(review_answers(), contact=CONTACT, pending=True)
    review.decide(screening.id, "approved", "", clinician)
    with pytest.raises(DomainError):
        review.decide(screening.id, "declined", NOTE, clinician)
    assert [email.kind for email in outbox("screening_")] == ["screening_approved"]


def test_an_smtp_failure_after_a_decision_keeps_the_decision_and_the_email_queued(app, staff_user):
    use_smtp(app, closed_port())
    screening = make_screening(review_answers(), contact=CONTACT, pending=True)
    review.decide(screening.id, "approved", "", staff_user("clinician"))
    db.session.expire_all()
    assert db.session.get(Screening, screening.id).review_status == "approved"
    [email] = outbox("screening_")
    assert (email.sent_at, email.attempts) == (None, 1)
    assert email.last_error


# --- The sender ------------------------------------------------------------------------------------------------

def test_send_pending_delivers_over_smtp_and_marks_sent(app, smtp_server):
    use_smtp(app, smtp_server.server_address[1])
    email = queued_email(app, "first@example.org")
    assert notify.send_pending() == 1
    [sent] = outbox("test")
    assert sent.sent_at is not None and (sent.attempts, sent.last_error) == (1, None)
    [message] = smtp_server.messages
    assert (message["To"], message["Subject"]) == ("first@example.org", "Hello")
    assert message.get_content().strip() == "A body."
    assert notify.send_pending() == 0, "a sent email is not sent again"
    assert email.id == sent.id


def test_a_failure_stays_queued_with_the_error_and_a_later_run_sends_it(app, smtp_server):
    use_smtp(app, closed_port())
    queued_email(app)
    assert notify.send_pending() == 0
    [email] = outbox("test")
    assert (email.sent_at, email.attempts) == (None, 1)
    assert email.last_error.startswith("ConnectionRefusedError")

    assert notify.send_pending() == 0
    assert outbox("test")[0].attempts == 2

    use_smtp(app, smtp_server.server_address[1])
    assert notify.send_pending() == 1
    [email] = outbox("test")
    assert email.sent_at is not None and email.attempts == 3 and email.last_error is None
    assert len(smtp_server.messages) == 1


def test_flask_notify_send(app, smtp_server):
    runner = app.test_cli_runner()
    use_smtp(app, closed_port())
    queued_email(app, "a@example.org")
    queued_email(app, "b@example.org")
    result = runner.invoke(args=["notify", "send"])
    assert result.exit_code == 0, result.output
    assert "Sent 0 email(s)." in result.output
    assert [email.attempts for email in outbox("test")] == [1, 1]

    use_smtp(app, smtp_server.server_address[1])
    result = runner.invoke(args=["notify", "send", "--limit", "1"])
    assert "Sent 1 email(s)." in result.output
    result = runner.invoke(args=["notify", "send"])
    assert "Sent 1 email(s)." in result.output
    assert sorted(message["To"] for message in smtp_server.messages) == ["a@example.org", "b@example.org"]
    assert all(email.sent_at is not None for email in outbox("test"))


def test_an_urgent_screen_is_stored_and_answered_even_if_delivery_breaks(app, client, monkeypatch):
    """A crisis applicant must see their result whatever the mail system does: the alert stays queued."""
    app.config["ONCALL_CLINICIAN_EMAIL"] = "oncall@clinic.example"

    def broken(email):
        raise TypeError("a bug in delivery")

    monkeypatch.setattr(notify, "_deliver", broken)
    response = client.post("/api/v1/screenings", json={"answers": urgent_answers()})
    assert response.status_code == 201
    assert response.json["urgent"] is True
    (alert,) = db.session.scalars(sa.select(OutboxEmail)).all()
    assert (alert.to_address, alert.sent_at, alert.attempts, alert.claimed_at) == (
        "oncall@clinic.example", None, 1, None)
    assert alert.last_error.startswith("TypeError")


def test_an_email_claimed_by_one_sender_is_not_sent_by_another(app, monkeypatch):
    delivered = []
    monkeypatch.setattr(notify, "_deliver", delivered.append)
    email = notify.enqueue("test", "someone@example.org", "Subject", "Body")
    db.session.commit()
    assert notify._claim(email.id) is True  # another sender is delivering it right now
    assert notify.send_pending() == 0
    assert delivered == []
    db.session.execute(sa.update(OutboxEmail).values(claimed_at=None))
    db.session.commit()
    assert notify.send_pending() == 1
    assert notify.send_pending() == 0
    assert [e.id for e in delivered] == [email.id]


def test_an_approval_email_links_to_a_page_that_continues_to_booking_and_shows_no_health_data(app, client,
                                                                                               staff_user):
    screening = make_screening(review_answers(), contact=CONTACT, pending=True)
    review.decide(screening.id, "approved", "", staff_user("clinician"))
    (email,) = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "screening_approved")).all()
    link = next(word for word in email.body.split() if "/screening/approved/" in word)
    assert link.startswith(app.config["PUBLIC_BASE_URL"])
    token = link.rsplit("/", 1)[1]

    page = client.get(f"/screening/approved/{token}")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "A clinician has approved your pre-screen" in text and "Choose your dates" in text
    for word in HEALTH_WORDS:
        assert word not in text
    assert services.by_token(token, for_booking=True).id == screening.id  # the link books, as the first token
    assert client.get("/screening/approved/not-a-token").status_code == 404
