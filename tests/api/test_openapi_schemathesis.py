"""The OpenAPI document of the public API (GET /api/v1/openapi.json) is valid OpenAPI 3 and describes the
contract of shared/API.md; schemathesis, in process, checks that the app answers as the document says."""

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from retreat.booking import services as booking_services
from retreat.demo import DEMO_PROGRAMS
from tests.booking.support import APPLICANT, booking_body, eligible_token, make_cohort, review_token

PATHS = {
    "/api/v1/programs": {"get"},
    "/api/v1/programs/{slug}": {"get"},
    "/api/v1/estimates": {"post"},
    "/api/v1/estimates/{estimate_id}": {"get"},
    "/api/v1/screenings": {"post"},
    "/api/v1/finance/payments": {"get"},
    "/api/v1/bookings": {"post"},
    "/api/v1/bookings/{reference}": {"get"},
    "/api/v1/bookings/{reference}/cancel": {"post"},
    "/api/v1/bookings/{reference}/receipt.pdf": {"get"},
    "/api/v1/bookings/{reference}/superbill.pdf": {"get"},
    "/api/v1/bookings/{reference}/data": {"get"},
    "/api/v1/waitlist": {"post"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
CUSTOM_FIELDS = {"duration_days", "ketamine_route", "dosing_sessions", "therapy_modality",
                 "integration_sessions", "intensive_sessions", "lodging"}
CUSTOM = {"duration_days": 7, "ketamine_route": "iv", "dosing_sessions": 4, "therapy_modality": "emdr",
          "integration_sessions": 4, "intensive_sessions": 1, "lodging": "shared"}

# Schema-valid bodies that the API legitimately refuses with 422, so that `positive_data_acceptance` (which
# expects every body valid by the schema to be accepted) does not apply to this API:
# - cross-field rules a JSON schema does not express: dosing_sessions is 4-6 for iv/im/sublingual but 2-4 for
#   esketamine (the schema can only say 2-6), and integration_sessions must be at least dosing_sessions;
# - a program body names a published program's slug, which the schema can only say is a string of 1-80
#   characters ("0" is schema-valid and unknown), and a program offers only some lodging options;
# - a booking or waitlist body needs a live pre-screen token and an upcoming cohort's id, and its applicant's
#   email and phone must be real ones: no generated value is.
# Every other built-in check stays on: not_a_server_error, status_code_conformance, content_type_conformance,
# response_schema_conformance, response_headers_conformance, negative_data_rejection, unsupported_method, ...
EXCLUDED_CHECKS = [positive_data_acceptance]


@pytest.fixture(autouse=True)
def _pytest_node_id_for_schemathesis(request):
    # schemathesis 4.32's from_fixture() reads and rewrites `request.node._nodeid` (for its sub-test labels,
    # schemathesis/pytest/lazy.py), an attribute pytest 9.2 no longer has (it keeps the id in `_id`): without
    # it each parametrized test dies with AttributeError before sending a request. Give the node one.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture
def api_schema(demo):
    """The served OpenAPI document, loaded in process against the app with the demo catalog (so that the
    program list has programs and cohorts to check against the document)."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", demo)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=50)
def test_api_answers_as_its_openapi_document_says(case):
    case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)


# --- Real responses against the document (fuzzing rarely guesses a slug or an estimate id) ------------------

def test_every_demo_program_answers_as_documented(api_schema):
    get_program = api_schema["/api/v1/programs/{slug}"]["GET"]
    for spec in DEMO_PROGRAMS:
        response = get_program.Case(path_parameters={"slug": spec["slug"]}).call_and_validate()
        assert response.status_code == 200
        assert response.json()["slug"] == spec["slug"]
    response = api_schema["/api/v1/programs"]["GET"].Case().call_and_validate()
    assert len(response.json()["programs"]) == len(DEMO_PROGRAMS)


@pytest.mark.parametrize("body", [{"program": "iv-ifs-two-weeks", "lodging": "shared"}, CUSTOM],
                         ids=["program", "custom"])
def test_issued_estimates_answer_as_documented(api_schema, body):
    created = api_schema["/api/v1/estimates"]["POST"].Case(body=body, media_type="application/json")
    response = created.call_and_validate()
    assert response.status_code == 201
    estimate = response.json()

    get_estimate = api_schema["/api/v1/estimates/{estimate_id}"]["GET"]
    response = get_estimate.Case(path_parameters={"estimate_id": estimate["id"]}).call_and_validate()
    assert response.status_code == 200
    assert response.json() == estimate


@pytest.mark.parametrize("make_token, status", [(eligible_token, "held"), (review_token, "pending_review")],
                         ids=["held", "pending_review"])
def test_a_booking_answers_as_documented_through_its_life(api_schema, make_token, status):
    cohort = make_cohort(1, starts_in_days=45)
    created = api_schema["/api/v1/bookings"]["POST"].Case(
        body=booking_body(cohort, make_token()), media_type="application/json").call_and_validate(
        excluded_checks=EXCLUDED_CHECKS)
    assert created.status_code == 201
    booking = created.json()
    assert booking["status"] == status
    if status == "held":
        booking_services.payment_received(booking["reference"], kind="deposit",
                                          amount_cents=booking["deposit_cents"], provider="demo",
                                          provider_reference="demo_documented")
    reference = {"reference": booking["reference"]}
    token = {"Authorization": f"Bearer {booking['manage_token']}"}

    read = api_schema["/api/v1/bookings/{reference}"]["GET"]
    response = read.Case(path_parameters=reference, headers=token).call_and_validate()
    assert response.status_code == 200 and response.json()["reference"] == booking["reference"]
    refused = read.Case(path_parameters=reference, headers={"Authorization": "Bearer nope"}).call_and_validate()
    assert refused.status_code == 401
    data = api_schema["/api/v1/bookings/{reference}/data"]["GET"]
    response = data.Case(path_parameters=reference, headers=token).call_and_validate()
    assert response.status_code == 200 and response.json()["booking"]["reference"] == booking["reference"]

    cancel = api_schema["/api/v1/bookings/{reference}/cancel"]["POST"]
    response = cancel.Case(path_parameters=reference, headers=token).call_and_validate(
        excluded_checks=EXCLUDED_CHECKS)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    if status == "held":
        assert response.json()["payments"][-1]["amount_cents"] < 0  # the refund
    again = cancel.Case(path_parameters=reference, headers=token).call_and_validate(
        excluded_checks=EXCLUDED_CHECKS)
    assert again.status_code == 409

    full = api_schema["/api/v1/bookings"]["POST"].Case(
        body=booking_body(cohort, eligible_token()), media_type="application/json")
    booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                    lodging="shared",
                                    applicant=APPLICANT)
    assert full.call_and_validate(excluded_checks=EXCLUDED_CHECKS).status_code == 409


def test_the_waitlist_answers_as_documented(api_schema):
    cohort = make_cohort(1)
    booking_services.create_booking(policy_accepted=True, cohort_id=cohort.id, screening_token=eligible_token(),
                                    lodging="shared",
                                    applicant=APPLICANT)
    join = api_schema["/api/v1/waitlist"]["POST"]
    body = {"cohort_id": cohort.id, "screening_token": eligible_token(), "applicant": APPLICANT}
    response = join.Case(body=body, media_type="application/json").call_and_validate(
        excluded_checks=EXCLUDED_CHECKS)
    assert response.status_code == 201 and response.json()["position"] == 1


# --- The document itself ------------------------------------------------------------------------------------

def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        assert node["$ref"].startswith("#/components/schemas/"), node["$ref"]
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_openapi_document_is_valid_openapi_3(client, api_schema):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()

    assert isinstance(document["openapi"], str) and document["openapi"].startswith("3.0.")
    assert document["info"]["title"] and document["info"]["version"]
    api_schema.validate()  # against the OpenAPI 3.0 meta-schema; raises on an invalid document

    # The validation bites: the same document without its required `info` is refused.
    broken = {key: value for key, value in document.items() if key != "info"}
    with pytest.raises(jsonschema_rs.ValidationError, match='"info" is a required property'):
        schemathesis.openapi.from_dict(broken).validate()


def test_openapi_document_describes_the_contract(client):
    document = client.get("/api/v1/openapi.json").get_json()

    assert {path: set(item) & HTTP_METHODS for path, item in document["paths"].items()} == PATHS
    paths = document["paths"]

    def response_schema(path: str, method: str, status: str) -> dict:
        content = paths[path][method]["responses"][status]["content"]["application/json"]
        return _resolve(document, content["schema"])

    # The request body is one of the two request shapes, each refusing unknown fields.
    request_body = paths["/api/v1/estimates"]["post"]["requestBody"]
    assert request_body["required"] is True
    one_of = request_body["content"]["application/json"]["schema"]["oneOf"]
    assert sorted(option["$ref"] for option in one_of) == [
        "#/components/schemas/CustomEstimateRequest", "#/components/schemas/ProgramEstimateRequest"]
    shapes = {option["$ref"].rsplit("/", 1)[1]: _resolve(document, option) for option in one_of}
    for name, fields in (("ProgramEstimateRequest", {"program", "lodging"}),
                         ("CustomEstimateRequest", CUSTOM_FIELDS)):
        shape = shapes[name]
        assert shape["type"] == "object"
        assert shape["additionalProperties"] is False, name
        assert set(shape["required"]) == fields == set(shape["properties"]), name
        assert set(shape["properties"]["lodging"]["enum"]) == {"none", "shared", "private"}
    custom = shapes["CustomEstimateRequest"]["properties"]
    assert set(custom["ketamine_route"]["enum"]) == {"iv", "im", "sublingual", "esketamine"}
    assert set(custom["therapy_modality"]["enum"]) == {"emdr", "art", "ifs"}
    assert (custom["duration_days"]["minimum"], custom["duration_days"]["maximum"]) == (7, 14)
    assert (custom["intensive_sessions"]["minimum"], custom["intensive_sessions"]["maximum"]) == (1, 2)
    assert custom["integration_sessions"]["maximum"] == 10

    # Responses: the shapes of API.md, and the error statuses the contract names.
    estimate_post = paths["/api/v1/estimates"]["post"]["responses"]
    assert {"201", "400", "422", "429"} <= set(estimate_post)
    for status in ("400", "422", "429"):
        assert set(response_schema("/api/v1/estimates", "post", status)["required"]) == {"error"}
    for path in ("/api/v1/programs/{slug}", "/api/v1/estimates/{estimate_id}"):
        assert set(response_schema(path, "get", "404")["required"]) == {"error"}

    estimate = response_schema("/api/v1/estimates", "post", "201")
    assert response_schema("/api/v1/estimates/{estimate_id}", "get", "200") == estimate
    assert set(estimate["required"]) >= {
        "id", "currency", "price_list_version", "line_items", "total_cents", "deposit_cents", "balance_cents",
        "hsa_fsa_eligible_cents", "custom_quote_required", "valid_until"}
    line_item = _resolve(document, estimate["properties"]["line_items"]["items"])
    assert set(line_item["required"]) >= {
        "code", "label", "quantity", "unit_cents", "total_cents", "hsa_fsa_eligible"}

    program = response_schema("/api/v1/programs/{slug}", "get", "200")
    program_list = response_schema("/api/v1/programs", "get", "200")
    assert _resolve(document, program_list["properties"]["programs"]["items"]) == program
    assert set(program["required"]) >= {
        "slug", "name", "summary", "duration_days", "ketamine_route", "therapy_modality", "dosing_sessions",
        "integration_sessions", "intensive_sessions", "price_range", "cohorts"}
    assert set(program["properties"]["ketamine_route"]["enum"]) == {"iv", "im", "sublingual", "esketamine"}
    assert set(program["properties"]["therapy_modality"]["enum"]) == {"emdr", "art", "ifs"}
    cohort = _resolve(document, program["properties"]["cohorts"]["items"])
    assert {"id", "start_date", "end_date", "capacity", "seats_left", "status"} <= set(cohort["required"])
    assert set(cohort["properties"]["status"]["enum"]) == {"open", "full", "closed"}


def test_openapi_document_describes_bookings_and_the_waitlist(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    schemas = document["components"]["schemas"]

    def body_of(path: str) -> dict:
        return _resolve(document, paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"])

    def response_of(path: str, method: str, status: str) -> dict:
        content = paths[path][method]["responses"][status]["content"]["application/json"]
        return _resolve(document, content["schema"])

    booking_request = body_of("/api/v1/bookings")
    assert booking_request["additionalProperties"] is False
    assert set(booking_request["required"]) == {"cohort_id", "screening_token", "lodging", "applicant",
                                                "policy_accepted"}
    assert set(booking_request["properties"]) == {"cohort_id", "screening_token", "lodging", "applicant",
                                                  "payment_provider", "save_card", "policy_accepted", "promo_code",
                                                  "payment_plan"}
    assert booking_request["properties"]["promo_code"]["type"] == "string"
    assert booking_request["properties"]["policy_accepted"]["type"] == "boolean"
    assert set(booking_request["properties"]["payment_plan"]["enum"]) == {"deposit", "full", "installments"}
    assert set(booking_request["properties"]["lodging"]["enum"]) == {"none", "shared", "private"}
    assert booking_request["properties"]["save_card"]["type"] == "boolean"
    applicant = _resolve(document, booking_request["properties"]["applicant"])
    assert applicant["additionalProperties"] is False
    assert set(applicant["required"]) == set(applicant["properties"]) == {"first_name", "last_name", "email", "phone"}
    waitlist_request = body_of("/api/v1/waitlist")
    assert waitlist_request["additionalProperties"] is False
    assert set(waitlist_request["required"]) == {"cohort_id", "screening_token", "applicant"}

    booking = response_of("/api/v1/bookings", "post", "201")
    assert response_of("/api/v1/bookings/{reference}", "get", "200") == booking
    assert set(booking["required"]) >= {"reference", "status", "cohort_id", "total_cents", "deposit_cents",
                                        "balance_cents", "balance_due_date", "hold_expires_at", "manage_token",
                                        "payment", "payments", "cancellation_policy", "owed_cents"}
    assert booking["properties"]["balance_due_date"]["type"] == ["string", "null"] or \
        booking["properties"]["balance_due_date"].get("nullable") is True  # no balance: the whole price at once
    policy_schema = booking["properties"]["cancellation_policy"]
    policy_schema = _resolve(document, policy_schema["allOf"][0] if "allOf" in policy_schema else policy_schema)
    assert set(policy_schema["required"]) == set(policy_schema["properties"]) == {"version", "text", "rules"}
    rule = _resolve(document, policy_schema["properties"]["rules"]["items"])
    assert set(rule["required"]) == set(rule["properties"]) == {"min_days_before_start", "refund_percent",
                                                                 "fee_cents"}
    assert set(booking["properties"]["status"]["enum"]) == {"held", "pending_review", "confirmed", "paid_in_full",
                                                            "cancelled", "declined", "expired"}
    payment = booking["properties"]["payment"]  # a described $ref comes wrapped in allOf
    payment = _resolve(document, payment["allOf"][0] if "allOf" in payment else payment)
    assert set(payment["required"]) == {"provider", "status"}
    assert {"client_secret", "instructions", "transfer_reference", "kind", "amount_cents"} <= set(
        payment["properties"])
    movement = _resolve(document, booking["properties"]["payments"]["items"])
    assert set(movement["required"]) >= {"id", "kind", "amount_cents", "status", "created_at"}
    assert set(movement["properties"]["kind"]["enum"]) == {"deposit", "balance", "installment", "refund"}
    assert "negative" in movement["properties"]["amount_cents"]["description"].lower()
    cancelled = response_of("/api/v1/bookings/{reference}/cancel", "post", "200")
    assert set(cancelled["required"]) == set(booking["required"]) | {"refund"}
    assert set(response_of("/api/v1/waitlist", "post", "201")["required"]) >= {"id", "cohort_id", "position"}

    # The manage token is a bearer token on reading and cancelling; a wrong one is documented as 401.
    scheme = document["components"]["securitySchemes"]["manageToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method in (("/api/v1/bookings/{reference}", "get"), ("/api/v1/bookings/{reference}/cancel", "post")):
        assert paths[path][method]["security"] == [{"manageToken": []}]
        assert "WWW-Authenticate" in paths[path][method]["responses"]["401"]["headers"]
    statuses = {(path, method): set(operation["responses"]) for path, item in paths.items()
                for method, operation in item.items() if path.startswith(("/api/v1/bookings", "/api/v1/waitlist"))}
    assert statuses[("/api/v1/bookings", "post")] == {"201", "400", "403", "409", "422", "429"}
    assert statuses[("/api/v1/bookings/{reference}/cancel", "post")] == {"200", "400", "401", "409", "422", "429",
                                                                          "503"}
    assert statuses[("/api/v1/waitlist", "post")] == {"201", "400", "403", "409", "422", "429"}
    assert "Booking" in schemas and "WaitlistEntry" in schemas
