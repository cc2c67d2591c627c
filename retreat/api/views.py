import json

from flask import jsonify, request
from marshmallow import ValidationError

from retreat.api import api_bp, openapi, schemas
from retreat.api.serialize import estimate_json, program_json, screening_json
from retreat.catalog import services as catalog
from retreat.core.errors import DomainError, ValidationFailed, flatten_field_errors
from retreat.pricing import services as pricing
from retreat.screening import services as screening
from retreat.web.conditional import conditional_json
from retreat.web.limits import public_write_limit


class MalformedJSON(DomainError):
    status = 400
    code = "malformed_json"


def json_object() -> dict:
    """The request body as a JSON object, or a 400 (not JSON) or 422 (JSON, but not an object)."""
    try:
        body = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise MalformedJSON("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationFailed({"body": ["Send a JSON object."]})
    return body


PROGRAM_ESTIMATE_REQUEST = schemas.ProgramEstimateRequest()
CUSTOM_ESTIMATE_REQUEST = schemas.CustomEstimateRequest()


def load(schema: schemas.Schema, body: dict) -> dict:
    """Validate a body with a request schema; every problem is reported against its field."""
    try:
        return schema.load(body)
    except ValidationError as error:
        raise ValidationFailed(flatten_field_errors(error.messages)) from None



@api_bp.get("/programs")
def list_programs():
    programs = catalog.published_programs()
    return conditional_json("programs", programs,
                            lambda: {"programs": [program_json(program) for program in programs]})


@api_bp.get("/programs/<slug>")
def get_program(slug: str):
    program = catalog.published_program(slug)
    return conditional_json(("program", slug), program, lambda: program_json(program))


@api_bp.post("/estimates")
@public_write_limit
def create_estimate():
    body = json_object()
    if "program" in body:
        values = load(PROGRAM_ESTIMATE_REQUEST, body)
        issued = catalog.estimate_for_program(values["program"], values["lodging"])
    else:
        issued = pricing.estimate_custom(load(CUSTOM_ESTIMATE_REQUEST, body))
    response = jsonify(estimate_json(issued))
    response.status_code = 201
    response.headers["Location"] = f"{request.script_root}{request.path}/{issued.id}"
    return response


@api_bp.post("/screenings")
@public_write_limit
def create_screening():
    body = json_object()
    unknown = sorted(set(body) - {"answers"})
    if unknown or "answers" not in body:
        fields = {name: ["Unknown field."] for name in unknown}
        if "answers" not in body:
            fields["answers"] = ["Missing data for required field."]
        raise ValidationFailed(fields)
    response = jsonify(screening_json(screening.submit(body["answers"])))
    response.status_code = 201
    return response


@api_bp.get("/estimates/<estimate_id>")
def get_estimate(estimate_id: str):
    return estimate_json(pricing.load_estimate(estimate_id))


@api_bp.get("/openapi.json")
def openapi_document():
    return openapi.document()
