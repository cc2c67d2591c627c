"""Informed consent (retreat/arrival/consent.py): versions that are never edited, their sha256, the admin's page,
the applicant's signature (name, one tick per section, time, address, version and hash), the signed copy (PDF, by
download and by email), a new version before the start asking for a new signature, the checklist step, the
applicant's data and its erasure.

Rendering a PDF is slow: one test per database renders the signed copy for real and reads it back; the others put a
stand-in for the renderer."""

import hashlib
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from werkzeug.middleware.proxy_fix import ProxyFix

from retreat.arrival import consent
from retreat.arrival.consent_models import ConsentSection, ConsentSignature, ConsentVersion
from retreat.booking import services as booking_services
from retreat.booking.models import Booking
from retreat.core.audit import AuditEntry
from retreat.core.clinic import clinic_zone
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.notify import services as notify
from retreat.notify.models import OutboxEmail
from tests.booking.support import booking_body, eligible_token, make_cohort
from tests.booking.test_concurrency import race, racing_app  # noqa: F401  (racing_app: a fixture)
from tests.booking.test_receipts_and_superbills import pdf_text
from tests.screening.test_outbox import smtp_server, use_smtp  # noqa: F401  (smtp_server: a fixture)

TEXT = """## Risks

Dissociation, raised blood pressure, nausea.

## No driving

- No driving for the rest of a dosing day.
- A named adult takes you home.
"""
RACERS = 8
SECTIONS = [consent.Section("Risks", "Dissociation, raised blood pressure, nausea."),
            consent.Section("No driving", "- No driving for the rest of a dosing day.\n- A named adult takes you "
                                          "home.")]


def booked(client, *, starts_in_days: int = 40) -> tuple[Booking, str]:
    """A held booking for Alex Rivera."""
    cohort = make_cohort(starts_in_days=starts_in_days)
    made = client.post("/api/v1/bookings", json=booking_body(cohort, eligible_token()))
    assert made.status_code == 201, made.get_json()
    return (db.session.scalar(sa.select(Booking).where(Booking.reference == made.get_json()["reference"])),
            made.get_json()["manage_token"])


def published(text: str = TEXT, note: str = "First version.") -> ConsentVersion:
    newest = consent.current_version()
    return consent.publish(text, note, based_on=newest.number if newest else None, staff="test")


def signing(version: ConsentVersion, name: str = "Alex Rivera", ticks=None) -> dict:
    ticks = [section.position for section in version.sections] if ticks is None else ticks
    return {"version": str(version.number), "full_name": name, **{f"section_{n}": "y" for n in ticks}}


def signatures() -> list[ConsentSignature]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ConsentSignature).order_by(ConsentSignature.id)))


def consent_emails() -> list[OutboxEmail]:
    return list(db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "consent_signed")))


@pytest.fixture
def rendered(monkeypatch):
    """A stand-in for WeasyPrint: the template is still rendered (so it must work), the PDF is not made."""
    made = []

    def render(template: str, **context) -> bytes:
        from flask import render_template
        made.append(render_template(template, **context))
        return b"%PDF-stand-in"

    monkeypatch.setattr(consent, "render_pdf", render)
    return made


# --- The text: canonical form and hash (no database) -----------------------------------------------------------

def test_the_canonical_text_and_its_sha256_ignore_line_endings_and_trailing_spaces_only():
    sections = consent.parse_document(TEXT)
    assert sections == SECTIONS
    assert consent.canonical_text(sections) == TEXT
    assert consent.content_hash(sections) == hashlib.sha256(TEXT.encode()).hexdigest()
    messy = "\r\n\r\n" + TEXT.replace("\n", "  \r\n").replace("nausea.", "nausea.\n\n\n") + "\n\n"
    assert consent.content_hash(consent.parse_document(messy)) == consent.content_hash(sections)
    reworded = consent.parse_document(TEXT.replace("nausea", "vomiting"))
    assert consent.content_hash(reworded) != consent.content_hash(sections)


@pytest.mark.parametrize(("text", "says"), [
    ("", "Write the consent"),
    ("Some words before any title.\n\n## Risks\n\nText.", "Line 1: start with a section title"),
    ("## Risks\n\n", "Section 1 (Risks) has a title but no text"),
    ("## Risks\n\nText.\n\n##\n\nMore.", "Section 2 has no title"),
    ("#Risks\n\nText.", "a section title is a line starting with “## ”"),
    ("## Risks\n\nText with a \x07 bell.", "control character"),
    ("## " + "T" * 201 + "\n\nText.", "at most 200 characters"),
    ("".join(f"## S{n}\n\nText.\n\n" for n in range(41)), "at most 40 sections"),
])
def test_a_badly_written_text_is_refused_naming_the_text_and_where(text, says):
    with pytest.raises(ValidationFailed) as refused:
        consent.parse_document(text)
    assert set(refused.value.fields) == {"text"}
    assert any(says in reason for reason in refused.value.fields["text"]), refused.value.fields


def test_a_sections_text_reads_as_paragraphs_and_lists():
    assert consent.blocks("One\nline.\n\n- a\n- b\n\nEnd.") == [("p", "One line."), ("ul", ["a", "b"]), ("p", "End.")]
    assert consent.blocks("You may have:\n- nausea;\n- dizziness.\nAsk us.") == [
        ("p", "You may have:"), ("ul", ["nausea;", "dizziness."]), ("p", "Ask us.")]


# --- Versions --------------------------------------------------------------------------------------------------

def test_each_save_is_a_new_version_and_an_old_one_is_never_edited(app):
    first = published()
    second = published(TEXT.replace("nausea", "nausea or vomiting"), "Vomiting named.")
    db.session.expire_all()
    assert [v.number for v in consent.list_versions()] == [2, 1]
    one = consent.version_by_number(1)
    assert [s.text for s in one.sections][0] == "Dissociation, raised blood pressure, nausea."
    assert one.content_hash == hashlib.sha256(TEXT.encode()).hexdigest() == first.content_hash
    assert second.content_hash == consent.content_hash(consent.sections_of(consent.version_by_number(2)))
    assert consent.current_version().number == 2
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "consent.publish")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.target_id, e.details["sha256"], e.details["note"]) for e in entries] == [
        ("1", first.content_hash, "First version."), ("2", second.content_hash, "Vomiting named.")]

    with pytest.raises(ValidationFailed) as same:
        published(TEXT.replace("nausea", "nausea or vomiting"), "Again.")
    assert "Nothing differs from version 2" in same.value.fields["text"][0]
    with pytest.raises(ValidationFailed) as no_note:
        published(TEXT + "\nMore.", "   ")
    assert set(no_note.value.fields) == {"note"}
    with pytest.raises(consent.ConsentVersionChanged):  # the editor started from version 1: version 2 is kept
        consent.publish(TEXT + "\nMore.", "Stale.", based_on=1, staff="test")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentVersion)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentSection)) == 4


def test_only_admins_edit_the_consent_on_its_page_and_each_save_is_audited(client, login_as):
    login_as("coordinator", "clinician", "finance")
    assert [client.get(url).status_code for url in ("/staff/consent", "/staff/consent/new")] == [403, 403]
    assert client.post("/staff/consent/new", data={"text": TEXT, "note": "x"}).status_code == 403
    assert consent.current_version() is None
    client.post("/staff/logout")

    admin = login_as("admin")
    empty = client.get("/staff/consent")
    assert "No consent is published yet" in empty.get_data(as_text=True)
    refused = client.post("/staff/consent/new", data={"base_version": "", "text": "## Risks", "note": ""})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Section 1 (Risks) has a title but no text" in html and "Write a note" in html
    saved = client.post("/staff/consent/new", data={"base_version": "", "text": TEXT, "note": "First version."})
    assert (saved.status_code, saved.headers["Location"]) == (303, "/staff/consent/1")
    page = client.get("/staff/consent/new").get_data(as_text=True)
    assert 'name="base_version" type="hidden" value="1"' in page and "## No driving" in page
    stale = client.post("/staff/consent/new", data={"base_version": "", "text": TEXT + "\nMore.", "note": "Stale"})
    assert stale.status_code == 409 and "Version 1 of the consent was saved after you opened this form" in \
        stale.get_data(as_text=True)
    assert client.post("/staff/consent/new", data={"base_version": "1", "text": TEXT + "\nMore.",
                                                   "note": "More."}).status_code == 303
    detail = client.get("/staff/consent/2").get_data(as_text=True)
    assert consent.current_version().content_hash in detail and "More." in detail
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "consent.publish")
                               .order_by(AuditEntry.id.desc())).first()
    assert (entry.actor_email, entry.target_id, entry.details["previous_version"]) == (admin.email, "2", 1)


def test_flask_consent_init_loads_a_file_as_version_1_once(app, tmp_path):
    path = tmp_path / "consent.md"
    path.write_text(TEXT, encoding="utf-8")
    runner = app.test_cli_runner()
    first = runner.invoke(args=["consent", "init", "--file", str(path)])
    assert first.exit_code == 0 and "as version 1 (2 sections)" in first.output, first.output
    again = runner.invoke(args=["consent", "init", "--file", str(path)])
    assert again.exit_code == 0 and "exists already" in again.output
    path.write_text("no title", encoding="utf-8")
    db.session.rollback()
    assert consent.current_version().number == 1


def test_the_demo_consent_is_about_ketamine_assisted_psychotherapy():
    from retreat.demo import DEMO_CONSENT  # seed_demo_data publishes it as version 1 (the browser walk signs it)
    sections = consent.parse_document(DEMO_CONSENT)
    assert [section.title for section in sections][:2] == ["What ketamine-assisted psychotherapy is",
                                                           "Risks and side effects"]
    text = " ".join(consent.canonical_text(sections).split())
    for words in ("dissociation", "blood pressure", "nausea", "must not drive", "Confidentiality and its limits",
                  "withdraw your consent at any time", "Emergencies", "988"):
        assert words in text, words


# --- Signing ---------------------------------------------------------------------------------------------------

SIGNING_RULES = [  # (name typed, sections ticked, {field: what its error says}); nothing refused: it signs
    ("", [1, 2], {"full_name": "Type your full name to sign."}),
    ("Alex Rivers", [1, 2], {"full_name": "Type your full name as it is on your booking (Alex Rivera)"}),
    ("Alex", [1, 2], {"full_name": "as it is on your booking"}),
    ("Alex Rivera", [1], {"section_2": "Tick the box to confirm you have read “No driving”."}),
    ("Alex Rivera", [], {"section_1": "“Risks”", "section_2": "“No driving”"}),
    ("Rivera Alex", [2], {"full_name": "as it is on your booking", "section_1": "“Risks”"}),
    ("  alex   RIVERA ", [1, 2], {}),
    ("ALEX RIVERA", [1, 2], {}),
    ("Alex\u00a0Rivera", [1, 2], {}),
]


def test_the_signature_needs_the_bookings_name_and_every_section_ticked(client, rendered):
    booking, token = booked(client)
    version = published()
    for name, ticks, refused in SIGNING_RULES:
        if not refused:
            assert consent.check_signature(booking, version, name, set(ticks)) == " ".join(name.split())
            continue
        response = client.post(f"/bookings/manage/{token}/consent", data=signing(version, name, ticks))
        assert response.status_code == 422, name
        html = response.get_data(as_text=True)
        for field, says in refused.items():
            assert f'id="{field}"' in html and says in html, (name, field, says)
        assert 'aria-invalid="true"' in html
        with pytest.raises(ValidationFailed) as direct:
            consent.sign(booking, version_number=1, full_name=name, ticked=set(ticks), client_address=None)
        assert set(direct.value.fields) == set(refused), name
    assert signatures() == [] and consent_emails() == []
    assert client.post(f"/bookings/manage/{token}/consent", data=signing(version, " alex  RIVERA")).status_code == 303
    assert [s.signed_name for s in signatures()] == ["alex RIVERA"]


def test_a_signature_records_time_address_version_and_hash_once_and_emails_the_copy(app, client, rendered):
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # PROXY_FIX_HOPS=1, as create_app does
    booking, token = booked(client)
    version = published()
    moment = datetime(2026, 12, 7, 15, 4, 5, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        response = client.post(f"/bookings/manage/{token}/consent", data=signing(version),
                               headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert (response.status_code, response.headers["Location"]) == (303, f"/bookings/manage/{token}/consent")
    [signature] = signatures()
    assert (signature.booking_id, signature.version_id, signature.signed_name, signature.signed_at,
            signature.client_address, signature.version_hash) == (
        booking.id, version.id, "Alex Rivera", moment, "203.0.113.7", version.content_hash)
    [email] = consent_emails()
    assert (email.to_address, email.attachment) == ("alex@example.org", f"consent:{signature.id}")
    assert email.subject == f"Cedar House Retreats: your signed consent ({booking.reference})"
    assert f"/bookings/manage/{token}" in email.body and "version 1" in email.body
    [audit] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "consent.sign")).all()
    assert (audit.actor_email, audit.target_id, audit.details) == (
        "applicant", booking.reference, {"version": 1, "sha256": version.content_hash})
    page = client.get(f"/bookings/manage/{token}/consent").get_data(as_text=True)
    assert "You signed version 1" in page and 'name="full_name"' not in page
    assert consent.checklist_step(booking).done

    again = client.post(f"/bookings/manage/{token}/consent", data=signing(version))
    assert again.status_code == 303
    assert "You had signed this version already" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(signatures()) == 1 and len(consent_emails()) == 1


def test_the_signed_copy_is_a_pdf_with_the_name_version_and_hash(client):
    booking, token = booked(client)
    version = published()
    client.post(f"/bookings/manage/{token}/consent", data=signing(version, "alex  rivera"),
                environ_base={"REMOTE_ADDR": "198.51.100.4"})
    response = client.get(f"/bookings/manage/{token}/consent.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f'filename="consent-{booking.reference}-v1.pdf"' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    text = pdf_text(response.data)
    for words in ("Cedar House Retreats", "Informed consent", f"Booking {booking.reference}", "Patient alex rivera",
                  "Consent version 1", "From address 198.51.100.4", "1. Risks",
                  "Dissociation, raised blood pressure, nausea.", "No driving for the rest of a dosing day.",
                  version.content_hash):
        assert words in text, words


def test_the_email_carries_the_signed_copy(app, client, rendered, smtp_server):  # noqa: F811
    booking, token = booked(client)
    client.post(f"/bookings/manage/{token}/consent", data=signing(published()))
    use_smtp(app, smtp_server.server_address[1])
    db.session.execute(sa.update(OutboxEmail).values(sent_at=None, attempts=0))
    db.session.commit()
    notify.send_pending()
    [message] = [m for m in smtp_server.messages if "signed consent" in m["Subject"]]
    [attachment] = list(message.iter_attachments())
    assert (attachment.get_content_type(), attachment.get_filename(), attachment.get_content()) == (
        "application/pdf", f"consent-{booking.reference}-v1.pdf", b"%PDF-stand-in")
    assert "Patient</dt><dd>Alex Rivera" in " ".join(rendered[-1].split()).replace("> <", "><")
    assert "attached as a PDF" in message.get_body(("plain",)).get_content()


def test_a_version_published_while_reading_is_not_signed_unseen(client, rendered):
    booking, token = booked(client)
    first = published()
    published(TEXT + "\nMore.", "Second.")
    response = client.post(f"/bookings/manage/{token}/consent", data=signing(first))
    assert response.status_code == 303
    assert "published a new version of the consent (version 2) while you were reading" in \
        client.get(response.headers["Location"]).get_data(as_text=True)
    assert signatures() == []


def _clinic_moment(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=clinic_zone()).astimezone(UTC)


def test_a_new_version_before_the_start_asks_again_and_one_after_the_start_does_not(client, rendered):
    booking, token = booked(client, starts_in_days=20)
    booking_services.payment_received(booking.reference, kind="deposit", amount_cents=booking.deposit_cents,
                                      provider="demo", provider_reference="demo_deposit")  # a seat, no lapsing hold
    start = booking.cohort.start_date
    with time_machine.travel(_clinic_moment(start - timedelta(days=10), 9), tick=False):
        first = published()
        client.post(f"/bookings/manage/{token}/consent", data=signing(first))
    with time_machine.travel(_clinic_moment(start - timedelta(days=1), 23), tick=False):
        second = published(TEXT.replace("nausea.", "nausea or vomiting.") + "\n## Photos\n\nNone taken.", "Changed.")
        step = consent.checklist_step(booking)
        assert (step.done, step.key, step.endpoint) == (False, "consent", "booking.consent_page")
        assert "new version (version 2)" in step.left
        page = " ".join(client.get(f"/bookings/manage/{token}/consent").get_data(as_text=True).split())
        assert "This is a new version of the consent (version 2" in page and "You signed version 1" in page
        assert ">Changed</span>" in page and ">New</span>" in page and 'name="section_3"' in page
        assert client.post(f"/bookings/manage/{token}/consent", data=signing(second)).status_code == 303
        assert consent.checklist_step(booking).done
        assert [s.version.number for s in consent.signatures_of(booking)] == [2, 1]
    with time_machine.travel(_clinic_moment(start, 0), tick=False):  # midnight: the first day has begun
        published(TEXT + "\nThird.", "After the start.")
        assert consent.checklist_step(booking).done
        page = " ".join(client.get(f"/bookings/manage/{token}/consent").get_data(as_text=True).split())
        assert "You signed version 2" in page and "published version 3 since your program started" in page
        assert 'name="full_name"' not in page


def test_a_booking_that_is_not_held_or_confirmed_signs_nothing(client, rendered):
    version = published()
    for status in ("cancelled", "declined", "expired", "lapsed"):
        booking, token = booked(client)
        if status == "cancelled":
            booking_services.cancel_booking(booking)
        elif status == "lapsed":
            booking.hold_expires_at = datetime.now(UTC) - timedelta(minutes=1)
        else:
            booking.status = status
        db.session.commit()
        page = client.get(f"/bookings/manage/{token}/consent")
        assert (page.status_code, page.headers["Location"]) == (303, f"/bookings/manage/{token}"), status
        refused = client.post(f"/bookings/manage/{token}/consent", data=signing(version))
        assert refused.status_code == 303
        assert "this booking is not" in client.get(refused.headers["Location"]).get_data(as_text=True)
        with pytest.raises(consent.ConsentNotOpen):
            consent.sign(booking, version_number=1, full_name="Alex Rivera", ticked={1, 2}, client_address=None)
        step = consent.checklist_step(booking)
        assert step is None if status != "lapsed" else not step.done
    assert signatures() == [] and consent_emails() == []


def test_a_wrong_token_gets_nothing_and_before_any_version_the_step_waits(client, rendered):
    booking, token = booked(client)
    step = consent.checklist_step(booking)
    assert (step.done, step.endpoint) == (False, None)
    assert "has not published its consent form yet" in client.get(f"/bookings/manage/{token}/consent").get_data(
        as_text=True)
    version = published()
    other, other_token = booked(client)
    client.post(f"/bookings/manage/{other_token}/consent", data=signing(version))
    for bad in ("x" * 43, token[:-2] + "AA", "short"):
        assert client.get(f"/bookings/manage/{bad}/consent").status_code == 404
        assert client.post(f"/bookings/manage/{bad}/consent", data=signing(version)).status_code == 404
        assert client.get(f"/bookings/manage/{bad}/consent.pdf").status_code == 404
    assert [s.booking_id for s in signatures()] == [other.id]
    unsigned = client.get(f"/bookings/manage/{token}/consent.pdf")  # this booking has signed nothing
    assert (unsigned.status_code, unsigned.headers["Location"]) == (303, f"/bookings/manage/{token}")


# --- The applicant's data, erasure, the staff's view -----------------------------------------------------------

def test_personal_data_lists_the_signatures_and_erasure_empties_name_and_address(client, rendered, login_as):
    booking, token = booked(client)
    version = published()
    client.post(f"/bookings/manage/{token}/consent", data=signing(version),
                environ_base={"REMOTE_ADDR": "198.51.100.4"})
    [signature] = signatures()
    assert consent.personal_data(booking) == [{
        "version": 1, "signed_name": "Alex Rivera", "signed_at": signature.signed_at.isoformat(),
        "client_address": "198.51.100.4", "version_sha256": version.content_hash}]

    login_as("clinician")
    staff_page = client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
    assert "Informed consent" in staff_page and "Signed version 1 on" in staff_page

    consent.erase_personal_data(booking)
    db.session.commit()
    [erased] = consent.personal_data(booking)
    assert (erased["signed_name"], erased["client_address"], erased["version"], erased["version_sha256"]) == (
        None, None, 1, version.content_hash)
    assert consent.checklist_step(booking).done  # the record that consent was given stays
    assert client.get(f"/bookings/manage/{token}/consent.pdf").status_code == 303  # no copy without the name
    with pytest.raises(Exception, match="no longer held"):
        notify.make_attachment(f"consent:{signature.id}")


# --- Races -----------------------------------------------------------------------------------------------------

def test_a_signature_sent_many_times_at_once_is_one_signature_and_one_email(client, rendered, racing_app):  # noqa: F811
    booking, _ = booked(client)
    booking_id, based_on = booking.id, published().number  # racers read nothing of the test's session
    attempts = [lambda: consent.sign(db.session.get(Booking, booking_id), version_number=1, full_name="Alex Rivera",
                                     ticked={1, 2}, client_address="198.51.100.4")[1] for _ in range(RACERS)]
    outcomes = race(racing_app, attempts)
    assert sorted(outcomes, key=repr) == [False] * (RACERS - 1) + [True], outcomes
    assert len(signatures()) == 1 and len(consent_emails()) == 1
    # Two admins saving from the same version: one is version 2, the other is told and saves nothing.
    saves = [lambda n=n: consent.publish(TEXT + f"\nEdit {n}.", f"Edit {n}.", based_on=based_on,
                                         staff="test").number for n in range(2)]
    outcomes = race(racing_app, saves)
    assert sorted(outcomes, key=str) == sorted([2, *[o for o in outcomes if isinstance(o, Exception)]], key=str)
    assert [type(o) for o in outcomes if not isinstance(o, int)] == [consent.ConsentVersionChanged], outcomes
    assert [v.number for v in consent.list_versions()] == [2, 1]
