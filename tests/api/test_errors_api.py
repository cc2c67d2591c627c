"""Contract tests of the public API's errors (shared/API.md, "Conventions"): the JSON error format and its
stable codes, 400 for malformed JSON, 422 naming each invalid field, 404/405 as JSON, 429 when rate limited,
and never a 500 for anything a client can send."""

import json
import logging
import re

import pytest

from retreat import create_app
from retreat.catalog.models import Program
from retreat.catalog.services import forget_cached_catalog
from retreat.demo import seed_demo_data
from retreat.extensions import db
from retreat.pricing.services import ensure_default_price_list

CUSTOM = {"duration_days": 7, "ketamine_route": "sublingual", "dosing_sessions": 4, "therapy_modality": "art",
          "integration_sessions": 4, "intensive_sessions": 1, "lodging": "none"}
PROGRAM = {"program": "iv-emdr-one-week", "lodging": "shared"}
STABLE_CODE = re.compile(r"^[a-z][a-z_]*$")


def error_of(response, status: int, code: str | None = None) -> dict:
    """The error object of a JSON error response, checked against the error format."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}
    error = body["error"]
    assert isinstance(error["code"], str) and STABLE_CODE.match(error["code"])
    assert isinstance(error["message"], str) and error["message"].strip()
    if code is not None:
        assert error["code"] == code
    if "fields" in error:
        assert isinstance(error["fields"], dict) and error["fields"]
        for reasons in error["fields"].values():
            assert isinstance(reasons, list) and reasons
            assert all(isinstance(reason, str) and reason for reason in reasons)
    return error


def post_raw(client, data, content_type="application/json"):
    return client.post("/api/v1/estimates", data=data, content_type=content_type)


def assert_refused_field(response, field: str) -> None:
    error = error_of(response, 422, "validation_failed")
    assert field in error.get("fields", {}), error


# --- 400: malformed JSON ------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    "", "{", '{"program": "iv-emdr-one-week",}', "not json", "{'program': 'x'}", '{"a": 1} trailing',
    b'{"program": "\xff\xfe", "lodging": "none"}',
], ids=["empty", "unclosed", "trailing-comma", "words", "single-quotes", "trailing-data", "invalid-utf8"])
def test_malformed_json_is_400(client, data):
    error = error_of(post_raw(client, data), 400, "malformed_json")
    assert "fields" not in error


# --- 422: a body that is not an object, or not a valid one --------------------------------------------------

@pytest.mark.parametrize("data", ["[]", json.dumps([CUSTOM]), "true", "7", '"iv-emdr-one-week"'],
                         ids=["empty-array", "array-of-body", "boolean", "number", "string"])
def test_json_that_is_not_an_object_is_422(client, data):
    error_of(post_raw(client, data), 422, "validation_failed")


def test_json_null_body_is_422_not_malformed(client):
    # `null` is well-formed JSON that is not an object, like `[]`: a validation error (422), not a 400
    # malformed_json. See the report: retreat/api/views.py json_object() treats get_json() returning None
    # (which it does for a literal null) as "not valid JSON".
    error_of(post_raw(client, "null"), 422, "validation_failed")


@pytest.mark.parametrize(("body", "field"), [
    ({**PROGRAM, "colour": "blue"}, "colour"),
    ({**PROGRAM, "duration_days": 7}, "duration_days"),
    ({**CUSTOM, "colour": "blue"}, "colour"),
    ({**CUSTOM, "nights": 6}, "nights"),
    ({**CUSTOM, "discount_cents": 0}, "discount_cents"),
], ids=["program-body-unknown", "program-body-custom-field", "custom-body-unknown", "custom-body-nights",
        "custom-body-discount"])
def test_unknown_field_is_refused_by_name(client, demo, body, field):
    assert_refused_field(client.post("/api/v1/estimates", json=body), field)


def _without(body: dict, field: str) -> dict:
    return {key: value for key, value in body.items() if key != field}


INVALID_CUSTOM = [
    # wrong types
    ({"duration_days": "7"}, "duration_days"),
    ({"duration_days": 7.5}, "duration_days"),
    ({"duration_days": True}, "duration_days"),
    ({"duration_days": None}, "duration_days"),
    ({"dosing_sessions": [4]}, "dosing_sessions"),
    ({"integration_sessions": "4"}, "integration_sessions"),
    ({"intensive_sessions": True}, "intensive_sessions"),
    ({"ketamine_route": 1}, "ketamine_route"),
    ({"lodging": None}, "lodging"),
    # out of range
    ({"duration_days": 6}, "duration_days"),
    ({"duration_days": 15}, "duration_days"),
    ({"duration_days": -7}, "duration_days"),
    ({"duration_days": 10**30}, "duration_days"),
    ({"dosing_sessions": 3}, "dosing_sessions"),
    ({"dosing_sessions": 7, "integration_sessions": 8}, "dosing_sessions"),
    ({"ketamine_route": "esketamine", "dosing_sessions": 6, "integration_sessions": 6}, "dosing_sessions"),
    ({"ketamine_route": "esketamine", "dosing_sessions": 5, "integration_sessions": 5}, "dosing_sessions"),
    ({"ketamine_route": "esketamine", "dosing_sessions": 1, "integration_sessions": 2}, "dosing_sessions"),
    ({"dosing_sessions": 5, "integration_sessions": 4}, "integration_sessions"),
    ({"ketamine_route": "esketamine", "dosing_sessions": 3, "integration_sessions": 2},
     "integration_sessions"),
    ({"integration_sessions": 11}, "integration_sessions"),
    ({"intensive_sessions": 0}, "intensive_sessions"),
    ({"intensive_sessions": 3}, "intensive_sessions"),
    # not one of the choices
    ({"ketamine_route": "oral"}, "ketamine_route"),
    ({"ketamine_route": "IV"}, "ketamine_route"),
    ({"therapy_modality": "cbt"}, "therapy_modality"),
    ({"lodging": "tent"}, "lodging"),
]


@pytest.mark.parametrize(("change", "field"), INVALID_CUSTOM,
                         ids=[f"{field}={change[field]!r}"[:40] for change, field in INVALID_CUSTOM])
def test_invalid_custom_value_is_refused_by_name(client, change, field):
    assert_refused_field(client.post("/api/v1/estimates", json={**CUSTOM, **change}), field)


@pytest.mark.parametrize("field", list(CUSTOM))
def test_missing_custom_field_is_refused_by_name(client, field):
    assert_refused_field(client.post("/api/v1/estimates", json=_without(CUSTOM, field)), field)


def test_every_invalid_field_is_named_at_once(client):
    body = {**CUSTOM, "duration_days": 30, "therapy_modality": "cbt", "lodging": "tent"}
    error = error_of(client.post("/api/v1/estimates", json=body), 422, "validation_failed")
    assert {"duration_days", "therapy_modality", "lodging"} <= set(error["fields"])


def test_the_valid_bodies_these_tests_start_from_are_accepted(client, demo):
    # Control: each refusal above comes from the one change made, not from the starting body.
    assert client.post("/api/v1/estimates", json=CUSTOM).status_code == 201
    assert client.post("/api/v1/estimates", json=PROGRAM).status_code == 201


INVALID_PROGRAM = [
    ({"program": "no-such-program", "lodging": "none"}, "program"),
    ({"program": "IV-EMDR-ONE-WEEK", "lodging": "shared"}, "program"),
    ({"program": "", "lodging": "none"}, "program"),
    ({"program": 5, "lodging": "none"}, "program"),
    ({"program": None, "lodging": "none"}, "program"),
    ({"program": ["iv-emdr-one-week"], "lodging": "none"}, "program"),
    ({"program": "iv-ifs-two-weeks", "lodging": "none"}, "lodging"),          # offers shared, private
    ({"program": "esketamine-ifs-one-week", "lodging": "private"}, "lodging"),  # offers none, shared
    ({"program": "iv-emdr-one-week", "lodging": "tent"}, "lodging"),
    ({"program": "iv-emdr-one-week", "lodging": 1}, "lodging"),
    ({"program": "iv-emdr-one-week"}, "lodging"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_PROGRAM,
                         ids=[f"{b.get('program')!r}-{b.get('lodging')!r}"[:40] for b, _ in INVALID_PROGRAM])
def test_invalid_program_body_is_refused_by_name(client, demo, body, field):
    assert_refused_field(client.post("/api/v1/estimates", json=body), field)


def test_unpublished_program_cannot_be_estimated(client, demo):
    program = db.session.scalar(db.select(Program).where(Program.slug == "iv-emdr-one-week"))
    program.published = False
    db.session.commit()
    forget_cached_catalog()

    assert_refused_field(client.post("/api/v1/estimates", json=PROGRAM), "program")


# --- 404 and 405 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/nothing-here", "/api/v1/", "/api/v1", "/api/v1/programs/iv-emdr-one-week/cohorts",
    "/api/v1/estimates/", "/api/v1/Programs", "/api/v2/programs",
])
def test_unknown_api_path_is_a_json_404(client, demo, path):
    error = error_of(client.get(path), 404, "not_found")
    assert "fields" not in error


WRONG_METHODS = [
    ("post", "/api/v1/programs"), ("delete", "/api/v1/programs"),
    ("put", "/api/v1/programs/iv-emdr-one-week"), ("patch", "/api/v1/programs/iv-emdr-one-week"),
    ("get", "/api/v1/estimates"), ("put", "/api/v1/estimates"),
    ("delete", "/api/v1/estimates/some-id"), ("post", "/api/v1/estimates/some-id"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS,
                         ids=[f"{m.upper()} {p}" for m, p in WRONG_METHODS])
def test_wrong_method_is_a_json_405(client, demo, method, path):
    error = error_of(client.open(path, method=method.upper()), 405)
    assert error["code"] == "method_not_allowed"
    assert "fields" not in error


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/v1/programs", {"GET"}),
    ("GET", "/api/v1/estimates", {"POST"}),
    ("PUT", "/api/v1/estimates/some-id", {"GET"}),
])
def test_405_says_which_methods_are_allowed(client, method, path, allowed):
    # RFC 9110 section 15.5.6: a 405 response MUST carry an Allow header (schemathesis checks it too).
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert allowed <= {name.strip() for name in response.headers.get("Allow", "").split(",")}


# --- Never a 500 --------------------------------------------------------------------------------------------

HOSTILE = {
    "huge-integer-literal": '{"duration_days": ' + "9" * 5000 + "}",
    "nan": '{"duration_days": NaN}',
    "infinity": '{"duration_days": 1e999999}',
    "nul-in-slug": '{"program": "iv\\u0000emdr", "lodging": "shared"}',
    "lone-surrogate": '{"program": "\\ud800", "lodging": "shared"}',
    "duplicate-keys": '{"program": "iv-emdr-one-week", "program": "x", "lodging": "shared"}',
    "object-as-slug": '{"program": {"$ne": null}, "lodging": "shared"}',
    "sql-ish-slug": '{"program": "x\' OR 1=1 --", "lodging": "shared"}',
    "long-slug": json.dumps({"program": "x" * 100_000, "lodging": "shared"}),
    "both-shapes": json.dumps({**CUSTOM, **PROGRAM}),
    "nested-fields": json.dumps({**CUSTOM, "lodging": {"kind": "shared"}}),
    "empty-object": "{}",
    "moderate-nesting": "[" * 100 + "]" * 100,
}


@pytest.mark.parametrize("data", list(HOSTILE.values()), ids=list(HOSTILE))
def test_odd_bodies_are_never_a_server_error(client, demo, data):
    response = post_raw(client, data)
    assert response.status_code in (400, 422)
    error_of(response, response.status_code)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "", None])
def test_content_type_is_never_a_server_error(client, demo, content_type):
    response = post_raw(client, json.dumps(CUSTOM), content_type)
    assert response.status_code < 500


@pytest.mark.parametrize("path", [
    "/api/v1/programs/%00", "/api/v1/programs/%ff%fe", "/api/v1/programs/" + "x" * 10_000,
    "/api/v1/estimates/%00", "/api/v1/estimates/" + "a" * 10_000, "/api/v1/estimates/W10.x",
    "/api/v1/programs?slug=x&slug=y",
])
def test_odd_paths_are_never_a_server_error(client, demo, path):
    response = client.get(path)
    assert response.status_code in (200, 404)
    if response.status_code == 404:
        error_of(response, 404, "not_found")


@pytest.mark.parametrize("depth", [1_000, 5_000], ids=["1000-deep", "5000-deep"])
def test_deeply_nested_json_is_not_a_server_error(client, depth, caplog):
    # A 2 KB body of nested arrays makes the JSON decoder raise RecursionError, which Flask's
    # get_json(silent=True) does not catch (it catches ValueError only): see the report.
    caplog.set_level(logging.CRITICAL)
    nested = "[" * depth + "]" * depth
    for data in (nested, '{"program": ' + nested + ', "lodging": "none"}'):
        response = post_raw(client, data)
        assert response.status_code in (400, 422), response.status_code
        error_of(response, response.status_code)


# --- 429 ----------------------------------------------------------------------------------------------------

def test_fourth_write_in_a_minute_is_rate_limited(database_url):
    limited = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=True,
                         RATELIMIT_PUBLIC_WRITE="3 per minute")
    with limited.app_context():
        try:
            ensure_default_price_list()
            seed_demo_data()
            client = limited.test_client()

            created = [client.post("/api/v1/estimates", json=CUSTOM) for _ in range(3)]
            assert [response.status_code for response in created] == [201, 201, 201]

            refused = client.post("/api/v1/estimates", json=CUSTOM)
            error = error_of(refused, 429, "rate_limited")
            assert "fields" not in error
            # Still limited, whatever the body.
            error_of(client.post("/api/v1/estimates", json={"colour": "blue"}), 429, "rate_limited")

            # Reading is not a public write: it still works.
            assert client.get(f"/api/v1/estimates/{created[0].get_json()['id']}").status_code == 200
            assert client.get("/api/v1/programs").status_code == 200
        finally:
            db.session.remove()
            db.engine.dispose()
