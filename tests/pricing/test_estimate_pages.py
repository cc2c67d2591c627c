"""The estimate pages: /estimate with its two forms, and /estimates/<id>."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from retreat.catalog import services as catalog
from retreat.catalog.models import Cohort, Program
from retreat.core.clock import today
from retreat.demo import DEMO_PROGRAMS
from retreat.extensions import db
from retreat.pricing import rules
from retreat.pricing.defaults import DEFAULT_PRICE_LIST
from retreat.pricing.models import PriceList, PriceListItem
from retreat.web.filters import long_date

# --- A small HTML tree, enough to find elements by tag, id and attributes ----------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self) -> str:
        parts = [child if isinstance(child, str) else child.text() for child in self.children]
        return " ".join(" ".join(parts).split())

    def elements(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.elements()

    def find_all(self, tag=None, **attrs):
        attrs = {key.rstrip("_").replace("_", "-"): value for key, value in attrs.items()}
        return [element for element in self.elements()
                if (tag is None or element.tag == tag)
                and all(element.attrs.get(key) == value for key, value in attrs.items())]

    def find(self, tag=None, **attrs):
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def by_id(self, element_id):
        return next((element for element in self.elements() if element.attrs.get("id") == element_id), None)

    def __getitem__(self, name):
        return self.attrs[name]


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {})

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(response) -> Element:
    builder = _TreeBuilder()
    builder.feed(response.get_data(as_text=True))
    builder.close()
    main = builder.root.find("main")
    assert main is not None, "every page has a <main>"
    return main


# --- Helpers -----------------------------------------------------------------------------------------------

def program_form(program, lodging="shared"):
    return {"program-program": program, "program-lodging": lodging, "program-submit": "See my estimate"}


def custom_form(**changes):
    fields = {"duration_days": "7", "ketamine_route": "iv", "dosing_sessions": "4",
              "therapy_modality": "emdr", "integration_sessions": "4", "intensive_sessions": "1",
              "lodging": "shared"}
    fields.update(changes)
    data = {f"custom-{name}": value for name, value in fields.items() if value is not None}
    data["custom-submit"] = "See my estimate"
    return data


def post_estimate(client, data):
    response = client.post("/estimate", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    location = response.headers["Location"]
    match = re.fullmatch(r"(?:http://localhost)?/estimates/([A-Za-z0-9_.\-]+)", location)
    assert match, location
    page = client.get(location)
    assert page.status_code == 200
    return match.group(1), parse(page)


def totals(page) -> dict[str, str]:
    """The figures at the top of an estimate: {"Total": "$4,970", ...}."""
    dl = page.find("dl", class_="totals")
    figures = {}
    for group in dl.find_all("div"):
        dd = group.find("dd")
        own_text = " ".join(child for child in dd.children if isinstance(child, str)).strip()
        figures[group.find("dt").text()] = own_text
    return figures


def line_item_rows(page) -> list[tuple[str, str]]:
    """(the row's whole text, its amount) per line item."""
    table = page.find("table", class_="line-items")
    return [(row.text(), row.find_all("td")[-1].text()) for row in table.find("tbody").find_all("tr")]


def price_list_note(page) -> str:
    """The sentence that names the price list version, e.g. "... (price list 1)"."""
    match = re.search(r"price list (?:version )?(\d+)", page.text())
    assert match, "the estimate names its price list version"
    return match.group(1)


def field_error(page, element_id) -> str | None:
    element = page.by_id(f"{element_id}-error")
    return element.text() if element is not None else None


def add_price_list(version, percent_of_prices):
    price_list = PriceList(version=version, **{key: value for key, value in DEFAULT_PRICE_LIST.items()
                                               if key not in ("items", "note")})
    for position, (code, label, unit, cents, eligible, superbill) in enumerate(DEFAULT_PRICE_LIST["items"]):
        price_list.items.append(PriceListItem(position=position, code=code, label=label, unit=unit,
                                              unit_cents=cents * percent_of_prices // 100,
                                              hsa_fsa_eligible=eligible, superbill_codes=superbill))
    db.session.add(price_list)
    db.session.commit()
    catalog.forget_cached_catalog()


# --- The form page -----------------------------------------------------------------------------------------

def test_estimate_form_renders_both_forms_with_labelled_fields(client, demo):
    response = client.get("/estimate")
    assert response.status_code == 200
    page = parse(response)

    forms = page.find_all("form")
    assert len(forms) == 2
    assert all(form["method"] == "post" and form["action"].split("#")[0] == "/estimate" for form in forms)
    program, custom = forms

    select = program.by_id("program-program")
    assert select.tag == "select" and select["name"] == "program-program"
    assert [option["value"] for option in select.find_all("option")][0] == ""
    assert {option["value"] for option in select.find_all("option")[1:]} == {p["slug"] for p in DEMO_PROGRAMS}
    assert {option.text() for option in select.find_all("option")[1:]} == {p["name"] for p in DEMO_PROGRAMS}
    assert program.find("input", type="submit")["name"] == "program-submit"
    assert custom.find("input", type="submit")["name"] == "custom-submit"

    for form, prefix in ((program, "program-"), (custom, "custom-")):
        controls = [element for element in form.elements()
                    if element.tag in ("input", "select", "textarea")
                    and element.attrs.get("type") not in ("submit", "hidden")]
        assert controls
        for control in controls:
            assert control["name"].startswith(prefix)
            labels = form.find_all("label", for_=control["id"])
            assert len(labels) == 1 and labels[0].text(), control.attrs

    assert {element["name"] for element in custom.elements() if "name" in element.attrs} == {
        "custom-duration_days", "custom-ketamine_route", "custom-dosing_sessions", "custom-therapy_modality",
        "custom-integration_sessions", "custom-intensive_sessions", "custom-lodging", "custom-submit"}
    assert custom.find("label", for_="custom-duration_days").text() == "Length of stay"
    assert custom.find("label", for_="custom-dosing_sessions").text() == "Dosing sessions"
    assert custom.find("label", for_="custom-integration_sessions").text() == "Integration therapy sessions"
    assert [legend.text() for legend in custom.find_all("legend")] == [
        "Ketamine treatment", "Integration therapy", "Half-day therapy intensives", "Where will you stay?"]
    assert [legend.text() for legend in program.find_all("legend")] == ["Where will you stay?"]

    assert [option["value"] for option in custom.by_id("custom-duration_days").find_all("option")] == [
        str(days) for days in range(7, 15)]
    assert [radio["value"] for radio in custom.find_all("input", name="custom-ketamine_route")] == list(
        rules.KETAMINE_ROUTES)
    assert [radio["value"] for radio in custom.find_all("input", name="custom-therapy_modality")] == list(
        rules.THERAPY_MODALITIES)
    assert [radio["value"] for radio in custom.find_all("input", name="custom-lodging")] == list(
        rules.LODGING_KINDS)
    dosing = custom.by_id("custom-dosing_sessions")
    assert dosing["value"] == "4"
    assert "custom-dosing_sessions-hint" in dosing["aria-describedby"].split()
    assert page.by_id("custom-dosing_sessions-hint").text() == (
        "4 to 6 for IV, IM or sublingual ketamine; 2 to 4 for esketamine.")
    assert dosing["aria-invalid"] == "false"
    assert not page.find_all("ul", class_="field-errors")


def test_estimate_form_preselects_a_program_from_the_query(client, demo):
    page = parse(client.get("/estimate?program=iv-ifs-two-weeks"))
    selected = [option["value"] for option in page.by_id("program-program").find_all("option")
                if "selected" in option.attrs]
    assert selected == ["iv-ifs-two-weeks"]


# --- A program's estimate ----------------------------------------------------------------------------------

def test_program_estimate_redirects_to_a_page_with_the_figures(client, demo):
    estimate_id, page = post_estimate(client, program_form("iv-emdr-one-week", "shared"))

    # 1 week, IV ×4, EMDR ×4, intensive ×1, shared room ×6 nights (pricing.md): $4,970.
    assert page.find("dd", data_testid="estimate-total").text() == "$4,970"
    figures = totals(page)
    assert figures["Total"] == "$4,970"
    assert figures["Deposit to book a seat"] == "$994"              # 20% of $4,970
    assert figures["Balance"] == "$3,976"
    assert figures["HSA/FSA-eligible part"] == "$4,250"             # everything but the lodging

    expected_items = [
        # label, quantity, unit price, amount, HSA/FSA-eligible
        ("Medical and psychiatric intake assessment", "1 booking", "$300", "$300", True),
        ("IV ketamine infusion, 0.5 mg/kg over 40 min, with vital-sign monitoring", "4 sessions", "$600",
         "$2,400", True),
        ("EMDR integration psychotherapy, 60–90 min", "4 sessions", "$200", "$800", True),
        ("Half-day EMDR therapy intensive", "1 half day", "$750", "$750", True),
        ("Lodging, shared room", "6 nights", "$120", "$720", False),
    ]
    rows = line_item_rows(page)
    assert len(rows) == len(expected_items)
    for row, expected in zip(rows, expected_items, strict=True):
        (text, amount), (label, quantity, unit_price, expected_amount, eligible) = row, expected
        assert text.startswith(label), text
        assert quantity in text and unit_price in text, text
        assert amount == expected_amount
        assert ("HSA/FSA eligible" in text) is eligible, text
    assert page.find("table", class_="line-items").find("tfoot").text() == "Total $4,970"

    lead = page.find("p", class_="lead").text()
    assert lead.startswith("IV Ketamine with EMDR, One Week,")
    assert lead.endswith("shared room.")
    assert page.find("a", href="/estimate?program=iv-emdr-one-week").text() == "Change the estimate"
    assert page.find("a", href="/programs/iv-emdr-one-week#dates-heading") is not None

    insurance = page.find("section", aria_labelledby="insurance-heading")
    assert insurance.find("h2").text() == "Insurance, HSA and FSA"
    assert "rarely covered by insurance" in insurance.text()
    assert "esketamine (Spravato) sometimes is" in insurance.text()
    assert "($4,250 here)" in insurance.text()
    assert "The clinic does not bill insurers." in insurance.text()

    svg = page.find("section", aria_labelledby="where-heading").find("svg")
    assert svg["role"] == "img"
    title = page.by_id(svg["aria-labelledby"])
    assert title.tag == "title" and title.parent is svg
    # Whole percentages adding up to 100: $720 of $4,970 is 14.49%, the largest remainder, so 15%.
    assert title.text() == ("Share of the total: Medical assessment 6%, Ketamine sessions 48%, "
                            "Integration therapy 16%, Therapy intensives 15%, Lodging 15%")
    rects = svg.find_all("rect")
    widths = [float(rect["width"]) for rect in rects]
    assert widths == pytest.approx([100 * cents / 4_970 for cents in (300, 2_400, 800, 750, 720)])
    assert sum(widths) == pytest.approx(100)
    assert [float(rect["x"]) for rect in rects] == pytest.approx([sum(widths[:i]) for i in range(5)])
    assert [li.text() for li in page.find("ul", class_="spend-legend").find_all("li")] == [
        "Medical assessment: $300 (6%)", "Ketamine sessions: $2,400 (48%)", "Integration therapy: $800 (16%)",
        "Therapy intensives: $750 (15%)", "Lodging: $720 (15%)"]

    assert price_list_note(page) == "1"
    assert f"valid until {long_date(today() + timedelta(days=30))}" in page.text()
    cohort = catalog.published_program("iv-emdr-one-week").next_open_cohort
    balance_note = figures_text(page).lower()
    assert "due 14 days before your start date" in balance_note
    assert long_date(cohort.start_date - timedelta(days=14)).lower() in balance_note
    assert f"for the group starting {long_date(cohort.start_date)}".lower() in balance_note
    assert "custom quote" not in page.text()
    assert len(estimate_id) > 20


def test_a_program_whose_next_dates_start_within_14_days_says_its_whole_price_is_paid_at_booking(client, demo):
    program = db.session.scalar(sa.select(Program).where(Program.slug == "iv-emdr-one-week"))
    start = today() + timedelta(days=10)
    db.session.add(Cohort(program_id=program.id, start_date=start, end_date=start + timedelta(days=6), capacity=4))
    db.session.commit()
    catalog.forget_cached_catalog()
    assert catalog.published_program("iv-emdr-one-week").next_open_cohort.start_date == start

    _, page = post_estimate(client, program_form("iv-emdr-one-week", "shared"))
    balance_note = figures_text(page)
    assert f"The group starting {long_date(start)} begins sooner, so its whole price is paid at booking" \
        in balance_note
    assert long_date(start - timedelta(days=14)) not in balance_note, "no due date in the past"


def figures_text(page) -> str:
    return page.find("dl", class_="totals").text()


DEMO_PROGRAM_ESTIMATES = [
    # slug, lodging, total, deposit, HSA/FSA-eligible part: computed by hand from pricing.md's price list
    ("iv-emdr-one-week", "none", "$4,250", "$850", "$4,250"),
    ("iv-emdr-one-week", "private", "$5,390", "$1,078", "$4,250"),
    ("sublingual-art-one-week", "none", "$3,450", "$690", "$3,450"),
    ("iv-ifs-two-weeks", "private", "$9,070", "$1,814", "$6,600"),
    ("esketamine-ifs-one-week", "shared", "$4,170", "$834", "$3,450"),
    ("esketamine-art-two-weeks", "none", "$6,600", "$1,320", "$6,600"),
    ("im-emdr-ten-days", "private", "$7,460", "$1,492", "$5,750"),
    ("sublingual-ifs-two-weeks", "shared", "$6,610", "$1,322", "$5,050"),
]


def dollars(text: str) -> int:
    return int(text.lstrip("$").replace(",", ""))


def test_every_demo_program_prices_as_the_price_list_says(client, demo, subtests):
    for slug, lodging, total, deposit, hsa_fsa in DEMO_PROGRAM_ESTIMATES:
        with subtests.test(program=slug, lodging=lodging):
            _, page = post_estimate(client, program_form(slug, lodging))
            figures = totals(page)
            assert figures["Total"] == total
            assert figures["Deposit to book a seat"] == deposit
            assert figures["HSA/FSA-eligible part"] == hsa_fsa
            assert dollars(figures["Balance"]) == dollars(total) - dollars(deposit)
            rows = line_item_rows(page)
            assert sum(dollars(amount) for _, amount in rows) == dollars(total)
            assert any(text.startswith("Lodging") for text, _ in rows) is (lodging != "none")


def test_program_estimate_keeps_its_price_after_the_prices_change(client, demo):
    estimate_id, _ = post_estimate(client, program_form("iv-emdr-one-week", "shared"))
    add_price_list(2, percent_of_prices=200)

    page = parse(client.get(f"/estimates/{estimate_id}"))
    assert totals(page)["Total"] == "$4,970"
    assert price_list_note(page) == "1"

    _, fresh = post_estimate(client, program_form("iv-emdr-one-week", "shared"))
    assert totals(fresh)["Total"] == "$9,940"
    assert price_list_note(fresh) == "2"


def test_lodging_the_program_does_not_offer_is_refused_on_the_lodging_field(client, demo):
    response = client.post("/estimate", data=program_form("esketamine-art-two-weeks", "shared"))
    assert response.status_code == 422
    page = parse(response)
    assert field_error(page, "program-lodging") == "This program offers: none, private."
    fieldset = page.by_id("program-lodging-0").parent.parent
    assert fieldset.tag == "fieldset"
    assert "program-lodging-error" in fieldset["aria-describedby"].split()
    assert field_error(page, "program-program") is None
    assert [option["value"] for option in page.by_id("program-program").find_all("option")
            if "selected" in option.attrs] == ["esketamine-art-two-weeks"]

    for lodging in ("none", "private"):
        _, accepted = post_estimate(client, program_form("esketamine-art-two-weeks", lodging))
        assert totals(accepted)["Total"] == {"none": "$6,600", "private": "$9,070"}[lodging]


def test_unknown_lodging_is_refused_on_the_lodging_field(client, demo, subtests):
    for lodging in ("tent", "", None):
        with subtests.test(lodging=lodging):
            data = program_form("iv-emdr-one-week", lodging)
            if lodging is None:
                del data["program-lodging"]
            response = client.post("/estimate", data=data)
            assert response.status_code == 422
            page = parse(response)
            assert field_error(page, "program-lodging")
            assert field_error(page, "program-program") is None


def test_unknown_program_is_refused_on_the_program_field(client, demo, subtests):
    for slug, reason in [
        ("no-such-program", "Choose one of the programs in the catalog."),
        ("IV-EMDR-ONE-WEEK", "Choose one of the programs in the catalog."),
        ("", "Choose a program."),
    ]:
        with subtests.test(program=slug):
            response = client.post("/estimate", data=program_form(slug, "shared"))
            assert response.status_code == 422
            page = parse(response)
            assert field_error(page, "program-program") == reason
            select = page.by_id("program-program")
            assert select["aria-invalid"] == "true"
            assert select["aria-describedby"] == "program-program-error"
            assert field_error(page, "program-lodging") is None


def test_unpublished_program_is_refused(client, demo):
    program = db.session.scalars(sa.select(Program).where(Program.slug == "iv-emdr-one-week")).one()
    program.published = False
    db.session.commit()
    catalog.forget_cached_catalog()

    response = client.post("/estimate", data=program_form("iv-emdr-one-week", "shared"))
    assert response.status_code == 422
    assert field_error(parse(response), "program-program") == "Choose one of the programs in the catalog."


# --- A custom configuration --------------------------------------------------------------------------------

CUSTOM_ESTIMATES = [
    # form fields changed from the $4,970 example, the lead, (total, deposit, balance, HSA/FSA), SVG parts
    ({"ketamine_route": "sublingual", "therapy_modality": "art", "lodging": "none"},
     "Sublingual ketamine with ART, 7 days, no lodging.", ("$3,450", "$690", "$2,760", "$3,450"), 4),
    ({}, "IV ketamine with EMDR, 7 days, shared room.", ("$4,970", "$994", "$3,976", "$4,250"), 5),
    ({"duration_days": "14", "dosing_sessions": "6", "therapy_modality": "ifs", "integration_sessions": "6",
      "intensive_sessions": "2", "lodging": "private"},
     "IV ketamine with IFS, 14 days, private room.", ("$9,070", "$1,814", "$7,256", "$6,600"), 5),
    ({"ketamine_route": "esketamine", "dosing_sessions": "2", "integration_sessions": "2",
      "lodging": "none"},
     "Esketamine (Spravato) with EMDR, 7 days, no lodging.", ("$3,250", "$650", "$2,600", "$3,250"), 4),
]


def test_custom_estimate(client, demo, subtests):
    for fields, lead, figures, parts in CUSTOM_ESTIMATES:
        with subtests.test(total=figures[0]):
            _, page = post_estimate(client, custom_form(**fields))
            shown = totals(page)
            assert (shown["Total"], shown["Deposit to book a seat"], shown["Balance"],
                    shown["HSA/FSA-eligible part"]) == figures
            assert page.find("p", class_="lead").text() == lead
            assert f"({figures[3]} here)" in page.find("section", aria_labelledby="insurance-heading").text()
            assert len(page.find("svg", class_="spend-bar").find_all("rect")) == parts
            assert page.find("a", href="/estimate").text() == "Change the estimate"
            assert "See dates for this program" not in page.text()
            assert "due 14 days before your start date" in figures_text(page).lower()
            assert "for the group starting" not in figures_text(page)


def test_custom_estimate_outside_the_band_says_a_custom_quote_is_required(client, demo):
    add_price_list(2, percent_of_prices=200)
    most = custom_form(duration_days="14", dosing_sessions="6", integration_sessions="6",
                       intensive_sessions="2", lodging="private", therapy_modality="ifs")
    _, page = post_estimate(client, most)
    assert totals(page)["Total"] == "$18,140"
    notice = page.find("p", class_="notice")
    assert notice is not None and notice["role"] == "status"
    assert "custom quote" in notice.text()


def test_invalid_custom_configuration_shows_the_reason_next_to_the_field(client, demo):
    response = client.post("/estimate", data=custom_form(ketamine_route="esketamine", dosing_sessions="6",
                                                         integration_sessions="2", lodging="none"))
    assert response.status_code == 422
    page = parse(response)

    assert field_error(page, "custom-dosing_sessions") == (
        "Esketamine (Spravato) programs have 2 to 4 dosing sessions.")
    dosing = page.by_id("custom-dosing_sessions")
    assert dosing["aria-invalid"] == "true"
    assert dosing["aria-describedby"].split() == [
        "custom-dosing_sessions-hint", "custom-dosing_sessions-error"]
    assert dosing["value"] == "6"
    assert page.by_id("custom-dosing_sessions-error").parent is dosing.parent
    assert page.by_id("custom-integration_sessions")["value"] == "2"

    assert page.by_id("custom-duration_days")["aria-invalid"] == "false"
    assert "custom-dosing_sessions-error" in {ul["id"] for ul in page.find_all("ul", class_="field-errors")}
    checked = [radio["value"] for radio in page.find_all("input", name="custom-ketamine_route")
               if "checked" in radio.attrs]
    assert checked == ["esketamine"]
    assert field_error(page, "program-program") is None


def test_two_bad_custom_fields_each_show_their_reason(client, demo):
    response = client.post("/estimate", data=custom_form(ketamine_route="esketamine", dosing_sessions="6",
                                                         integration_sessions="11", lodging="none"))
    assert response.status_code == 422
    page = parse(response)
    assert "2 to 4" in field_error(page, "custom-dosing_sessions")
    assert "at most 10" in field_error(page, "custom-integration_sessions")
    for field in ("custom-dosing_sessions", "custom-integration_sessions"):
        control = page.by_id(field)
        assert control["aria-invalid"] == "true"
        assert f"{field}-error" in control["aria-describedby"].split()
    assert {ul["id"] for ul in page.find_all("ul", class_="field-errors")} == {
        "custom-dosing_sessions-error", "custom-integration_sessions-error"}


def test_integration_below_dosing_is_refused_on_the_integration_field_only(client, demo):
    response = client.post("/estimate", data=custom_form(dosing_sessions="5", integration_sessions="4"))
    assert response.status_code == 422
    page = parse(response)
    assert field_error(page, "custom-integration_sessions") == (
        "Plan at least one integration session per dosing session (5 or more).")
    assert field_error(page, "custom-dosing_sessions") is None
    assert page.by_id("custom-dosing_sessions")["aria-invalid"] == "false"


BAD_CUSTOM_INPUT = [
    ("dosing_sessions", "four"),
    ("dosing_sessions", "4.5"),
    ("dosing_sessions", ""),
    ("dosing_sessions", None),
    ("dosing_sessions", "-1"),
    ("dosing_sessions", "1e3"),
    ("integration_sessions", "ten"),
    ("integration_sessions", "99999999999999999999999999"),
    ("integration_sessions", "11"),
    ("duration_days", "a week"),
    ("duration_days", "6"),
    ("duration_days", "15"),
    ("intensive_sessions", "x"),
    ("intensive_sessions", "3"),
    ("ketamine_route", "oral"),
    ("therapy_modality", "cbt"),
    ("lodging", "tent"),
    ("lodging", None),
]


def test_bad_custom_input_is_422_with_the_reason_on_the_field(client, demo, subtests):
    for field, value in BAD_CUSTOM_INPUT:
        with subtests.test(field=field, value=value):
            response = client.post("/estimate", data=custom_form(**{field: value}))
            assert response.status_code == 422
            page = parse(response)
            assert field_error(page, f"custom-{field}"), f"no error shown for {field}={value!r}"
            shown = {ul["id"] for ul in page.find_all("ul", class_="field-errors")}
            assert shown == {f"custom-{field}-error"}


# --- Estimate ids ------------------------------------------------------------------------------------------

def test_unknown_estimate_id_is_a_404_page(client, demo, subtests):
    for estimate_id in ("garbage", "garbage.garbage", "WzEsIDJd.abc"):
        with subtests.test(estimate_id=estimate_id):
            response = client.get(f"/estimates/{estimate_id}")
            assert response.status_code == 404
            assert response.mimetype == "text/html"
            page = parse(response)
            assert page.find("h1").text() == "There is no estimate with this id."
            assert page.find("a", href="/estimate") is not None


def test_tampered_estimate_id_is_a_404_page(client, demo):
    estimate_id, _ = post_estimate(client, program_form("iv-emdr-one-week", "shared"))
    payload, signature = estimate_id.rsplit(".", 1)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for tampered in (f"{flipped}.{signature}", f"{payload}.{signature[:-1]}", f"{payload}.x{signature}"):
        assert client.get(f"/estimates/{tampered}").status_code == 404
    assert client.get(f"/estimates/{estimate_id}").status_code == 200
