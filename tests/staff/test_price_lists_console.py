"""The staff price list console: versions are listed and shown, and an admin edits the prices as a new version
(shared/domain/pricing.md: "later price edits do not change" an estimate or booking made before)."""

import html
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from retreat.booking.models import Booking
from retreat.catalog.models import Cohort, Program
from retreat.core.audit import AuditEntry
from retreat.core.clock import today
from retreat.core.errors import ValidationFailed
from retreat.extensions import db
from retreat.pricing import editing as admin
from retreat.pricing import services
from retreat.pricing.defaults import DEFAULT_PRICE_LIST
from retreat.pricing.estimator import Configuration
from retreat.pricing.models import PriceList

EXAMPLE_BODY = {"duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
                "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"}  # $4,970 (pricing.md)
EXAMPLE = Configuration(**EXAMPLE_BODY)
DEFAULT_ITEMS = {code: (label, unit, cents, eligible, superbill)
                 for code, label, unit, cents, eligible, superbill in DEFAULT_PRICE_LIST["items"]}
POLICY = ("deposit_percent", "deposit_minimum_cents", "balance_due_days_before_start", "band_min_cents",
          "band_max_cents")


# --- Helpers ---------------------------------------------------------------------------------------------------

def form_data(*, save: bool = True, **edits) -> dict[str, str]:
    """The edit form as the browser posts it, prefilled with the default prices; `edits` override fields and
    a value of None leaves the field out (an unticked checkbox)."""
    data = {"base_version": "1", "deposit_percent": "20", "deposit_minimum": "500", "balance_due_days": "14",
            "band_min": "3000", "band_max": "10000", "note": "Annual price review"}
    for code, (label, _, cents, eligible, _) in DEFAULT_ITEMS.items():
        data[f"price_{code}"] = f"{cents // 100}" if cents % 100 == 0 else f"{cents / 100:.2f}"
        data[f"label_{code}"] = label
        if eligible:
            data[f"hsa_{code}"] = "y"
    data.update(edits)
    data[("submit" if save else "preview")] = "go"
    return {name: value for name, value in data.items() if value is not None}


def versions() -> list[int]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(PriceList.version).order_by(PriceList.version)))


def price_list(version: int) -> PriceList:
    db.session.expire_all()
    return db.session.scalars(sa.select(PriceList).where(PriceList.version == version)).one()


def audit_entries(action: str = "price_list.create") -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def assert_is_default_version_1(saved: PriceList) -> None:
    assert saved.version == 1
    for name in POLICY:
        assert getattr(saved, name) == DEFAULT_PRICE_LIST[name], name
    assert {item.code: (item.label, item.unit, item.unit_cents, item.hsa_fsa_eligible, item.superbill_codes)
            for item in saved.items} == DEFAULT_ITEMS


def field_error(page: str, field: str) -> str:
    """The error list shown next to a field (its id is the field's name), as text."""
    found = re.search(rf'<ul class="field-errors" id="{re.escape(field)}-error">(.*?)</ul>', page, re.S)
    assert found, f"no error shown next to {field}"
    return html.unescape(re.sub(r"<[^>]+>", " ", found[1]))


def input_tag(page: str, field: str) -> str:
    found = re.search(rf'<input[^>]*\bid="{re.escape(field)}"[^>]*>', page)
    assert found, f"no input {field}"
    return found[0]


# --- Creating a version ----------------------------------------------------------------------------------------

def test_admin_saves_the_edits_as_version_2_and_version_1_stays(client, login_as):
    admin_user = login_as("admin")
    response = client.post("/staff/prices/new", data=form_data(
        price_dosing_iv="650.50", deposit_percent="25", deposit_minimum="$1,000", balance_due_days="21",
        band_max="12000", label_intake="Intake assessment with a psychiatrist", hsa_intensive_art=None,
        note="2027 prices: IV infusions cost more"))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/staff/prices/2")

    assert versions() == [1, 2]
    assert_is_default_version_1(price_list(1))
    new = price_list(2)
    assert new.note == "2027 prices: IV infusions cost more"
    assert (new.deposit_percent, new.deposit_minimum_cents, new.balance_due_days_before_start,
            new.band_min_cents, new.band_max_cents) == (25, 1_000_00, 21, 3_000_00, 12_000_00)
    expected = dict(DEFAULT_ITEMS)
    expected["dosing_iv"] = (*DEFAULT_ITEMS["dosing_iv"][:2], 650_50, *DEFAULT_ITEMS["dosing_iv"][3:])
    expected["intake"] = ("Intake assessment with a psychiatrist", *DEFAULT_ITEMS["intake"][1:])
    expected["intensive_art"] = (*DEFAULT_ITEMS["intensive_art"][:3], False, DEFAULT_ITEMS["intensive_art"][4])
    assert {item.code: (item.label, item.unit, item.unit_cents, item.hsa_fsa_eligible, item.superbill_codes)
            for item in new.items} == expected
    assert [item.code for item in new.items] == list(DEFAULT_ITEMS)  # same order

    [entry] = audit_entries()
    assert (entry.actor_email, entry.target_type, entry.target_id) == (admin_user.email, "price_list", "2")
    assert entry.details["copied_from_version"] == 1
    assert entry.details["note"] == "2027 prices: IV infusions cost more"
    assert entry.details["changes"] == {
        "deposit_percent": {"from": 20, "to": 25},
        "deposit_minimum_cents": {"from": 500_00, "to": 1_000_00},
        "balance_due_days_before_start": {"from": 14, "to": 21},
        "band_max_cents": {"from": 10_000_00, "to": 12_000_00},
        "intake.label": {"from": "Medical and psychiatric intake assessment",
                         "to": "Intake assessment with a psychiatrist"},
        "dosing_iv.unit_cents": {"from": 600_00, "to": 650_50},
        "intensive_art.hsa_fsa_eligible": {"from": True, "to": False},
    }

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved price list version 2" in page
    assert "Changes from version 1" in page
    assert "$650.50" in page and "IV ketamine infusion" in page


def test_estimates_issued_before_keep_their_version_and_new_ones_use_the_new_prices(client, login_as):
    by_api = client.post("/api/v1/estimates", json=EXAMPLE_BODY)
    assert by_api.status_code == 201
    before = by_api.get_json()
    assert (before["price_list_version"], before["total_cents"]) == (1, 4_970_00)
    by_service = services.issue_estimate(EXAMPLE)

    login_as("admin")
    response = client.post("/staff/prices/new", data=form_data(price_dosing_iv="700", deposit_percent="30"))
    assert response.status_code == 302

    again = client.get(f"/api/v1/estimates/{before['id']}").get_json()
    assert again["price_list_version"] == 1
    assert (again["total_cents"], again["deposit_cents"]) == (4_970_00, 994_00)
    assert {item["code"]: item["unit_cents"] for item in again["line_items"]}["dosing_iv"] == 600_00
    reloaded = services.load_estimate(by_service.id).estimate
    assert reloaded == by_service.estimate and reloaded.price_list_version == 1

    fresh = client.post("/api/v1/estimates", json=EXAMPLE_BODY).get_json()
    assert fresh["price_list_version"] == 2
    assert fresh["total_cents"] == 4_970_00 + 4 * 100_00
    assert fresh["deposit_cents"] == 1_611_00  # 30% of $5,370, rounded up to the dollar
    assert services.issue_estimate(EXAMPLE).estimate.price_list_version == 2


def test_a_booking_keeps_the_price_it_was_made_with(client, login_as):
    program = Program(slug="p", name="P", summary="s", duration_days=7, ketamine_route="iv", dosing_sessions=4,
                      therapy_modality="emdr", integration_sessions=4, intensive_sessions=1,
                      lodging_options=["shared"], published=True)
    start = today() + timedelta(days=30)
    cohort = Cohort(program=program, start_date=start, end_date=start + timedelta(days=6), capacity=4)
    booking = Booking(reference="RT-KEEP01", cohort=cohort, status="confirmed", lodging="shared",
                      applicant_first_name="Ada", applicant_last_name="Test", applicant_email="ada@example.org",
                      applicant_phone="+1 555 0100", price_list_version=1, total_cents=4_970_00,
                      deposit_cents=994_00, balance_cents=3_976_00, balance_due_date=start - timedelta(days=14))
    db.session.add_all([program, cohort, booking])
    db.session.commit()

    login_as("admin")
    assert client.post("/staff/prices/new", data=form_data(price_dosing_iv="800")).status_code == 302
    db.session.expire_all()
    kept = db.session.scalars(sa.select(Booking).where(Booking.reference == "RT-KEEP01")).one()
    assert (kept.price_list_version, kept.total_cents, kept.deposit_cents, kept.balance_cents) == (
        1, 4_970_00, 994_00, 3_976_00)


def test_each_save_makes_the_next_version(client, login_as):
    login_as("admin")
    assert client.post("/staff/prices/new", data=form_data(price_intake="310")).status_code == 302
    response = client.post("/staff/prices/new", data=form_data(base_version="2", price_intake="320"))
    assert response.headers["Location"].endswith("/staff/prices/3")
    assert versions() == [1, 2, 3]
    assert [item.unit_cents for item in price_list(2).items if item.code == "intake"] == [310_00]
    assert [item.unit_cents for item in price_list(3).items if item.code == "intake"] == [320_00]
    assert services.current_price_sheet().version == 3


def test_the_form_is_prefilled_from_the_newest_version(client, login_as):
    admin.create_price_list_version({"price_dosing_im": "575.25", "label_lodging_shared": "Shared room"},
                                    "Set by the service")
    login_as("admin")
    page = client.get("/staff/prices/new").get_data(as_text=True)
    assert 'value="575.25"' in input_tag(page, "price_dosing_im")
    assert 'value="Shared room"' in input_tag(page, "label_lodging_shared")
    assert 'value="2"' in input_tag(page, "base_version")
    assert "checked" in input_tag(page, "hsa_intake")
    assert "checked" not in input_tag(page, "hsa_lodging_private")
    assert "Saving creates version 3" in page


# --- Refusals: a clear message next to the field, and nothing written -------------------------------------------

@pytest.mark.parametrize(("field", "value", "message"), [
    ("price_dosing_iv", "-5", "The price of dosing_iv cannot be negative."),
    ("price_dosing_iv", "abc", "Give the price of dosing_iv in dollars, like 600 or 600.50."),
    ("price_dosing_iv", "600.505", "The price of dosing_iv: use at most two decimal places (whole cents)."),
    ("price_dosing_iv", "", "Give the price of dosing_iv in dollars, like 600 or 600.50."),
    ("price_intake", "1e3", "Give the price of intake in dollars, like 600 or 600.50."),
    ("price_intake", "NaN", "Give the price of intake in dollars, like 600 or 600.50."),
    ("price_intake", "100000.01", "The price of intake can be at most $100,000."),
    ("price_intake", "9" * 40, "The price of intake can be at most $100,000."),
    ("deposit_percent", "120", "Deposit percent must be between 0 and 100%."),
    ("deposit_percent", "12.5", "Give deposit percent as a whole number, 0 to 100%."),
    ("deposit_percent", "-1", "Deposit percent cannot be negative."),
    ("deposit_minimum", "five hundred", "Give minimum deposit in dollars, like 600 or 600.50."),
    ("balance_due_days", "400", "Balance due (days before start) must be between 0 and 365 days."),
    ("band_min", "20000", "The lowest usual total ($20,000) must not be above the highest ($10,000)."),
    ("label_intake", "   ", "The label of intake is required."),
    ("label_intake", "x" * 201, "The label of intake can be at most 200 characters (it has 201)."),
    ("label_intake", "Intake\x00", "The label of intake contains a control character; type it again as plain text."),
    ("note", "", "Write a note: say what changed and why."),
    ("note", "Why\x00", "The note contains a control character; type it again as plain text."),
    ("note", "n" * 401, "The note can be at most 400 characters (it has 401)."),
])
def test_bad_input_is_refused_next_to_its_field_and_nothing_is_written(client, login_as, field, value, message):
    login_as("admin")
    response = client.post("/staff/prices/new", data=form_data(**{field: value, "price_lodging_shared": "125"}))
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:2000]
    assert field_error(page, field).strip() == message
    assert "Nothing was saved" in page
    assert f'href="#{field}"' in page  # the summary at the top links to the field
    if field != "note":
        tag = input_tag(page, field)
        assert 'aria-invalid="true"' in tag
        assert re.search(rf'aria-describedby="[^"]*\b{field}-error"', tag)
    assert 'value="125"' in input_tag(page, "price_lodging_shared")  # what was typed is kept
    assert versions() == [1]
    assert audit_entries() == []


def test_every_bad_field_gets_its_own_message(client, login_as):
    login_as("admin")
    response = client.post("/staff/prices/new", data=form_data(
        price_dosing_iv="-1", price_dosing_im="abc", deposit_percent="120", band_min="11000", note=""))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "negative" in field_error(page, "price_dosing_iv")
    assert "in dollars" in field_error(page, "price_dosing_im")
    assert "between 0 and 100" in field_error(page, "deposit_percent")
    assert "must not be above" in field_error(page, "band_min")
    assert "Write a note" in field_error(page, "note")
    assert 'id="price_intake-error"' not in page
    assert versions() == [1]


def test_saving_without_a_change_is_refused(client, login_as):
    login_as("admin")
    response = client.post("/staff/prices/new", data=form_data())
    assert response.status_code == 422
    assert "Nothing differs from version 1" in response.get_data(as_text=True)
    assert versions() == [1]
    assert audit_entries() == []


def test_a_version_saved_meanwhile_is_not_overwritten(client, login_as):
    login_as("admin")
    admin.create_price_list_version({"price_intake": "350"}, "Saved by a colleague")
    response = client.post("/staff/prices/new", data=form_data(price_dosing_iv="700", base_version="1"))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Version 2 of the price list was saved after you opened this form" in page
    assert "Reload the form" in page
    assert versions() == [1, 2]
    assert [item.unit_cents for item in price_list(2).items if item.code == "dosing_iv"] == [600_00]
    assert len(audit_entries()) == 1


def test_preview_shows_program_prices_before_and_after_and_saves_nothing(client, demo, login_as):
    login_as("admin")
    response = client.post("/staff/prices/new", data=form_data(save=False, price_dosing_iv="700", band_max="9500"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert "Preview: nothing is saved yet" in page

    def row(name: str) -> str:
        found = re.search(rf'<tr( class="is-changed")?>\s*<th scope="row">{re.escape(name)}</th>(.*?)</tr>', page, re.S)
        assert found, name
        return ("changed " if found[1] else "") + found[2]

    # none, shared or private lodging: $4,250 to $5,390 now; four infusions $100 dearer after saving.
    iv_emdr = row("IV Ketamine with EMDR, One Week")
    assert iv_emdr.startswith("changed") and "$4,250 – $5,390" in iv_emdr and "$4,650 – $5,790" in iv_emdr
    # two weeks of IV with a private room comes to $9,670: above the new usual range
    assert "Outside the usual range" in row("IV Ketamine with IFS, Two Weeks")
    sublingual = row("Gentle Start: Sublingual Ketamine with ART")
    assert not sublingual.startswith("changed") and "(same)" in sublingual
    assert "Outside the usual range" not in sublingual
    assert "changed" in row("1 week, IV ×4, EMDR, shared room")  # a worked example of pricing.md
    assert "IV ketamine infusion" in page and "$700" in page  # the change list
    assert versions() == [1]
    assert audit_entries() == []


def test_preview_of_bad_input_shows_the_errors(client, login_as):
    login_as("admin")
    response = client.post("/staff/prices/new", data=form_data(save=False, price_dosing_iv="6.001"))
    assert response.status_code == 422
    assert "two decimal places" in field_error(response.get_data(as_text=True), "price_dosing_iv")


# --- Reading versions -----------------------------------------------------------------------------------------

def test_versions_are_listed_newest_first_with_who_and_why(client, login_as):
    admin_user = login_as("admin")
    client.post("/staff/prices/new", data=form_data(price_intake="310", note="Intake up"))
    client.post("/staff/prices/new", data=form_data(base_version="2", price_intake="320", note="Intake up again"))
    page = client.get("/staff/prices").get_data(as_text=True)
    rows = re.findall(r'<a href="/staff/prices/(\d+)">Version \d+</a>', page)
    assert rows == ["3", "2", "1"]
    assert "In use now: version 3" in page
    assert admin_user.email in page and "Intake up again" in page and "initial setup" in page
    assert "$320" in page


def test_a_version_page_shows_its_prices_and_changes(client, login_as):
    login_as("coordinator")
    admin.create_price_list_version({"price_lodging_private": "210"}, "Private rooms renovated")
    old = client.get("/staff/prices/1").get_data(as_text=True)
    assert "Replaced" in old and "$190" in old and "Change prices" not in old
    new = client.get("/staff/prices/2").get_data(as_text=True)
    assert "In use" in new and "Private rooms renovated" in new
    assert re.search(r"Lodging, private room: price</td><td>\$190</td><td><strong>\$210</strong>", new)
    assert client.get("/staff/prices/99").status_code == 404


# --- Who may do what -------------------------------------------------------------------------------------------

def test_coordinator_can_view_but_not_create(client, login_as):
    login_as("coordinator")
    listing = client.get("/staff/prices")
    assert listing.status_code == 200
    assert "Only admins can change prices." in listing.get_data(as_text=True)
    assert "/staff/prices/new" not in listing.get_data(as_text=True)
    assert client.get("/staff/prices/1").status_code == 200
    assert client.get("/staff/prices/new").status_code == 403
    assert client.post("/staff/prices/new", data=form_data(price_intake="1")).status_code == 403
    assert versions() == [1]


@pytest.mark.parametrize("role", ["clinician", "finance"])
def test_other_roles_are_refused(client, login_as, role):
    login_as(role)
    for path in ("/staff/prices", "/staff/prices/1", "/staff/prices/new"):
        assert client.get(path).status_code == 403, path
    assert client.post("/staff/prices/new", data=form_data(price_intake="1")).status_code == 403
    assert versions() == [1]


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/staff/prices", "/staff/prices/1", "/staff/prices/new"):
        response = client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"], path
    response = client.post("/staff/prices/new", data=form_data(price_intake="1"))
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert versions() == [1]


# --- The service ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "cents"), [
    ("600", 600_00), ("600.5", 600_50), ("600.50", 600_50), ("600.", 600_00), (".5", 50), ("0", 0),
    ("0.01", 1), (" $1,200.99 ", 1_200_99), ("100000", 100_000_00), ("007", 7_00),
])
def test_dollars_become_exact_cents(typed, cents):
    assert admin.dollars_to_cents(typed, "Price") == cents


@pytest.mark.parametrize("typed", ["", " ", ".", "$", "1,20", "1.2.3", "12,34,567", "1e3", "Infinity", "0x10",
                                   "١٢", "1 200", "six", "--5"])
def test_what_is_not_dollars_is_refused(typed):
    with pytest.raises(admin._Refused):
        admin.dollars_to_cents(typed, "Price")


@given(st.integers(min_value=0, max_value=admin.MAX_CENTS))
def test_cents_shown_in_the_form_read_back_the_same(cents):
    assert admin.dollars_to_cents(admin.cents_to_dollars(cents), "Price") == cents


def test_service_applies_only_the_given_fields(app):
    created = admin.create_price_list_version({"price_intake": "350", "hsa_lodging_shared": True}, " New intake ")
    assert created.version == 2 and created.note == "New intake"
    items = {item.code: item for item in price_list(2).items}
    assert items["intake"].unit_cents == 350_00
    assert items["lodging_shared"].hsa_fsa_eligible is True
    assert items["dosing_iv"].unit_cents == 600_00
    assert_is_default_version_1(price_list(1))
    [entry] = audit_entries()
    assert entry.actor_email == "system (command line)"
    assert entry.details["changes"] == {"intake.unit_cents": {"from": 300_00, "to": 350_00},
                                        "lodging_shared.hsa_fsa_eligible": {"from": False, "to": True}}


def test_service_refuses_unknown_fields_and_a_stale_base(app):
    with pytest.raises(ValidationFailed) as refusal:
        admin.create_price_list_version({"price_caviar": "5"}, "Nope")
    assert list(refusal.value.fields) == ["price_caviar"]
    with pytest.raises(ValidationFailed) as refusal:
        admin.create_price_list_version({"hsa_intake": "maybe"}, "Nope")
    assert refusal.value.fields == {"hsa_intake": ["HSA/FSA eligibility of intake: choose yes or no."]}
    with pytest.raises(admin.PriceListChanged):
        admin.create_price_list_version({"price_intake": "5"}, "Stale", based_on=7)
    assert versions() == [1]
    assert audit_entries() == []


def test_a_version_saved_between_the_check_and_the_save_is_not_overwritten(app, monkeypatch):
    """The newest version is looked at again under the write lock, just before saving."""
    unit = admin.unit_of_work

    def colleague_saves_first():
        with db.engine.begin() as other:
            other.execute(sa.insert(PriceList).values(
                version=2, note="Saved by a colleague", **{name: DEFAULT_PRICE_LIST[name] for name in POLICY}))
        return unit()

    monkeypatch.setattr(admin, "unit_of_work", colleague_saves_first)
    with pytest.raises(admin.PriceListChanged) as refusal:
        admin.create_price_list_version({"price_intake": "350"}, "Mine")
    assert "Version 2 of the price list was saved" in refusal.value.message
    assert versions() == [1, 2]
    assert price_list(2).note == "Saved by a colleague"
    assert audit_entries() == []


def test_admins_saving_at_the_same_moment_get_one_version_and_clear_refusals(app):
    """Four saves from version 1 at once, each on its own connection: one becomes version 2, the others are
    refused with PriceListChanged (not a database error), and nothing else is written."""
    barrier = threading.Barrier(4)
    outcomes: dict[int, object] = {}

    def save(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                outcomes[n] = admin.create_price_list_version({"price_intake": str(300 + n)}, f"Save {n}",
                                                              based_on=1).version
            except Exception as error:  # every outcome is checked below
                outcomes[n] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save, args=(n,), daemon=True) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    saved = [n for n, outcome in outcomes.items() if outcome == 2]
    refused = [n for n, outcome in outcomes.items() if isinstance(outcome, admin.PriceListChanged)]
    assert len(saved) == 1 and len(refused) == 3, outcomes
    assert versions() == [1, 2]
    [winner] = saved
    assert [item.unit_cents for item in price_list(2).items if item.code == "intake"] == [(300 + winner) * 100]
    assert [entry.target_id for entry in audit_entries()] == ["2"]
