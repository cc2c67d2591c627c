"""Capacity: raising and lowering a cohort's seats, refused below the seats taken, counted in the same locked
transaction bookings use (catalog.services.lock_cohort). The race test runs seat-takers and a capacity change
on separate connections at once and checks that seats taken never exceed capacity, on SQLite and PostgreSQL."""

import threading
import time
from datetime import date

import pytest
import sqlalchemy as sa

from retreat.booking import availability, cohorts
from retreat.booking.models import Booking, new_booking_reference
from retreat.catalog import programs as catalog_programs
from retreat.catalog.models import Cohort
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from tests.staff.test_programs_console import (
    add_booking,
    assert_error_at,
    audit_entries,
    make_cohort,
    text_of,
)


def capacity_of(cohort_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Cohort, cohort_id).capacity


# --- The rule ---------------------------------------------------------------------------------------------------

def test_raising_and_lowering_capacity_is_audited(app):
    cohort = make_cohort(capacity=8)
    add_booking(cohort, "confirmed")
    assert cohorts.set_capacity(cohort.id, 12) == {"from": 8, "to": 12}
    assert cohorts.set_capacity(cohort.id, 1) == {"from": 12, "to": 1}
    assert capacity_of(cohort.id) == 1
    assert [entry.details for entry in audit_entries("cohort.capacity")] == [
        {"from": 8, "to": 12, "seats_taken": 1}, {"from": 12, "to": 1, "seats_taken": 1}]


def test_lowering_below_the_seats_taken_is_refused_and_nothing_is_written(app):
    cohort = make_cohort(capacity=8)
    for status in ("confirmed", "paid_in_full", "held", "pending_review"):
        add_booking(cohort, status)
    with pytest.raises(ValidationFailed) as refusal:
        cohorts.set_capacity(cohort.id, 3)
    assert refusal.value.fields == {"capacity": ["4 seats are taken; capacity cannot go below 4."]}
    assert not db.session().in_transaction(), "the refusal rolled back and let the lock go"
    assert capacity_of(cohort.id) == 8
    assert not audit_entries("cohort.capacity")
    assert cohorts.set_capacity(cohort.id, 4) == {"from": 8, "to": 4}, "down to exactly the seats taken is fine"


def test_one_seat_reads_in_the_singular(app):
    cohort = make_cohort(capacity=3)
    add_booking(cohort, "confirmed")
    with pytest.raises(ValidationFailed) as refusal:
        cohorts.set_capacity(cohort.id, 0)
    assert refusal.value.fields == {"capacity": ["A cohort has 1 to 200 seats."]}
    add_booking(cohort, "paid_in_full")
    with pytest.raises(ValidationFailed) as refusal:
        cohorts.set_capacity(cohort.id, 1)
    assert refusal.value.fields == {"capacity": ["2 seats are taken; capacity cannot go below 2."]}


def test_expired_holds_and_ended_bookings_take_no_seat(app):
    cohort = make_cohort(capacity=8)
    add_booking(cohort, "confirmed")
    add_booking(cohort, "held", hold_minutes=-1)
    add_booking(cohort, "pending_review", hold_minutes=-30)
    for status in ("cancelled", "declined", "expired"):
        add_booking(cohort, status)
    assert cohorts.set_capacity(cohort.id, 1) == {"from": 8, "to": 1}


@pytest.mark.parametrize(("value", "message"), [
    (0, "A cohort has 1 to 200 seats."),
    (201, "A cohort has 1 to 200 seats."),
    (-1, "A cohort has 1 to 200 seats."),
    ("5", "Give a whole number of seats."),
    (5.0, "Give a whole number of seats."),
    (True, "Give a whole number of seats."),
    (None, "Give the number of seats."),
])
def test_capacity_must_be_a_whole_number_from_1_to_200(app, value, message):
    cohort = make_cohort(capacity=8)
    with pytest.raises(ValidationFailed) as refusal:
        cohorts.set_capacity(cohort.id, value)
    assert refusal.value.fields == {"capacity": [message]}
    assert capacity_of(cohort.id) == 8


def test_the_same_capacity_writes_nothing(app):
    cohort = make_cohort(capacity=8)
    assert cohorts.set_capacity(cohort.id, 8) == {}
    assert not audit_entries("cohort.capacity")


def test_the_capacity_form_refuses_below_the_seats_taken_next_to_the_field(client, login_as):
    cohort = make_cohort(capacity=8)
    for _ in range(4):
        add_booking(cohort, "confirmed")
    login_as("coordinator")
    response = client.post(f"/staff/cohorts/{cohort.id}/capacity", data={"capacity": "3"})
    assert response.status_code == 422
    assert_error_at(response, "capacity", "4 seats are taken; capacity cannot go below 4.")
    assert capacity_of(cohort.id) == 8

    response = client.post(f"/staff/cohorts/{cohort.id}/capacity", data={"capacity": "lots"})
    assert response.status_code == 422
    assert_error_at(response, "capacity", "Give a whole number.")

    response = client.post(f"/staff/cohorts/{cohort.id}/capacity", data={"capacity": "4"})
    assert response.status_code == 303
    assert "Seats changed from 8 to 4." in text_of(client.get(response.headers["Location"]))
    assert capacity_of(cohort.id) == 4
    [entry] = audit_entries("cohort.capacity")
    assert entry.actor_roles == "coordinator" and entry.details == {"from": 8, "to": 4, "seats_taken": 4}


def test_the_public_catalog_sees_a_new_capacity_at_once(client, app):
    cohort = make_cohort(capacity=8)
    catalog_programs.set_published(cohort.program_id, True)
    slug = cohort.program.slug
    assert client.get(f"/api/v1/programs/{slug}").get_json()["cohorts"][0]["seats_left"] == 8
    cohorts.set_capacity(cohort.id, 5)
    assert client.get(f"/api/v1/programs/{slug}").get_json()["cohorts"][0]["seats_left"] == 5


# --- The race ---------------------------------------------------------------------------------------------------

def new_booking(cohort_id: int, name: str) -> Booking:
    return Booking(
        reference=new_booking_reference(), cohort_id=cohort_id, status="confirmed", lodging="shared",
        applicant_first_name=name, applicant_last_name="Racer", applicant_email=f"{name}@example.org",
        applicant_phone="+1 555 0100", price_list_version=1, total_cents=900_000, deposit_cents=150_000,
        balance_cents=750_000, balance_due_date=date(2030, 1, 1),
    )


def take_seat(cohort_id: int, name: str) -> bool:
    """What the booking flow does to take a seat: lock the cohort, count, insert, commit once."""
    cohort = availability.lock_cohort(cohort_id)
    try:
        taken = availability.seats_taken([cohort_id]).get(cohort_id, 0)
        if cohort.status != "open" or taken >= cohort.capacity:
            db.session.rollback()
            return False
        db.session.add(new_booking(cohort_id, name))
        db.session.commit()
        return True
    except BaseException:
        db.session.rollback()
        raise


def snapshot(cohort_id: int) -> tuple[int, int]:
    """(capacity, seats taken) read in one statement, hence one consistent snapshot on either database."""
    taken = (sa.select(sa.func.count()).select_from(Booking)
             .where(Booking.cohort_id == cohort_id, Booking.status == "confirmed").scalar_subquery())
    row = db.session.execute(sa.select(Cohort.capacity, taken).where(Cohort.id == cohort_id)).one()
    db.session.rollback()
    return row[0], row[1]


def run_together(app, jobs: dict[str, object]) -> tuple[dict[str, object], list[BaseException]]:
    """Run each job in its own thread with its own app context (own session, own connection), all released
    at once; returns each job's result and any errors."""
    results: dict[str, object] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(name, job):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[name] = job()
            except BaseException as error:  # reported by the test
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results, errors


@pytest.fixture
def slow_count(monkeypatch):
    """Make counting seats slow, so a racing writer would have every chance to slip in between the count and
    the write (both take_seat and cohorts.set_capacity count through availability.seats_taken)."""
    count = availability.seats_taken

    def slowly(cohort_ids):
        result = count(cohort_ids)
        time.sleep(0.01)
        return result

    monkeypatch.setattr(availability, "seats_taken", slowly)


TAKERS = 10


@pytest.mark.parametrize("round_number", range(3))
def test_seats_taken_never_exceed_capacity_while_capacity_is_lowered(app, slow_count, round_number):
    cohort = make_cohort(capacity=8)
    cohort_id = cohort.id
    db.session.commit()
    db.session.close()  # the test's own session holds no connection or snapshot during the race
    targets = (7, 6, 5, 4, 3)
    stop = threading.Event()
    violations: list[tuple[int, int]] = []
    snapshots = []

    def lower_capacity():
        outcomes = []
        for target in targets:
            time.sleep(0.003 * round_number)
            try:
                cohorts.set_capacity(cohort_id, target)
                outcomes.append((target, "lowered"))
            except ValidationFailed as refusal:
                assert "taken; capacity cannot go below" in refusal.fields["capacity"][0]
                outcomes.append((target, "refused"))
        return outcomes

    def observe():
        while not stop.is_set():
            capacity, taken = snapshot(cohort_id)
            snapshots.append((capacity, taken))
            if taken > capacity:
                violations.append((capacity, taken))
            time.sleep(0.001)
        return True

    def seat_taker(name):
        return lambda: take_seat(cohort_id, name)

    jobs = {f"taker-{n}": seat_taker(f"taker{n}") for n in range(TAKERS)}
    jobs["lowerer"] = lower_capacity

    observer = threading.Thread(target=lambda: _in_context(app, observe), daemon=True)
    observer.start()
    try:
        results, errors = run_together(app, jobs)
    finally:
        stop.set()
        observer.join(timeout=30)
    assert not errors, errors
    assert not violations, violations
    assert snapshots, "the observer looked while the race ran"

    final_capacity, final_taken = snapshot(cohort_id)
    seated = [name for name, result in results.items() if name.startswith("taker") and result]
    turned_away = [name for name, result in results.items() if name.startswith("taker") and not result]
    assert final_taken == len(seated) <= final_capacity
    if turned_away:  # a taker was refused only when seats were really full, so none was lost
        assert final_taken == final_capacity
    lowered = [target for target, outcome in results["lowerer"] if outcome == "lowered"]
    assert final_capacity == (lowered[-1] if lowered else 8)
    entries = audit_entries("cohort.capacity")
    assert [entry.details["to"] for entry in entries] == lowered
    for entry in entries:
        assert entry.details["seats_taken"] <= entry.details["to"]


def _in_context(app, job):
    with app.app_context():
        try:
            job()
        finally:
            db.session.remove()


def test_a_refused_change_lets_other_writers_in_at_once(app):
    """The refusal ends its transaction: on SQLite a held write lock would make this writer wait."""
    cohort = make_cohort(capacity=2)
    add_booking(cohort, "confirmed")
    add_booking(cohort, "confirmed")
    cohort_id = cohort.id
    with pytest.raises(ValidationFailed):
        cohorts.set_capacity(cohort_id, 1)
    started = time.monotonic()
    results, errors = run_together(app, {"raise": lambda: cohorts.set_capacity(cohort_id, 3)})
    assert not errors, errors
    assert results["raise"] == {"from": 2, "to": 3}
    assert time.monotonic() - started < 5


def test_without_the_lock_the_same_race_goes_wrong(app):
    """A control for the race test: the naive read-count-insert, without lock_cohort, overbooks on PostgreSQL
    and has racing writers fail on SQLite. So the race the locked test survives is a real one."""
    cohort = make_cohort(capacity=2)
    cohort_id = cohort.id
    db.session.commit()
    db.session.close()

    def naive_take_seat():
        try:
            capacity = db.session.scalar(sa.select(Cohort.capacity).where(Cohort.id == cohort_id))
            taken = db.session.scalar(sa.select(sa.func.count()).select_from(Booking)
                                      .where(Booking.cohort_id == cohort_id))
            time.sleep(0.3)  # every racer has read before anyone writes
            if taken >= capacity:
                db.session.rollback()
                return False
            db.session.add(new_booking(cohort_id, "naive"))
            db.session.commit()
            return True
        except BaseException:
            db.session.rollback()
            raise

    results, errors = run_together(app, {f"naive-{n}": naive_take_seat for n in range(6)})
    capacity, taken = snapshot(cohort_id)
    if db.engine.dialect.name == "postgresql":
        assert not errors, errors
        assert taken > capacity, "without the lock, seats are overbooked"
    else:
        assert taken <= capacity
        assert errors and all("locked" in str(error) for error in errors), errors


def test_lowering_counts_under_the_lock(app, monkeypatch):
    """The seats are counted inside the locked transaction: lock_cohort runs before the count."""
    cohort = make_cohort(capacity=5)
    calls = []
    lock, count = availability.lock_cohort, availability.seats_taken
    monkeypatch.setattr(availability, "lock_cohort", lambda cohort_id: calls.append("lock") or lock(cohort_id))
    monkeypatch.setattr(availability, "seats_taken",
                        lambda ids: calls.append(("count", db.session().in_transaction())) or count(ids))
    cohorts.set_capacity(cohort.id, 4)
    assert calls == ["lock", ("count", True)]
