import pytest
import schemathesis
from hypothesis import settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method


@pytest.fixture(autouse=True)
def _node_id(request):
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture
def api_schema(demo):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", demo)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=50)
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(excluded_checks=[positive_data_acceptance, unsupported_method])
