"""The intake API contract (docs/api.md): POST / GET / list / preview / activities / OpenAPI."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reps.models import Pool, RepDayLoad
from routing.models import Activity, Lead, LeadEvent, Rule
from routing.services.intake import intake_source_create, intake_source_revoke

URL = "/api/v1/leads/"


def post(client, body, **headers):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def routing_state():
    """Everything a lead's routing may move: pointers, caps, rule hits, stored rows."""
    return (
        sorted((p.name, json.dumps(p.rotation, sort_keys=True)) for p in Pool.objects.all()),
        sorted(RepDayLoad.objects.values_list("rep_id", "day", "assigned")),
        sorted(Rule.objects.values_list("id", "hits")),
        Lead.objects.count(),
        LeadEvent.objects.count(),
    )


DEMO_REQUEST = {
    "email": "Dyrektor@Fabryka-Okien.Example",
    "first_name": "  Zofia ",
    "last_name": "Kurek",
    "company": "Fabryka Okien",
    "source": "demo_request",
    "phone": "+48 601 000 111",
    "plan": "pro",
}


@pytest.mark.django_db
class TestTakeIn:
    def test_demo_request_is_stored_routed_and_returned_with_201(self, api, demo, kasia):
        response = post(api, DEMO_REQUEST)
        assert response.status_code == 201, response.content
        body = response.json()
        lead = Lead.objects.get()
        assert body["id"] == lead.pk
        assert body["status"] == "assigned"
        assert body["owner"] == {"name": "Kasia Nowak", "email": "kasia@techpol.example"}
        assert body["rule"]["name"] == "Demo request → Demo pool"
        assert body["priority"] == "critical"
        assert body["sla_due_at"] is not None
        assert body["first_response_at"] is None
        assert body["explanation"], "every decision says why"
        assert [e["type"] for e in body["events"]][:2] == ["received", "assigned"]
        assert body["events"][1]["rep"] == "kasia@techpol.example"
        for key in ("submitted_at", "received_at"):
            assert timezone.datetime.fromisoformat(body[key]).tzinfo is not None

    def test_fields_are_trimmed_domain_lower_cased_and_unknown_fields_kept_in_extra(self, api, demo):
        post(api, DEMO_REQUEST)
        lead = Lead.objects.get()
        assert lead.email == "Dyrektor@fabryka-okien.example"
        assert lead.email_domain == "fabryka-okien.example"
        assert lead.first_name == "Zofia"
        assert lead.extra == {"plan": "pro"}
        assert (lead.country, lead.language) == ("PL", "pl")

    def test_submitted_at_defaults_to_now_and_keeps_a_given_offset(self, api, demo):
        before = timezone.now()
        post(api, {"email": "a@firma.example"})
        assert Lead.objects.get().submitted_at >= before - timedelta(seconds=1)
        post(api, {"email": "b@firma.example", "submitted_at": "2026-11-17T10:00:00+01:00"})
        lead = Lead.objects.get(email="b@firma.example")
        assert lead.submitted_at == timezone.datetime.fromisoformat("2026-11-17T09:00:00+00:00")

    def test_form_encoded_body_is_accepted(self, api, demo):
        response = api.post(URL, data={"email": "ktos@firma.example", "company_size": "12", "region": "Śląskie"})
        assert response.status_code == 201, response.content
        lead = Lead.objects.get()
        assert (lead.company_size, lead.region_key) == (12, "slaskie")

    def test_json_sent_as_a_form_by_plain_curl_is_read_as_json(self, api, demo):
        response = api.post(URL, data='{"email": "curl@firma.example"}', content_type="application/x-www-form-urlencoded")
        assert response.status_code == 201, response.content

    def test_region_and_postal_code_are_normalised_for_matching(self, api, demo):
        post(api, {"email": "x@firma.example", "region": "  ŚLĄSKIE ", "postal_code": "40-001", "city": "Łódź"})
        lead = Lead.objects.get()
        assert (lead.region_key, lead.postal_code_num, lead.city_key) == ("slaskie", 40001, "lodz")


@pytest.mark.django_db
def test_repeat_lead_typed_with_capitals_goes_to_the_previous_owner(api, demo):
    first = post(api, {"email": "zofia@fabryka-okien.example", "source": "webinar"}).json()
    again = post(api, {"email": "Zofia@Fabryka-Okien.example", "source": "webinar"}).json()
    assert again["rule"]["name"] == "Repeat lead → previous owner"
    assert again["owner"] == first["owner"]


BAD_FIELDS = [
    ({}, "email"),
    ({"email": "not-an-address"}, "email"),
    ({"email": "a" * 250 + "@x.pl"}, "email"),
    ({"email": 42}, "email"),
    ({"email": "a@b.pl", "company_size": -1}, "company_size"),
    ({"email": "a@b.pl", "company_size": "dużo"}, "company_size"),
    ({"email": "a@b.pl", "company_size": True}, "company_size"),
    ({"email": "a@b.pl", "company_size": 2.5}, "company_size"),
    ({"email": "a@b.pl", "company_size": 10**12}, "company_size"),
    ({"email": "a@b.pl", "country": "XX"}, "country"),
    ({"email": "a@b.pl", "country": "POL"}, "country"),
    ({"email": "a@b.pl", "language": "xx"}, "language"),
    ({"email": "a@b.pl", "source": "demo request!"}, "source"),
    ({"email": "a@b.pl", "message": "x" * 10_001}, "message"),
    ({"email": "a@b.pl", "submitted_at": "wczoraj"}, "submitted_at"),
    ({"email": "a@b.pl", "submitted_at": "2026-02-30T10:00:00+01:00"}, "submitted_at"),
    ({"email": "a@b.pl", "first_name": "x" * 101}, "first_name"),
    ({"email": "a@b.pl", "first_name": ["Jan"]}, "first_name"),
    ({"email": "a@b.pl", "first_name": "Ja\x00n"}, "first_name"),
    ({"email": "a@b.pl", "utm": "a\x00b"}, "utm"),
    ({"email": "a@b.pl", "nested": {"k": ["ok", "bad\x00"]}}, "nested"),
    ({"email": "a@b.pl", "company": "\ud800"}, "company"),
]


@pytest.mark.django_db
class TestBadInput:
    @pytest.mark.parametrize(("body", "field"), BAD_FIELDS)
    def test_bad_field_is_a_400_naming_the_field_and_nothing_moves(self, api, demo, body, field):
        before = routing_state()
        response = post(api, body)
        assert response.status_code == 400, response.content
        errors = response.json()["errors"]
        assert field in errors and all(isinstance(m, str) and m for m in errors[field])
        assert routing_state() == before

    def test_submitted_at_more_than_five_minutes_ahead_is_refused(self, api, demo):
        ahead = (timezone.now() + timedelta(minutes=6)).isoformat()
        assert post(api, {"email": "a@b.pl", "submitted_at": ahead}).json()["errors"]["submitted_at"]
        almost = (timezone.now() + timedelta(minutes=4)).isoformat()
        assert post(api, {"email": "a@b.pl", "submitted_at": almost}).status_code == 201

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe", b'{"email": NaN}', b"[" * 100_000])
    def test_body_that_is_not_a_json_object_is_a_body_error(self, api, demo, raw):
        response = api.post(URL, data=raw, content_type="application/json")
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["body"]
        assert Lead.objects.count() == 0

    def test_body_over_one_megabyte_is_413_and_nothing_is_stored(self, api, demo):
        response = post(api, {"email": "a@b.pl", "message": "x", "padding": "y" * 1_000_001})
        assert response.status_code == 413
        assert "body" in response.json()["errors"]
        assert Lead.objects.count() == 0

    def test_wrong_method_is_a_json_405(self, api):
        response = api.delete(URL)
        assert response.status_code == 405
        assert "errors" in response.json()

    def test_unknown_api_path_is_a_json_404(self, api):
        response = api.get("/api/v1/nothing-here/")
        assert response.status_code == 404
        assert "errors" in response.json()


@pytest.mark.django_db
class TestAuth:
    def test_missing_token_is_401_and_nothing_is_stored(self, demo):
        response = post(Client(), DEMO_REQUEST)
        assert response.status_code == 401
        assert response.json()["errors"]["auth"]
        assert Lead.objects.count() == 0

    def test_wrong_token_is_401(self, demo, website):
        response = post(Client(HTTP_AUTHORIZATION="Bearer lr_wrong"), DEMO_REQUEST)
        assert response.status_code == 401
        assert Lead.objects.count() == 0

    def test_revoked_token_is_401(self, demo, website):
        source, token = website
        intake_source_revoke(source=source)
        response = post(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), DEMO_REQUEST)
        assert response.status_code == 401
        assert Lead.objects.count() == 0

    def test_token_is_stored_only_as_a_hash(self, website):
        source, token = website
        assert token not in (source.token_hash, source.token_prefix)
        assert len(source.token_hash) == 64

    def test_every_endpoint_needs_the_token_but_the_openapi_document(self, demo, api):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        anonymous = Client()
        assert anonymous.get(f"{URL}{lead_id}/").status_code == 401
        assert anonymous.get(URL, {"email": "x@y.pl"}).status_code == 401
        assert anonymous.post("/api/v1/route/preview", data="{}", content_type="application/json").status_code == 401
        assert anonymous.post(f"{URL}{lead_id}/activities/", data='{"kind":"call"}', content_type="application/json").status_code == 401
        assert anonymous.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.django_db
class TestRetries:
    def test_same_idempotency_key_returns_the_earlier_lead_with_200(self, api, demo):
        first = post(api, DEMO_REQUEST, HTTP_IDEMPOTENCY_KEY="form-123")
        state = routing_state()
        again = post(api, {**DEMO_REQUEST, "company": "changed"}, HTTP_IDEMPOTENCY_KEY="form-123")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert routing_state() == state

    def test_same_external_id_returns_the_earlier_lead(self, api, demo):
        first = post(api, {**DEMO_REQUEST, "external_id": "crm-77"})
        again = post(api, {**DEMO_REQUEST, "external_id": "crm-77"})
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        assert Lead.objects.count() == 1

    def test_same_key_from_another_source_is_a_new_lead(self, api, demo):
        _source, token = intake_source_create(name="Zapier")
        post(api, DEMO_REQUEST, HTTP_IDEMPOTENCY_KEY="k1")
        other = post(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), DEMO_REQUEST, HTTP_IDEMPOTENCY_KEY="k1")
        assert other.status_code == 201
        assert Lead.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_store_one_lead(demo, website):
    """Eight workers post the same submission at once: one lead, seven 200s pointing at it."""
    _source, token = website
    barrier = threading.Barrier(8)
    results = []

    def worker():
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = post(client, DEMO_REQUEST, HTTP_IDEMPOTENCY_KEY="double-click")
            results.append((response.status_code, response.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Lead.objects.count() == 1
    assert sorted(code for code, _id in results) == [200] * 7 + [201]
    assert {lead_id for _code, lead_id in results} == {Lead.objects.get().pk}


@pytest.mark.django_db
class TestRead:
    def test_get_one_lead(self, api, demo):
        created = post(api, DEMO_REQUEST).json()
        response = api.get(f"{URL}{created['id']}/")
        assert response.status_code == 200
        assert response.json() == created

    def test_unknown_lead_is_404(self, api):
        response = api.get(f"{URL}999999/")
        assert response.status_code == 404 and "errors" in response.json()

    def test_list_by_email_is_newest_first_and_paginated(self, api, demo, monkeypatch):
        monkeypatch.setattr("flows.api.PAGE_SIZE", 2)
        ids = [post(api, {"email": "Powrot@Firma.example", "message": f"#{i}"}).json()["id"] for i in range(3)]
        post(api, {"email": "inny@firma.example"})
        page = api.get(URL, {"email": "powrot@firma.example"}).json()
        assert [lead["id"] for lead in page["results"]] == ids[::-1][:2]
        assert page["next"]
        rest = api.get(page["next"]).json()
        assert [lead["id"] for lead in rest["results"]] == [ids[0]]
        assert rest["next"] is None


@pytest.mark.django_db
class TestPreview:
    def test_preview_shows_the_decision_and_stores_nothing(self, api, demo):
        post(api, {"email": "warmup@firma.example", "source": "demo_request"})
        before = routing_state()
        response = api.post("/api/v1/route/preview", data=json.dumps(DEMO_REQUEST), content_type="application/json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert "id" not in body and "events" not in body
        assert body["status"] == "assigned"
        assert body["owner"]["email"] == "marek@techpol.example"  # kasia took the warm-up lead
        assert body["priority"] == "critical" and body["sla_due_at"]
        assert body["explanation"]
        assert routing_state() == before
        # ...and the real lead then goes exactly where the preview said.
        assert post(api, DEMO_REQUEST).json()["owner"] == body["owner"]

    def test_preview_validates_like_intake(self, api, demo):
        response = api.post("/api/v1/route/preview", data='{"email": "nope"}', content_type="application/json")
        assert response.status_code == 400 and "email" in response.json()["errors"]


@pytest.mark.django_db
class TestActivities:
    def test_first_call_is_the_first_response(self, api, demo):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        response = api.post(f"{URL}{lead_id}/activities/", data=json.dumps({"kind": "call", "outcome": "demo booked"}), content_type="application/json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["rep"] == "kasia@techpol.example"
        assert body["lead"]["status"] == "contacted"
        assert body["lead"]["first_response_at"] == body["at"]
        assert "first_response" in [e["type"] for e in body["lead"]["events"]]
        lead = Lead.objects.get(pk=lead_id)
        assert lead.sla_next_step_at is None

    def test_a_note_is_not_a_first_response(self, api, demo):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        response = api.post(f"{URL}{lead_id}/activities/", data=json.dumps({"kind": "note", "outcome": "called back later"}), content_type="application/json")
        assert response.status_code == 201
        lead = Lead.objects.get(pk=lead_id)
        assert lead.first_response_at is None and lead.status == "assigned"

    def test_only_the_first_response_counts(self, api, demo):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        first = api.post(f"{URL}{lead_id}/activities/", data='{"kind": "email"}', content_type="application/json").json()
        api.post(f"{URL}{lead_id}/activities/", data='{"kind": "meeting"}', content_type="application/json")
        assert Lead.objects.get(pk=lead_id).first_response_at.isoformat() == first["at"]
        assert Activity.objects.filter(lead_id=lead_id).count() == 2

    def test_activity_by_another_named_rep(self, api, demo):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        response = api.post(f"{URL}{lead_id}/activities/", data='{"kind": "call", "rep": "marek@techpol.example"}', content_type="application/json")
        assert response.json()["rep"] == "marek@techpol.example"

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"kind": "fax"}, "kind"), ({}, "kind"), ({"kind": "call", "rep": "nobody@techpol.example"}, "rep"),
         ({"kind": "call", "at": "jutro"}, "at"), ({"kind": "call", "at": "2020-01-01T10:00:00+01:00"}, "at"),
         ({"kind": "call", "color": "red"}, "color")],
    )  # fmt: skip
    def test_bad_activity_is_400_and_nothing_is_logged(self, api, demo, body, field):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        response = api.post(f"{URL}{lead_id}/activities/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400, response.content
        assert field in response.json()["errors"]
        assert Activity.objects.count() == 0
        assert Lead.objects.get(pk=lead_id).first_response_at is None

    def test_activity_on_unknown_lead_is_404(self, api, demo):
        response = api.post(f"{URL}424242/activities/", data='{"kind": "call"}', content_type="application/json")
        assert response.status_code == 404


@pytest.mark.django_db
def test_openapi_document_describes_the_contract(client):
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/leads/", "/api/v1/leads/{lead_id}/", "/api/v1/route/preview", "/api/v1/leads/{lead_id}/activities/"} <= set(doc["paths"])
    intake = doc["components"]["schemas"]["LeadIntake"]
    assert intake["required"] == ["email"]
    assert intake["properties"]["company_size"]["type"] == "integer"
    assert intake["properties"]["message"]["maxLength"] == 10_000
    assert set(doc["components"]["schemas"]["Lead"]["properties"]["status"]["enum"]) == {"assigned", "disqualified", "unassigned", "contacted"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(["email", "company_size", "submitted_at", "country", "language", "source", "region", "postal_code", "x"])


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.dictionaries(field_names, json_values, max_size=6))
def test_no_body_ever_gets_a_500(api, demo, body):
    response = post(api, body)
    assert response.status_code in (201, 400), response.content


@pytest.mark.django_db
class TestHostileInput:
    """Found by review: inputs that used to reach the database and answer 500."""

    @pytest.mark.parametrize("value", ["1950-01-01T10:00:00+01:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59-23:59"])
    def test_impossible_or_ancient_submitted_at_is_a_400(self, api, demo, value):
        response = post(api, {"email": "a@b.pl", "submitted_at": value})
        assert response.status_code == 400, response.content
        assert "submitted_at" in response.json()["errors"]

    def test_an_unusual_offset_is_stored_as_the_same_instant(self, api, demo):
        response = post(api, {"email": "a@b.pl", "submitted_at": "2026-11-24T10:00:00+14:00"})
        assert response.status_code == 201, response.content
        assert Lead.objects.get().submitted_at == timezone.datetime.fromisoformat("2026-11-23T20:00:00+00:00")

    def test_text_that_grows_when_folded_still_fits(self, api, demo):
        response = post(api, {"email": "c@x.example", "city": "ß" * 60, "region": "ß" * 100})
        assert response.status_code == 201, response.content
        lead = Lead.objects.get()
        assert len(lead.city_key) <= 100 and len(lead.region_key) <= 100

    def test_long_unicode_email_never_500s(self, api, demo):
        assert post(api, {"email": "İ" * 200 + "@x.example"}).status_code in (201, 400)

    def test_nul_in_the_idempotency_key_or_the_email_query_is_a_400(self, api, demo):
        assert post(api, DEMO_REQUEST, HTTP_IDEMPOTENCY_KEY="a\x00b").status_code == 400
        assert api.get(URL, {"email": "\x00"}).status_code == 400
        assert api.get(URL, {"before": "²"}).status_code == 400
        assert Lead.objects.count() == 0

    def test_deeply_nested_extra_is_a_body_error(self, api, demo):
        nested = "x"
        for _ in range(40):
            nested = [nested]
        response = post(api, {"email": "a@b.pl", "deep": nested})
        assert response.status_code == 400 and "body" in response.json()["errors"]


@pytest.mark.django_db
class TestTokenScope:
    def test_a_token_reads_and_works_only_the_leads_its_source_sent(self, api, demo):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        _source, token = intake_source_create(name="Landing page")
        other = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert other.get(f"{URL}{lead_id}/").status_code == 404
        assert other.get(URL, {"email": DEMO_REQUEST["email"]}).json()["results"] == []
        response = other.post(f"{URL}{lead_id}/activities/", data='{"kind": "call"}', content_type="application/json")
        assert response.status_code == 404
        assert Lead.objects.get(pk=lead_id).first_response_at is None

    def test_a_crm_token_that_reads_all_leads_sees_and_works_them(self, api, demo):
        lead_id = post(api, DEMO_REQUEST).json()["id"]
        _source, token = intake_source_create(name="CRM sync", reads_all_leads=True)
        crm = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert crm.get(f"{URL}{lead_id}/").status_code == 200
        assert [lead["id"] for lead in crm.get(URL, {"email": DEMO_REQUEST["email"].upper()}).json()["results"]] == [lead_id]
        assert crm.post(f"{URL}{lead_id}/activities/", data='{"kind": "call"}', content_type="application/json").status_code == 201
