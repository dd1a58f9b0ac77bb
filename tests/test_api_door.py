"""The API's door (issue 13): every answer is JSON, whatever the path, method, content type or body.

Chunked bodies are read and bounded, broken bodies are a JSON 400, a dropped database connection is a JSON
503 with Retry-After and nothing partial, numbers are strict, a UTF-8 BOM is tolerated.
"""

import io
import json
import threading
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection, connections
from django.test import Client
from django.utils import timezone

from routing import door
from routing.models import Lead, LeadEvent

URL = "/api/v1/leads/"
PREVIEW = "/api/v1/route/preview"


def is_json(response) -> bool:
    return response["Content-Type"].startswith("application/json")


def assert_json_error(response, status: int):
    assert response.status_code == status, response.content[:300]
    assert is_json(response), (response["Content-Type"], response.content[:300])
    body = response.json()
    assert isinstance(body["errors"], dict) and body["errors"], body
    for messages in body["errors"].values():
        assert messages and all(isinstance(m, str) and m for m in messages)
    return body


def chunked(client: Client, path: str, body: bytes, *, terminated: bool = True, content_type: str = "application/json"):
    """A POST as gunicorn hands a chunked request to the app: no Content-Length, the de-chunked body in wsgi.input."""
    extra = {"CONTENT_LENGTH": "", "CONTENT_TYPE": content_type, "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body)}
    if terminated:
        extra["wsgi.input_terminated"] = True
    return client.generic("POST", path, b"", **extra)


@pytest.fixture
def csrf_api(website):
    """As a real client is seen: CSRF checks enforced (the test client skips them by default)."""
    _source, token = website
    return Client(enforce_csrf_checks=True, raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
class TestEveryAnswerIsJson:
    @pytest.mark.parametrize("path", ["/api/nothing-here", "/api/v1/leads/1/unknown/", "/api/v2/leads/", "/api/"])
    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    def test_unknown_api_path_with_any_method_is_a_json_404_not_a_csrf_page(self, csrf_api, path, method):
        response = csrf_api.generic(method, path, b'{"email": "a@firma.example"}', content_type="application/json")
        assert_json_error(response, 404)

    def test_known_endpoint_without_token_under_csrf_checks_is_a_json_401(self, demo):
        response = Client(enforce_csrf_checks=True).post(URL, data={"email": "a@firma.example"})
        assert_json_error(response, 401)

    def test_form_with_over_a_thousand_fields_is_a_json_400(self, csrf_api, demo):
        body = "&".join(f"f{i}=x" for i in range(1500)) + "&email=a@firma.example"
        response = csrf_api.post(URL, data=body, content_type="application/x-www-form-urlencoded")
        body = assert_json_error(response, 400)
        assert "body" in body["errors"]
        assert Lead.objects.count() == 0

    def test_multipart_body_without_a_boundary_is_a_json_400(self, csrf_api, demo):
        response = csrf_api.post(URL, data=b"--x\r\nContent-Disposition: form-data; name=email\r\n\r\na@b.pl\r\n--x--", content_type="multipart/form-data")
        assert_json_error(response, 400)
        assert Lead.objects.count() == 0

    def test_multipart_body_with_a_broken_boundary_is_a_json_400(self, csrf_api, demo):
        response = csrf_api.post(URL, data=b"garbage", content_type="multipart/form-data; boundary=\x01\x02")
        assert_json_error(response, 400)

    @pytest.mark.parametrize(
        "raw, content_type",
        [
            (b"\xff\xfe{\x00}\x00", "application/json"),
            (b'{"email": "a@firma.example", "company": "\xc5"}', "application/json"),
            (b'{"email": "a@firma.example"}', "application/json; charset=utf-16"),
            (b"email=a%40firma.example&company=%C5", "application/x-www-form-urlencoded; charset=nonsense"),
            (b"\x00\x01\x02", "text/plain"),
            (b"", "application/json"),
        ],
    )
    def test_bad_encodings_are_a_json_answer_never_a_500(self, csrf_api, demo, raw, content_type):
        response = csrf_api.generic("POST", URL, raw, content_type=content_type)
        assert response.status_code in (201, 400), response.content[:300]
        assert is_json(response)

    def test_preview_and_activities_refuse_a_broken_multipart_body_as_json(self, csrf_api, demo):
        assert_json_error(csrf_api.post(PREVIEW, data=b"x", content_type="multipart/form-data"), 400)
        lead = Lead.objects.create(email="a@firma.example", intake_source=csrf_api_source(csrf_api), submitted_at=timezone.now(), received_at=timezone.now())
        assert_json_error(csrf_api.post(f"/api/v1/leads/{lead.pk}/activities/", data=b"x", content_type="multipart/form-data"), 400)

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
    def test_wrong_method_on_a_known_endpoint_is_a_json_405_with_allow(self, csrf_api, method):
        response = csrf_api.generic(method, URL, b"{}", content_type="application/json")
        assert_json_error(response, 405)
        assert response["Allow"] == "GET, POST"

    def test_a_crash_inside_the_api_is_a_json_500(self, csrf_api, demo):
        with mock.patch("flows.api.lead_create", side_effect=RuntimeError("boom")):
            response = csrf_api.post(URL, data=json.dumps({"email": "a@firma.example"}), content_type="application/json")
        body = assert_json_error(response, 500)
        assert "boom" not in json.dumps(body), "no internals in the answer"

    def test_a_crash_with_debug_on_is_still_json(self, csrf_api, demo, settings):
        settings.DEBUG = True
        with mock.patch("flows.api.lead_create", side_effect=RuntimeError("boom")):
            response = csrf_api.post(URL, data=json.dumps({"email": "a@firma.example"}), content_type="application/json")
        assert_json_error(response, 500)

    def test_outside_the_api_django_pages_stay_html(self, db):
        response = Client(raise_request_exception=False).get("/no-such-page/")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")

    def test_a_csrf_failure_outside_the_api_is_still_the_html_page(self, db):
        response = Client(enforce_csrf_checks=True).post("/accounts/login/", data={"username": "x", "password": "y"})
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/html")


def csrf_api_source(client):
    from routing.selectors import intake_source_for_token

    return intake_source_for_token(raw_token=client.defaults["HTTP_AUTHORIZATION"].split()[1])


@pytest.mark.django_db
class TestChunkedBodies:
    def test_a_valid_chunked_lead_is_taken_in(self, api, demo):
        response = chunked(api, URL, json.dumps({"email": "zofia@fabryka-okien.example", "source": "demo_request"}).encode())
        assert response.status_code == 201, response.content
        assert Lead.objects.get().email == "zofia@fabryka-okien.example"

    def test_a_chunked_form_encoded_lead_is_taken_in(self, api, demo):
        response = chunked(api, URL, b"email=ktos%40firma.example&company_size=12", content_type="application/x-www-form-urlencoded")
        assert response.status_code == 201, response.content
        assert Lead.objects.get().company_size == 12

    def test_a_chunked_preview_is_answered(self, api, demo):
        response = chunked(api, PREVIEW, json.dumps({"email": "zofia@fabryka-okien.example"}).encode())
        assert response.status_code == 200, response.content
        assert Lead.objects.count() == 0

    def test_a_three_megabyte_chunked_body_is_413_read_no_further_than_the_limit(self, api, demo, settings):
        raw = io.BytesIO(b'{"email": "a@firma.example", "message": "' + b"x" * 3_000_000 + b'"}')
        extra = {
            "CONTENT_LENGTH": "",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": raw,
            "wsgi.input_terminated": True,
        }
        response = api.generic("POST", URL, b"", **extra)
        assert_json_error(response, 413)
        assert raw.tell() <= settings.INTAKE_MAX_BODY_BYTES + 1
        assert Lead.objects.count() == 0

    def test_chunked_body_from_a_server_that_does_not_terminate_the_input_is_411(self, api, demo):
        """Without wsgi.input_terminated (e.g. runserver) reading to the end could hang: ask for a length."""
        response = chunked(api, URL, json.dumps({"email": "a@firma.example"}).encode(), terminated=False)
        assert_json_error(response, 411)
        assert Lead.objects.count() == 0


@pytest.mark.django_db
class TestLoneSurrogates:
    BODY = '{"email":"a@firma.example","\\ud800":"x"}'

    def test_intake_refuses_a_lone_surrogate_key_with_400(self, api, demo):
        response = api.post(URL, data=self.BODY, content_type="application/json")
        assert_json_error(response, 400)
        assert Lead.objects.count() == 0

    def test_preview_refuses_a_lone_surrogate_key_with_400(self, api, demo):
        assert_json_error(api.post(PREVIEW, data=self.BODY, content_type="application/json"), 400)

    def test_activities_refuse_a_lone_surrogate_key_with_400(self, api, demo, website):
        lead = Lead.objects.create(email="a@firma.example", intake_source=website[0], submitted_at=timezone.now(), received_at=timezone.now())
        response = api.post(f"/api/v1/leads/{lead.pk}/activities/", data='{"kind":"call","\\udfff":"x"}', content_type="application/json")
        assert_json_error(response, 400)

    def test_a_lone_surrogate_in_a_nested_key_is_400(self, api, demo):
        response = api.post(URL, data='{"email":"a@firma.example","utm":{"\\ud800":1}}', content_type="application/json")
        assert_json_error(response, 400)


@pytest.mark.django_db
class TestStrictNumbersAndBom:
    @pytest.mark.parametrize("value", [[], {}, [1], {"n": 1}, True, False, "٤٠٠", "４００", "۴۰۰", "1e3", " 12x", "12.5", 2.5, float("1e400")])
    def test_company_size_of_the_wrong_kind_is_refused(self, api, demo, value):
        raw = json.dumps({"email": "a@firma.example", "company_size": value}, allow_nan=True).replace("Infinity", "1e400")
        response = api.post(URL, data=raw, content_type="application/json")
        body = assert_json_error(response, 400)
        assert "company_size" in body["errors"]
        assert Lead.objects.count() == 0

    @pytest.mark.parametrize("value, stored", [(400, 400), ("400", 400), (" 12 ", 12), (3.0, 3), (0, 0), ("", None), (None, None)])
    def test_company_size_that_is_a_whole_number_or_empty(self, api, demo, value, stored):
        response = api.post(URL, data=json.dumps({"email": "a@firma.example", "company_size": value}), content_type="application/json")
        assert response.status_code == 201, response.content
        assert Lead.objects.get().company_size == stored

    @pytest.mark.parametrize("value, status, stored", [("12", 201, 12), ("", 201, None), ("٤٠٠", 400, None), ("12.0", 400, None)])
    def test_form_encoded_company_size_follows_the_same_rules(self, api, demo, value, status, stored):
        response = api.post(URL, data={"email": "a@firma.example", "company_size": value})
        assert response.status_code == status, response.content
        if status == 201:
            assert Lead.objects.get().company_size == stored

    def test_a_utf8_bom_before_the_json_is_tolerated(self, api, demo):
        raw = b"\xef\xbb\xbf" + json.dumps({"email": "zofia@fabryka-okien.example", "region": "Śląskie"}, ensure_ascii=False).encode()
        response = api.post(URL, data=raw, content_type="application/json")
        assert response.status_code == 201, response.content
        assert Lead.objects.get().region == "Śląskie"

    def test_a_bom_on_json_sent_as_a_form_by_plain_curl_is_tolerated(self, api, demo):
        raw = b"\xef\xbb\xbf" + json.dumps({"email": "zofia@fabryka-okien.example"}).encode()
        response = api.post(URL, data=raw, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 201, response.content


@pytest.mark.django_db
class TestDatabaseDropped:
    """SQLite-safe: the database failing under intake is simulated; the PostgreSQL test below drops it for real."""

    @pytest.mark.parametrize("error", [OperationalError("server closed the connection unexpectedly"), InterfaceError("connection already closed")])
    def test_a_database_error_mid_intake_is_a_json_503_with_retry_after_and_nothing_partial(self, demo, website, error):
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {website[1]}")
        with mock.patch("flows.services.leads.lead_route_decide", side_effect=error):
            response = client.post(URL, data=json.dumps({"email": "zofia@fabryka-okien.example"}), content_type="application/json")
        body = assert_json_error(response, 503)
        assert "server closed" not in json.dumps(body)
        assert 1 <= int(response["Retry-After"]) <= 120
        assert Lead.objects.count() == 0 and LeadEvent.objects.count() == 0

    def test_a_database_error_while_checking_the_token_is_a_json_503(self, demo, website):
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {website[1]}")
        with mock.patch("flows.api.intake_source_for_token", side_effect=OperationalError("gone")):
            response = client.get(URL)
        assert_json_error(response, 503)
        assert response.has_header("Retry-After")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_connection_terminated_mid_intake_on_postgresql_is_a_json_503_and_nothing_partial(demo, website):
    """pg_terminate_backend from a second connection while intake is inside its transaction: after the lead and its
    first events are written, as the rule's actions begin."""
    import psycopg

    from flows.services import leads

    settings_dict = connection.settings_dict
    conninfo = psycopg.conninfo.make_conninfo(
        dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432
    )
    real_actions = leads.rule_actions_carry_out
    killed = threading.Event()

    def actions_after_the_connection_is_killed(**kwargs):
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with psycopg.connect(conninfo, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        killed.set()
        return real_actions(**kwargs)

    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {website[1]}")
    with mock.patch("flows.services.leads.rule_actions_carry_out", side_effect=actions_after_the_connection_is_killed):
        response = client.post(URL, data=json.dumps({"email": "zofia@fabryka-okien.example", "source": "demo_request"}), content_type="application/json")
    assert killed.is_set()
    assert_json_error(response, 503)
    assert response.has_header("Retry-After")
    connections["default"].close()
    assert Lead.objects.count() == 0 and LeadEvent.objects.count() == 0
    # The next request gets a fresh connection and works.
    response = client.post(URL, data=json.dumps({"email": "zofia@fabryka-okien.example", "source": "demo_request"}), content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_hands_a_chunked_body_to_the_api_and_the_api_bounds_it(demo, website):
    """The real server: gunicorn de-chunks, the API reads to the end of a valid lead and stops past 1 MB."""
    import http.client
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    port = 8122
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(
            **{**connection.settings_dict, "HOST": connection.settings_dict["HOST"] or "127.0.0.1", "PORT": connection.settings_dict["PORT"] or 5432}
        ),
        "DEBUG": "1",
        "CONN_MAX_AGE": "0",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "--config", "/dev/null", "--bind", f"127.0.0.1:{port}", "--workers", "1", "leadrouter.wsgi:application"],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)

        def send_chunked(parts):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Bearer {website[1]}", "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
            conn.request("POST", URL, body=iter(parts), headers=headers, encode_chunked=True)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type"), response.read()

        lead = json.dumps({"email": "zofia@fabryka-okien.example", "source": "demo_request"}).encode()
        status, content_type, body = send_chunked([lead[:10], lead[10:]])
        assert status == 201, body
        assert content_type.startswith("application/json")
        # A 3 MB body: the answer comes once a little over 1 MB has been sent, before the rest is sent at all.
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {website[1]}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode())
        chunk = b"x" * 65536
        for _ in range(18):  # 1.18 MB of the 3 MB
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        assert answer.status == 413, answer.read()
        assert answer.getheader("Content-Type").startswith("application/json")
        assert "body" in json.loads(answer.read())["errors"]
        sock.close()
        assert Lead.objects.filter(email="zofia@fabryka-okien.example").count() == 1
        assert Lead.objects.count() == 1
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize(
    "handler, status",
    [
        (lambda r: door.bad_request(r, Exception("x")), 400),
        (lambda r: door.permission_denied(r, Exception("x")), 403),
        (lambda r: door.page_not_found(r, Exception("x")), 404),
        (door.server_error, 500),
        (lambda r: door.csrf_failure(r, reason="CSRF cookie not set."), 403),
    ],
)
def test_every_error_handler_answers_json_under_the_api_and_a_page_elsewhere(rf, handler, status):
    api_answer = handler(rf.post("/api/v1/leads/"))
    assert api_answer.status_code == status
    assert api_answer["Content-Type"].startswith("application/json")
    assert json.loads(api_answer.content)["errors"]
    page = handler(rf.post("/admin/login/"))
    assert page.status_code == status
    assert page["Content-Type"].startswith("text/html")
