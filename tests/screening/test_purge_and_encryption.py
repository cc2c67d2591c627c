"""Answers at rest: encrypted (no plaintext in the raw columns), keys that rotate (`flask screening rotate-keys`),
and the 90-day purge of screens that led to no booking (`flask screening purge`)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from retreat.core import crypto
from retreat.core.audit import AuditEntry
from retreat.core.clock import now
from retreat.extensions import db
from retreat.screening import review, services
from retreat.screening.models import Screening
from tests.screening.test_review_queue import CONTACT, make_screening, review_answers, valid_answers

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
    for column in ("answers_encrypted", "contact_encrypted", "review_note_encrypted"):
        value = row[column]
        assert isinstance(value, bytes) and value.startswith(b"gAAAAA"), f"{column} is a Fernet token"
        for plaintext in (str(DISTINCTIVE_WEIGHT), "glaucoma", "lamotrigine", CONTACT["email"], "Okonkwo",
                          "Quintavalle"):
            assert plaintext.encode() not in value, (column, plaintext)
    everything = repr(row)
    for plaintext in (str(DISTINCTIVE_WEIGHT), CONTACT["email"], "Okonkwo", "Quintavalle", "lamotrigine"):
        assert plaintext not in everything, plaintext

    assert crypto.decrypt_json(row["answers_encrypted"]) == services.validate_answers(answers)
    assert crypto.decrypt_json(row["contact_encrypted"]) == CONTACT
    assert crypto.decrypt_json(row["review_note_encrypted"]) == NOTE
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
    assert crypto.decrypt_json(reload(fresh.id).contact_encrypted) == CONTACT
    row = raw_row(old.id)
    for column in ("answers_encrypted", "contact_encrypted", "review_note_encrypted"):
        Fernet(new_key.encode()).decrypt(row[column])
        with pytest.raises(InvalidToken):
            Fernet(OLD_KEY.encode()).decrypt(row[column])
    assert raw_row(purged.id)["answers_encrypted"] is None
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

@pytest.fixture
def aged(app):
    """Screens of different ages; one old one was used for a booking."""
    moment = now()
    old = make_screening(review_answers(), contact=CONTACT, at=moment - timedelta(days=91), pending=True)
    old_booked = make_screening(valid_answers(), contact=CONTACT, at=moment - timedelta(days=120))
    old_booked.token_used_at = old_booked.created_at + timedelta(days=2)
    recent = make_screening(valid_answers(), contact=CONTACT, at=moment - timedelta(days=89))
    db.session.commit()
    return {"old": old.id, "old_booked": old_booked.id, "recent": recent.id}


def test_purge_removes_answers_and_contact_of_old_unbooked_screens_and_keeps_the_result(app, aged):
    before = {key: reload(value) for key, value in aged.items()}
    kept = {key: (s.outcome, s.reasons, s.created_at, s.phq9_total, s.phq9_severity, s.urgent, s.review_status)
            for key, s in before.items()}

    assert services.purge_old_answers() == 1

    old = reload(aged["old"])
    assert (old.answers_encrypted, old.contact_encrypted) == (None, None)
    assert old.answers_purged_at is not None and abs(old.answers_purged_at - now()) < timedelta(minutes=1)
    assert (old.outcome, old.reasons, old.created_at, old.phq9_total, old.phq9_severity, old.urgent,
            old.review_status) == kept["old"]
    assert [r["code"] for r in old.reasons] == ["interacting_medication"]
    row = raw_row(aged["old"])
    assert (row["answers_encrypted"], row["contact_encrypted"]) == (None, None)

    for key in ("old_booked", "recent"):
        screening = reload(aged[key])
        assert screening.answers_encrypted is not None and screening.contact_encrypted is not None, key
        assert screening.answers_purged_at is None
        assert crypto.decrypt_json(screening.contact_encrypted) == CONTACT

    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "screening.purge")).all()
    assert entry.details["count"] == 1
    assert services.purge_old_answers() == 0, "nothing left to purge"


def test_flask_screening_purge_prints_the_count(app, runner, aged):
    result = runner.invoke(args=["screening", "purge"])
    assert result.exit_code == 0, result.output
    assert "Purged the answers of 1 screening(s) older than 90 days." in result.output

    result = runner.invoke(args=["screening", "purge", "--older-than-days", "30"])
    assert result.exit_code == 0, result.output
    assert "Purged the answers of 1 screening(s) older than 30 days." in result.output
    assert reload(aged["recent"]).answers_encrypted is None
    assert reload(aged["old_booked"]).answers_encrypted is not None, "a screen that led to a booking is kept"

    assert runner.invoke(args=["screening", "purge", "--older-than-days", "0"]).exit_code == 2
