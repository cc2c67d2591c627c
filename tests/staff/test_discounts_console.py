"""Discount codes in the staff console (catalog/discount_staff_views.py) and `flask discounts create`
(catalog/cli.py): who may use them, what is refused (each field named, nothing written), the audit entries, and
the bookings that used a code."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from retreat.booking import services
from retreat.catalog import discounts
from retreat.catalog.models import DiscountCode
from retreat.core.audit import AuditEntry
from retreat.core.clock import today
from retreat.extensions import db
from tests.booking.support import APPLICANT, eligible_token, make_cohort, make_program

NEW = {"code": "spring-25", "kind": "percent", "percent_off": "25", "amount_off_cents": "", "valid_from": "",
       "valid_until": "", "max_uses": ""}


def codes() -> list[DiscountCode]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(DiscountCode)))


def audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database difference in play
def test_coordinators_and_admins_only(client, login_as):
    code = discounts.create_code({"code": "ROLES", "percent_off": 5, "amount_off_cents": None}, actor="test")
    for role, allowed in (("coordinator", True), ("admin", True), ("finance", False), ("clinician", False)):
        login_as(role)
        for address in ("/staff/discounts", "/staff/discounts/new", f"/staff/discounts/{code.id}"):
            assert client.get(address).status_code == (200 if allowed else 403), (role, address)
        discounts.set_active(code.id, True, actor="test")
        response = client.post(f"/staff/discounts/{code.id}/deactivate")
        assert response.status_code == (303 if allowed else 403), role
        assert codes()[0].active is not allowed, role
        home = client.get("/staff/").get_data(as_text=True)
        assert ('href="/staff/discounts"' in home) is allowed, role
        client.post("/staff/logout")


def test_create_edit_deactivate_and_see_the_uses(client, login_as):
    user = login_as("coordinator")
    program = make_program(slug="the-program")
    response = client.post("/staff/discounts/new", data=NEW | {"programs": [str(program.id)],
                                                                 "valid_until": "2099-12-31", "max_uses": "3"})
    assert response.status_code == 303
    [code] = codes()
    assert (code.code, code.percent_off, code.amount_off_cents, code.max_uses, code.uses, code.active) == \
        ("SPRING-25", 25, None, 3, 0, True)
    assert [p.slug for p in code.programs] == ["the-program"] and str(code.valid_until) == "2099-12-31"
    [created] = audits("discount_code.create")
    assert created.actor_email == user.email and created.details["off"] == "25%"
    assert created.details["programs"] == ["the-program"]

    listing = client.get("/staff/discounts").get_data(as_text=True)
    assert "SPRING-25" in listing and "25% off" in listing and "0 of 3" in listing

    edit = {**NEW, "kind": "amount", "percent_off": "", "amount_off_cents": "$1,250.50", "max_uses": "3"}
    edit.pop("code")
    assert client.post(f"/staff/discounts/{code.id}", data=edit).status_code == 303
    code = codes()[0]
    assert (code.percent_off, code.amount_off_cents, code.programs, code.valid_until) == (None, 125_050, [], None)
    [updated] = audits("discount_code.update")
    assert updated.details["changes"]["off"] == ["25%", "$1,250.50"]

    # A booking uses it; the console lists it.
    cohort = make_cohort(3)
    booking = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                      lodging="shared", applicant=dict(APPLICANT), promo_code="spring-25").booking
    page = client.get(f"/staff/discounts/{code.id}").get_data(as_text=True)
    assert booking.reference in page and f'href="/staff/bookings/{booking.reference}"' in page
    assert "$1,250.50" in page and "Counted" in page

    assert client.post(f"/staff/discounts/{code.id}/deactivate").status_code == 303
    assert codes()[0].active is False and len(audits("discount_code.deactivate")) == 1
    assert "Inactive" in client.get("/staff/discounts").get_data(as_text=True)
    assert client.post(f"/staff/discounts/{code.id}/activate").status_code == 303
    assert codes()[0].active is True and len(audits("discount_code.activate")) == 1


REFUSED = [  # (what is changed in a valid form, the field named, words of the reason)
    ({"code": ""}, "code", "Give the code"),
    ({"code": "no spaces"}, "code", "letters, digits"),
    ({"code": "taken"}, "code", "already"),
    ({"percent_off": ""}, "percent_off", "1 to 100"),
    ({"percent_off": "101"}, "percent_off", "1 to 100"),
    ({"kind": "amount", "amount_off_cents": ""}, "amount_off_cents", "Give an amount"),
    ({"kind": "amount", "amount_off_cents": "ten"}, "amount_off_cents", "in dollars"),
    ({"valid_from": "2099-02-01", "valid_until": "2099-01-01"}, "valid_until", "before the first"),
    ({"valid_until": "31/12/2099"}, "valid_until", "year-month-day"),
    ({"max_uses": "0"}, "max_uses", "at least 1"),
    ({"programs": ["999999"]}, "programs", "from the list"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database difference in play
def test_a_refused_code_names_its_field_and_writes_nothing(client, login_as):
    login_as("admin")
    discounts.create_code({"code": "TAKEN", "percent_off": 5, "amount_off_cents": None}, actor="test")
    for changes, field, words in REFUSED:
        response = client.post("/staff/discounts/new", data=NEW | changes)
        assert response.status_code == 422, changes
        page = response.get_data(as_text=True)
        assert f'href="#{field}' in page and words in page, changes
    assert [code.code for code in codes()] == ["TAKEN"]
    assert len(audits("discount_code.create")) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database difference in play
def test_max_uses_cannot_go_below_the_uses_taken(client, login_as):
    login_as("coordinator")
    code = discounts.create_code({"code": "BUSY", "percent_off": 5, "amount_off_cents": None, "max_uses": 5},
                                 actor="test")
    db.session.execute(sa.update(DiscountCode).values(uses=2))
    db.session.commit()
    data = {**NEW, "max_uses": "1"}
    data.pop("code")
    response = client.post(f"/staff/discounts/{code.id}", data=data)
    assert response.status_code == 422 and "allow at least 2" in response.get_data(as_text=True)
    assert codes()[0].max_uses == 5


# --- flask discounts create ---------------------------------------------------------------------------------

@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_the_command_creates_codes(runner):
    make_program(slug="iv-week")
    make_program(slug="im-week")
    result = runner.invoke(args=["discounts", "create", "--code", "Spring10", "--percent", "10"])
    assert result.exit_code == 0, result.output
    assert "Created SPRING10: 10% off; every program." in result.output
    until = (today() + timedelta(days=30)).isoformat()
    result = runner.invoke(args=["discounts", "create", "--code", "scholar", "--amount-cents", "150000",
                                 "--program", "iv-week", "--program", "im-week", "--max-uses", "2",
                                 "--valid-until", until])
    assert result.exit_code == 0, result.output
    code = db.session.scalar(sa.select(DiscountCode).where(DiscountCode.code == "SCHOLAR"))
    assert (code.amount_off_cents, code.max_uses, code.valid_until.isoformat()) == (150_000, 2, until)
    assert sorted(p.slug for p in code.programs) == ["im-week", "iv-week"]
    assert len(audits("discount_code.create")) == 2


COMMAND_REFUSALS = [
    (["--code", "X1Y2"], "exactly one of --percent and --amount-cents"),
    (["--code", "X1Y2", "--percent", "10", "--amount-cents", "100"], "exactly one of --percent and --amount-cents"),
    (["--code", "X1Y2", "--percent", "0"], "--percent: Give a whole percentage from 1 to 100."),
    (["--code", "X1Y2", "--amount-cents", "-5"], "--amount-cents:"),
    (["--code", "X1Y2", "--percent", "10", "--program", "nowhere"], "--program: There is no program nowhere."),
    (["--code", "X1Y2", "--percent", "10", "--max-uses", "0"], "--max-uses:"),
    (["--code", "X1Y2", "--percent", "10", "--valid-until", "next week"], "--valid-until"),
    (["--code", "dup", "--percent", "10"], "--code: There is a code DUP already."),
    (["--code", "a b", "--percent", "10"], "--code: Use 3 to 40"),
    (["--percent", "10"], "Missing option '--code'"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database difference in play
def test_the_command_refuses_clearly(runner):
    discounts.create_code({"code": "DUP", "percent_off": 5, "amount_off_cents": None}, actor="test")
    for args, words in COMMAND_REFUSALS:
        result = runner.invoke(args=["discounts", "create", *args])
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, args
    assert [code.code for code in codes()] == ["DUP"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database difference in play
def test_the_staff_booking_page_names_the_code(client, login_as):
    login_as("coordinator")
    discounts.create_code({"code": "STAFFSEE", "percent_off": 10, "amount_off_cents": None}, actor="test")
    cohort = make_cohort(3)
    booking = services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                      lodging="shared", applicant=dict(APPLICANT), promo_code="staffsee").booking
    page = client.get(f"/staff/bookings/{booking.reference}").get_data(as_text=True)
    assert "STAFFSEE: −$497.00 off the list price of $4,970.00" in page
