"""The manager's dashboard: speed to lead, conversion, unhandled leads, quality, fairness, rule hits."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from routing.metrics import dashboard
from routing.models import Lead


def take_in(api, **fields):
    response = api.post("/api/v1/leads/", data=json.dumps(fields), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
def test_dashboard_counts_quality_conversion_fairness_and_rule_hits(api, demo):
    first = take_in(api, email="a@firma-a.example", source="demo_request")  # kasia
    take_in(api, email="b@firma-b.example", source="demo_request")  # marek
    take_in(api, email="student@gmail.com", job_title="Student")  # disqualified
    api.post(f"/api/v1/leads/{first['id']}/activities/", data='{"kind": "call"}', content_type="application/json")

    d = dashboard(now=timezone.now() + timedelta(hours=1), days=7)
    assert d.received == 3
    assert d.disqualified_share == pytest.approx(33.3)
    assert d.contacted_share == 50.0
    assert d.open_now == 1
    assert {r.name: (r.assigned, r.contacted) for r in d.reps} == {"Kasia Nowak": (1, 1), "Marek Zieliński": (1, 0)}
    hits = {r["name"]: r["period_hits"] for r in d.rules}
    assert hits["Demo request → Demo pool"] == 2
    assert hits["Students and interns → disqualify"] == 1
    assert d.median_response_minutes is not None


@pytest.mark.django_db
def test_lead_past_its_deadline_counts_as_breached(api, demo):
    take_in(api, email="a@firma-a.example", source="demo_request")
    lead = Lead.objects.get()
    later = lead.sla_due_at + timedelta(minutes=1)
    assert dashboard(now=later, days=7).breached_now == 1


@pytest.mark.django_db
def test_dashboard_page_is_for_the_manager_only(demo, kasia):
    manager = Client()
    manager.force_login(get_user_model().objects.get(username="manager"))
    page = manager.get("/admin/dashboard/?days=7")
    assert page.status_code == 200
    assert "Rule hits" in page.content.decode()
    rep = Client()
    rep.force_login(kasia.user)
    assert rep.get("/admin/dashboard/").status_code == 302  # not staff: to the admin login


@pytest.mark.django_db
def test_manager_downloads_the_routing_setup_and_checks_it_back_without_writing(demo):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from routing.models import Rule

    manager = Client()
    manager.force_login(get_user_model().objects.get(username="manager"))
    download = manager.get("/admin/routing-setup/?download=1")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    document = json.loads(download.content)
    assert document["version"] == 1

    document["rules"][0]["name"] = "Renamed in staging"
    upload = SimpleUploadedFile("setup.json", json.dumps(document).encode(), content_type="application/json")
    page = manager.post("/admin/routing-setup/", {"document": upload, "dry_run": "on"})
    assert page.status_code == 200
    assert not Rule.objects.filter(name="Renamed in staging").exists()

    upload = SimpleUploadedFile("setup.json", json.dumps(document).encode(), content_type="application/json")
    manager.post("/admin/routing-setup/", {"document": upload})
    assert Rule.objects.filter(name="Renamed in staging", is_active=True).exists()


@pytest.mark.django_db
def test_a_broken_routing_document_lists_its_problems_and_writes_nothing(demo):
    from django.core.files.uploadedfile import SimpleUploadedFile

    manager = Client()
    manager.force_login(get_user_model().objects.get(username="manager"))
    page = manager.post("/admin/routing-setup/", {"document": SimpleUploadedFile("x.json", b"{not json")})
    assert "not valid JSON" in page.content.decode()
    bad = {"version": 1, "rules": [{"name": "X", "target": "rep", "rep": "nikt@techpol.example"}]}
    page = manager.post("/admin/routing-setup/", {"document": SimpleUploadedFile("x.json", json.dumps(bad).encode())})
    assert "Nothing was imported" in page.content.decode()
