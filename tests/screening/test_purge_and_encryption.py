"""Health data at rest: answers, findings (reasons and PHQ-9 score), contact details and notes encrypted (no
plaintext in the raw columns), keys that rotate (`flask screening rotate-keys`), and the 90-day purge of decided
screens that led to no booking (`flask screening purge`), which never touches a review still open."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from cryptography.fernet import Fernet, InvalidToken

from retreat.core import crypto
from retreat.core.audit import AuditEntry
from retreat.core.clock import now
from retreat.extensions import db
from retreat.screening import review, services
from retreat.screening.models import Screening
from tests.screening.test_review_queue import (
    CONTACT,
    make_screening,
    review_answers,
    urgent_answers,
    valid_answers,
)

OLD_KEY = "Vv0nW9D2cVmz2y0cqJ8b8t1fQ3YV4x6yF9Qm0m1bXk8="  # the testing configuration's key
DISTINCTIVE_WEIGHT = 83.71
NOTE = "Discussed with Dr Quintavalle; the glaucoma is well controlled."


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def raw_row(screening_id: int) -> dict:
    """The row as the database holds it, read with plain SQL (no ORM, no decryption)."""
    db.session.rollback()
    row = db.session.execute(sa.text("SELECT * FROM screening WHERE id = :id"), {"id": screening_id}).mappings().one()
    return {key: bytes(value) if isinstance(value, memoryview) else value for key, value in row.items()}


def use_keys(app, *keys: str) -> None:
    """Configure these keys (newest first), as a restart with a new SCREENING_ENCRYPTION_KEYS would."""
    app.config["SCREENING_ENCRYPTION_KEYS"] = ",".join(keys)
    app.extensions.pop("phi_fernet", None)


def reload(screening_id: int) -> Screening:
    db.session.expire_all()
    return db.session.get(Screening, screening_id)


# --- Encrypted at rest -----------------------------------------------------------------------------------------

def test_the_raw_columns_hold_no_plaintext_answers_contact_or_note(app, staff_user):
    answers = review_answers(weight_kg=DISTINCTIVE_WEIGHT, glaucoma=True)
    screening = make_screening(answers, contact=CONTACT, pending=True)
    review.decide(screening.id, "records_requested", NOTE, staff_user("clinician"))

    row = raw_row(screening.id)
    findings = services.read_findings(reload(screening.id))
    codes = [reason["code"] for reason in findings.reasons]
    assert codes == ["neuro_condition", "interacting_medication"]
    wording = [reason["message"] for reason in findings.reasons]
    for column in ("answers_encrypted", "contact_encrypted", "review_note_encrypted", "findings_encrypted"):
        value = row[column]
        assert isinstance(value, bytes) and value.startswith(b"gAAAAA"), f"{column} is a Fernet token"
        for plaintext in (str(DISTINCTIVE_WEIGHT), "glaucoma", "lamotrigine", CONTACT["email"], "Okonkwo",
                          "Quintavalle", *codes, *wording, "moderately_severe"):
            assert plaintext.encode() not in value, (column, plaintext)
    assert not {"reasons", "phq9_total", "phq9_severity"} & set(row), "no readable copy of the findings"
    everything = repr(row)
    for plaintext in (str(DISTINCTIVE_WEIGHT), CONTACT["email"], "Okonkwo", "Quintavalle", "lamotrigine", *codes,
                      *wording, "moderately_severe"):
        assert plaintext not in everything, plaintext

    assert crypto.decrypt_json(row["answers_encrypted"]) == services.validate_answers(answers)
    assert crypto.decrypt_json(row["contact_encrypted"]) == CONTACT
    assert crypto.decrypt_json(row["review_note_encrypted"]) == NOTE
    assert crypto.decrypt_json(row["findings_encrypted"]) == {
        "reasons": list(findings.reasons), "phq9_total": 16, "phq9_severity": "moderately_severe"}
    assert Fernet(OLD_KEY.encode()).decrypt(row["answers_encrypted"])  # under the configured key


def test_the_audit_log_never_holds_answers(app, staff_user):
    screening = make_screening(review_answers(weight_kg=DISTINCTIVE_WEIGHT), contact=CONTACT, pending=True)
    clinician = staff_user("clinician")
    services.read_answers(screening)
    review.decide(screening.id, "declined", NOTE, clinician)
    details = [entry.details for entry in db.session.scalars(sa.select(AuditEntry))]
    assert {"decision": "declined"} in details
    text = repr(details)
    for plaintext in (str(DISTINCTIVE_WEIGHT), CONTACT["email"], "Quintavalle", "lamotrigine"):
        assert plaintext not in text


# --- Key rotation ----------------------------------------------------------------------------------------------

def test_a_new_key_first_still_reads_old_data_and_rotate_keys_moves_everything_to_it(app, runner, staff_user):
    old = make_screening(review_answers(weight_kg=DISTINCTIVE_WEIGHT), contact=CONTACT, pending=True)
    review.decide(old.id, "records_requested", NOTE, staff_user("clinician"))
    purged = make_screening(valid_answers(), at=now() - timedelta(days=200))
    services.purge_old_answers()
    expected_answers = crypto.decrypt_json(reload(old.id).answers_encrypted)
    expected_findings = services.read_findings(reload(old.id))

    new_key = Fernet.generate_key().decode()
    use_keys(app, new_key, OLD_KEY)
    assert crypto.decrypt_json(reload(old.id).answers_encrypted) == expected_answers, "old data still decrypts"
    fresh = make_screening(valid_answers(weight_kg=64.0), contact=CONTACT)
    Fernet(new_key.encode()).decrypt(raw_row(fresh.id)["answers_encrypted"])  # new data under the new key

    result = runner.invoke(args=["screening", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 2 screening(s) under the newest key." in result.output, "the purged one has nothing left"

    use_keys(app, new_key)  # the old key removed from the configuration
    screening = reload(old.id)
    assert crypto.decrypt_json(screening.answers_encrypted) == expected_answers
    assert crypto.decrypt_json(screening.contact_encrypted) == CONTACT
    assert review.read_note(screening) == NOTE
    assert services.read_findings(screening) == expected_findings
    assert crypto.decrypt_json(reload(fresh.id).contact_encrypted) == CONTACT
    row = raw_row(old.id)
    for column in ("answers_encrypted", "contact_encrypted", "review_note_encrypted", "findings_encrypted"):
        Fernet(new_key.encode()).decrypt(row[column])
        with pytest.raises(InvalidToken):
            Fernet(OLD_KEY.encode()).decrypt(row[column])
    assert raw_row(purged.id)["answers_encrypted"] is None and raw_row(purged.id)["findings_encrypted"] is None
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "screening.rotate_keys")).all()
    assert entry.details == {"count": 2}


def test_rotation_commits_in_batches_and_covers_every_row(app):
    ids = [make_screening(valid_answers(age=20 + n)).id for n in range(5)]
    new_key = Fernet.generate_key().decode()
    use_keys(app, new_key, OLD_KEY)
    assert review.rotate_encryption(batch_size=2) == 5
    use_keys(app, new_key)
    assert [crypto.decrypt_json(reload(i).answers_encrypted)["age"] for i in ids] == [20, 21, 22, 23, 24]


def test_rotate_keys_stops_with_an_error_when_a_value_has_no_key(app, runner):
    screening = make_screening(valid_answers())
    use_keys(app, Fernet.generate_key().decode())  # the old key lost
    result = runner.invoke(args=["screening", "rotate-keys"])
    assert result.exit_code == 1
    assert f"Screening {screening.id}: answers_encrypted cannot be decrypted" in result.output
    use_keys(app, OLD_KEY)
    assert crypto.decrypt_json(reload(screening.id).answers_encrypted)["age"] == 42, "nothing was changed"


# --- The purge -------------------------------------------------------------------------------------------------

DAY = timedelta(days=1)
NOTE_DECLINED = "Reached by phone; advised to see her psychiatrist first."
CRISIS = {"wish_dead": True, "suicidal_thoughts": True, "method": False, "intent": True, "plan": False,
          "behavior": False}


def screen(kind: str, *, age_days: int, decided_days_ago: int | None = None, decision: str = "declined",
           booked: bool = False, clinician=None) -> int:
    """A screening submitted `age_days` ago, of `kind`; a review asked for by the applicant (with contact
    details) and decided `decided_days_ago` if given; `booked` marks its token used for a booking."""
    moment = now()
    answers = {"eligible": valid_answers(), "review": review_answers(), "urgent": urgent_answers(),
               "crisis": valid_answers(cssrs=CRISIS), "ineligible": valid_answers(age=17)}[kind]
    screening = make_screening(answers, at=moment - age_days * DAY, contact=CONTACT,
                               pending=kind in ("review", "urgent") and decided_days_ago != -1)
    if decided_days_ago is not None and decided_days_ago >= 0:
        with time_machine.travel(moment - decided_days_ago * DAY, tick=False):
            note = "" if decision == "approved" else NOTE_DECLINED
            review.decide(screening.id, decision, note, clinician)
    if booked:
        screening = reload(screening.id)
        screening.token_used_at = screening.created_at + DAY
        db.session.commit()
    return screening.id


# (name, kind, age in days, decided how many days ago (None: never reviewed or still open; -1: never asked for
#  a review), decision, booked, purged?)
PURGE_CASES = [
    ("eligible, old, unbooked", "eligible", 91, -1, None, False, True),
    ("eligible, 89 days", "eligible", 89, -1, None, False, False),
    ("eligible, old, booked", "eligible", 120, -1, None, True, False),
    ("review never asked for, old", "review", 91, -1, None, False, True),
    ("review pending for 200 days", "review", 200, None, None, False, False),
    ("urgent review pending for 200 days", "urgent", 200, None, None, False, False),
    ("crisis pending for 200 days", "crisis", 200, None, None, False, False),
    ("records requested 150 days ago", "review", 200, 150, "records_requested", False, False),
    ("declined 100 days ago", "review", 120, 100, "declined", False, True),
    ("crisis declined 95 days ago", "crisis", 120, 95, "declined", False, True),
    ("approved 95 days ago, never booked", "review", 120, 95, "approved", False, True),
    ("declined 10 days ago, submitted long before", "review", 200, 10, "declined", False, False),
    ("approved and booked", "review", 200, 150, "approved", True, False),
    ("ineligible, old", "ineligible", 91, -1, None, False, True),
]


@pytest.fixture
def clinician(staff_user):
    return staff_user("clinician", email="purge.clinician@example.org")


@pytest.mark.parametrize(("name", "kind", "age_days", "decided", "decision", "booked", "purged"), PURGE_CASES,
                         ids=[case[0] for case in PURGE_CASES])
def test_what_the_purge_removes_and_what_it_never_touches(app, clinician, name, kind, age_days, decided, decision,
                                                          booked, purged):
    screening_id = screen(kind, age_days=age_days, decided_days_ago=decided, decision=decision or "declined",
                          booked=booked, clinician=clinician)
    before = reload(screening_id)
    kept = (before.outcome, before.urgent, before.review_status, before.created_at, before.reviewed_at,
            before.token_used_at, before.rules_version)
    findings = services.read_findings(before)
    assert findings is not None

    assert services.purge_old_answers() == int(purged)

    after = reload(screening_id)
    assert (after.outcome, after.urgent, after.review_status, after.created_at, after.reviewed_at,
            after.token_used_at, after.rules_version) == kept, "what routing and ordering need stays"
    row = raw_row(screening_id)
    if purged:
        assert all(row[column] is None for column in services.HEALTH_COLUMNS), row
        assert services.read_findings(after) is None
        assert after.answers_purged_at is not None and abs(after.answers_purged_at - now()) < timedelta(minutes=1)
        [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "screening.purge")).all()
        assert entry.details["count"] == 1
    else:
        assert row["answers_encrypted"] is not None and row["findings_encrypted"] is not None
        assert services.read_findings(after) == findings
        assert crypto.decrypt_json(row["contact_encrypted"]) == CONTACT
        assert after.answers_purged_at is None
    assert services.purge_old_answers() == 0, "nothing left to purge"


def test_a_crisis_waiting_for_review_keeps_its_answers_until_decided_and_then_its_note_goes_too(app, clinician):
    """The reported bug: `flask screening purge` removed the answers of a crisis screen still waiting for a
    clinician. It waits for the decision and the retention after it; then answers, findings and note go."""
    moment = now()
    screening_id = screen("crisis", age_days=200)
    assert services.purge_old_answers() == 0
    assert reload(screening_id).answers_encrypted is not None

    review.decide(screening_id, "declined", NOTE_DECLINED, clinician)
    assert review.read_note(reload(screening_id)) == NOTE_DECLINED
    with time_machine.travel(moment + 89 * DAY, tick=False):
        assert services.purge_old_answers() == 0, "the retention counts from the decision"
    with time_machine.travel(moment + 91 * DAY, tick=False):
        assert services.purge_old_answers() == 1
    row = raw_row(screening_id)
    assert (row["answers_encrypted"], row["findings_encrypted"], row["contact_encrypted"],
            row["review_note_encrypted"]) == (None, None, None, None)
    assert (row["outcome"], row["review_status"]) == ("crisis", "declined")


def test_flask_screening_purge_prints_the_count(app, runner, clinician):
    old = screen("eligible", age_days=91, decided_days_ago=-1)
    recent = screen("eligible", age_days=40, decided_days_ago=-1)
    booked = screen("eligible", age_days=120, decided_days_ago=-1, booked=True)
    pending = screen("review", age_days=120)

    result = runner.invoke(args=["screening", "purge"])
    assert result.exit_code == 0, result.output
    assert "Purged the answers of 1 screening(s) older than 90 days." in result.output
    assert reload(old).answers_encrypted is None

    result = runner.invoke(args=["screening", "purge", "--older-than-days", "30"])
    assert result.exit_code == 0, result.output
    assert "Purged the answers of 1 screening(s) older than 30 days." in result.output
    assert reload(recent).answers_encrypted is None
    assert reload(booked).answers_encrypted is not None, "a screen that led to a booking is kept"
    assert reload(pending).answers_encrypted is not None, "a review still pending is kept"

    assert runner.invoke(args=["screening", "purge", "--older-than-days", "0"]).exit_code == 2


@pytest.mark.parametrize("kind", ["review", "crisis"])
def test_a_purged_result_page_says_so_and_shows_nothing_of_the_result(app, client, clinician, kind):
    answers = review_answers() if kind == "review" else valid_answers(cssrs=CRISIS)
    with time_machine.travel(now() - 120 * DAY, tick=False):
        submitted = services.submit(answers)
        codes = [reason["code"] for reason in submitted.findings.reasons]
        if kind == "crisis":
            review.decide(submitted.screening.id, "declined", NOTE_DECLINED, clinician)
    assert services.purge_old_answers() == 1

    response = client.get(f"/screening/result/{submitted.token}")
    assert response.status_code == 410
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
    html = response.get_data(as_text=True)
    assert "This pre-screen has been deleted" in html and 'href="/screening/"' in html
    assert 'href="tel:988"' in html, "the crisis resources are on every result page"
    for code in codes:
        assert code not in html
    assert "PHQ-9" not in html
    assert ("Please reach out now" in html) is (kind == "crisis"), "a crisis result still opens with the resources"
