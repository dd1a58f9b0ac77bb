"""The contract, complete (issue 13): the OpenAPI document lists every status and every field's real constraints,
and schemathesis checks the running app against it: no server error, only documented statuses and content
types, every answer's body as documented.

Bounded for CI on SQLite: SCHEMATHESIS_EXAMPLES (default 100) examples per operation, positive and negative
data, no deadline; the whole file runs well under 90 s.
"""

import os

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from core.iso_codes import COUNTRIES, LANGUAGES
from flows.openapi import openapi_document

BASE_URL = "http://localhost"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_dict(openapi_document(base_url=BASE_URL))
schema.app = WSGIHandler()
schema.config.generation.update(max_examples=EXAMPLES)


@pytest.fixture
def contract_token(website, demo, settings):
    """A valid token, the demo loaded (so intake routes for real), no rate limit in the way of the examples."""
    settings.INTAKE_RATE_LIMIT = "off"
    # As Django's test client does: the test's transaction must outlive each request, so the end of a request
    # must not close the connection (on PostgreSQL that would end the test's transaction).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield website[1]
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract(case, contract_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {contract_token}"}, checks=CHECKS)


@pytest.mark.django_db
def test_the_served_document_is_the_generated_one(client):
    served = client.get("/api/v1/openapi.json", HTTP_HOST="localhost").json()
    assert served == openapi_document(base_url=BASE_URL)


def test_every_operation_lists_every_status_it_can_answer():
    doc = openapi_document(base_url=BASE_URL)
    statuses = {(path, method): set(op["responses"]) for path, ops in doc["paths"].items() for method, op in ops.items()}
    authed = {"401", "405", "429", "503"}
    assert statuses[("/api/v1/leads/", "post")] == {"200", "201", "400", "411", "413"} | authed
    assert statuses[("/api/v1/leads/", "get")] == {"200", "400"} | authed
    assert statuses[("/api/v1/leads/{lead_id}/", "get")] == {"200", "404"} | authed
    assert statuses[("/api/v1/route/preview", "post")] == {"200", "400", "411", "413"} | authed
    assert statuses[("/api/v1/leads/{lead_id}/activities/", "post")] == {"201", "400", "404", "411", "413"} | authed
    assert statuses[("/api/v1/openapi.json", "get")] == {"200", "405"}
    for (path, method), codes in statuses.items():
        for code in codes:
            content = doc["paths"][path][method]["responses"][code].get("content", {})
            assert list(content) == ["application/json"], (path, method, code)


def test_every_field_carries_its_real_constraints():
    intake = openapi_document(base_url=BASE_URL)["components"]["schemas"]["LeadIntake"]["properties"]
    assert intake["country"]["enum"] == sorted(COUNTRIES) and "PL" in intake["country"]["enum"]
    assert intake["language"]["enum"] == sorted(LANGUAGES) and "pl" in intake["language"]["enum"]
    assert (intake["email"]["format"], intake["email"]["maxLength"]) == ("email", 254)
    assert (intake["company_size"]["type"], intake["company_size"]["minimum"], intake["company_size"]["maximum"]) == ("integer", 0, 2_147_483_647)
    assert intake["source"]["pattern"] == "^[-a-zA-Z0-9_]+$" and intake["source"]["maxLength"] == 64
    assert intake["submitted_at"]["format"] == "date-time"
    for name in ("first_name", "company", "phone", "postal_code", "external_id", "message"):
        assert intake[name]["maxLength"] > 0, name
    lead = openapi_document(base_url=BASE_URL)["components"]["schemas"]["Lead"]["properties"]
    assert None in lead["priority"]["enum"], "a nullable enum lists null (OpenAPI 3.0.3)"
