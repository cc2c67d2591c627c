"""The OpenAPI document of the public API (GET /api/v1/openapi.json) is valid OpenAPI 3 and describes the
contract of shared/API.md; schemathesis, in process, checks that the app answers as the document says."""

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from retreat.demo import DEMO_PROGRAMS

PATHS = {
    "/api/v1/programs": {"get"},
    "/api/v1/programs/{slug}": {"get"},
    "/api/v1/estimates": {"post"},
    "/api/v1/estimates/{estimate_id}": {"get"},
    "/api/v1/screenings": {"post"},
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
#   characters ("0" is schema-valid and unknown), and a program offers only some lodging options.
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
