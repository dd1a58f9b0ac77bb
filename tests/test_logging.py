"""JSON logs: one object per line, and the lead's id on every line of that lead's processing.

Intake, the SLA sweep and outbox delivery each say which lead they work on (core/logcontext.py); the
filter sits on the handler, so lines from Django's and django-q2's loggers carry the id too.
"""

import io
import json
import logging
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.test import Client
from django_q.conf import Conf

from core.logcontext import JsonFormatter, LeadIdFilter, TextFormatter, lead_log_context, logging_config
from flows.services.sweep import sla_tick
from notifications.models import OutboxMessage
from notifications.tasks import outbox_send
from routing.models import Lead
from routing.services.intake import intake_source_create

TUESDAY_10 = datetime.fromisoformat("2026-11-17T10:00:00+01:00")


@pytest.fixture
def json_lines():
    """Every record written meanwhile, through the production handler set-up (filter + JSON formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LeadIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.mark.django_db(transaction=True)  # real commits: the after-commit work runs inside the intake, as in production
def test_every_log_line_of_a_leads_intake_carries_its_id(demo, json_lines):
    _source, token = intake_source_create(name="Website form")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    logging.getLogger("tests").info("before the lead")

    response = api.post(
        "/api/v1/leads/",
        {"email": "zofia@fabryka-okien.example", "first_name": "Zofia", "source": "demo_request", "company": "Fabryka Okien"},
        content_type="application/json",
    )
    logging.getLogger("tests").info("after the lead")

    assert response.status_code == 201, response.content
    lead_id = response.json()["id"]
    lines = json_lines()
    during = lines[1:-1]
    assert during, "the intake wrote no log line at all"
    assert [line["lead_id"] for line in during] == [lead_id] * len(during), during
    assert any(line["logger"] == "django-q" for line in during)  # a library's line, not only ours
    assert lines[0]["lead_id"] is None and lines[-1]["lead_id"] is None  # nothing leaks out of the intake


@pytest.mark.django_db
def test_the_sla_sweep_and_outbox_delivery_log_with_the_lead_they_handle(demo, json_lines, monkeypatch, django_capture_on_commit_callbacks):
    from tests.factories import LeadFactory

    monkeypatch.setattr(Conf, "SYNC", True)
    lead = LeadFactory(owner=demo["kasia"], status=Lead.Status.ASSIGNED, source="demo_request", submitted_at=TUESDAY_10, received_at=TUESDAY_10)
    from sla.services import lead_sla_start

    lead_sla_start(lead=lead, now=TUESDAY_10)
    with django_capture_on_commit_callbacks(execute=False):  # the sweep only queues the reminder here
        fired = sla_tick(now=TUESDAY_10 + timedelta(minutes=16))
    assert fired == 1
    sweep_lines = [line for line in json_lines() if line["logger"].startswith(("sla", "flows.services.sweep"))]
    assert sweep_lines and all(line["lead_id"] == lead.pk for line in sweep_lines[:-1])  # the summary line is about no lead

    message = OutboxMessage.objects.filter(lead=lead).first()
    assert message is not None
    before = len(json_lines())
    assert outbox_send(message.pk) == "sent"
    delivery = json_lines()[before:]
    assert delivery and {line["lead_id"] for line in delivery} == {lead.pk}
    assert mail.outbox


def test_a_json_line_is_one_object_whatever_the_message():
    record = logging.LogRecord("leadrouter", logging.ERROR, __file__, 1, "bad\nline \ud800 %s", ("arg",), None)
    try:
        raise ValueError("multi\nline")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    record.custom = object()  # an `extra=` value JSON cannot hold
    LeadIdFilter().filter(record)

    text = JsonFormatter().format(record)

    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == "bad\nline \ud800 arg" and entry["level"] == "ERROR" and entry["lead_id"] is None
    assert "ValueError: multi" in entry["exception"] and entry["custom"].startswith("<object")


def test_text_logs_name_the_lead_too():
    record = logging.LogRecord("routing", logging.INFO, __file__, 1, "routed", (), None)
    with lead_log_context(17):
        LeadIdFilter().filter(record)

    assert TextFormatter().format(record) == "INFO routing [lead 17]: routed"


def test_log_format_json_switches_the_console_handler():
    assert logging_config(log_format="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    assert logging_config(log_format="text", level="INFO")["handlers"]["console"]["formatter"] == "text"
