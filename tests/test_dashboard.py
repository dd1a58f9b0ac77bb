"""The manager's dashboard: speed to lead, conversion, unhandled leads, quality, fairness, rule hits."""

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from flows.metrics import dashboard
from routing.models import Lead, Rule


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


# ---------------------------------------------------------------------------------------------- known data set
#
# Wednesday 11 March 2026, noon in Warsaw. Seven leads arrived at 10:00 (assigned a minute later):
#   Kasia: three demo requests (Critical, 15 min), answered after 10, 20 and 30 minutes -> 1 met, 2 breached
#   Marek: two webinars (Default, 120 min): one answered after 40 minutes (met), one never (past due: breached)
#   Ola:   one report download, not answered yet, due at 13:00 (still running)
#   one student, disqualified
#   Ewa, Piotr, Tomek, Jan, Anna: nothing.

WARSAW = ZoneInfo("Europe/Warsaw")
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=WARSAW)
ARRIVED = datetime(2026, 3, 11, 10, 0, tzinfo=WARSAW)


@pytest.fixture
def known(demo, kasia, marek, ola):
    from reps.models import Pool
    from sla.models import SlaPolicy
    from tests.factories import IntakeSourceFactory, LeadFactory

    source = IntakeSourceFactory()
    critical, default = SlaPolicy.objects.get(name="Critical"), SlaPolicy.objects.get(name="Default")
    demo_pool, juniors = Pool.objects.get(name="Demo"), Pool.objects.get(name="Juniors")
    demo_rule = Rule.objects.get(name="Demo request → Demo pool")
    webinar_rule = Rule.objects.get(name="Webinar → Juniors pool")

    def lead(*, owner=None, minutes=None, due=15, source_name="demo_request", pool=None, policy=None, rule=None, status=None, company="Firma"):
        fields = dict(
            intake_source=source, submitted_at=ARRIVED, received_at=ARRIVED, source=source_name, company=company, owner=owner, pool=pool,
            rule=rule, sla_policy=policy, sla_due_at=ARRIVED + timedelta(minutes=due) if due else None,
        )  # fmt: skip
        if owner is not None:
            fields.update(assigned_at=ARRIVED + timedelta(minutes=1), system_delay_seconds=60, status=Lead.Status.ASSIGNED)
        if minutes is not None:
            fields.update(
                first_response_at=ARRIVED + timedelta(minutes=minutes), rep_delay_seconds=(minutes - 1) * 60,
                rep_delay_business_minutes=minutes - 1, status=Lead.Status.CONTACTED,
            )  # fmt: skip
        if status is not None:
            fields["status"] = status
        return LeadFactory(**fields)

    for minutes in (10, 20, 30):
        lead(owner=kasia, minutes=minutes, pool=demo_pool, policy=critical, rule=demo_rule)
    lead(owner=marek, minutes=40, due=120, source_name="webinar", pool=juniors, policy=default, rule=webinar_rule)
    lead(owner=marek, due=90, source_name="webinar", pool=juniors, policy=default, rule=webinar_rule, company="Zapomniana sp. z o.o.")
    lead(owner=ola, due=180, source_name="report_download", policy=default)
    lead(due=None, source_name="webinar", status=Lead.Status.DISQUALIFIED)
    with time_machine.travel(NOW, tick=False):  # the pages read the clock
        yield


def read_known(**scope):
    from flows.metrics import scope_for

    return dashboard(now=NOW, scope=scope_for(now=NOW, preset="today", **scope))


@pytest.mark.django_db
def test_known_week_speed_to_lead_median_and_p90_split_into_system_and_rep_delay(known):
    d = read_known()
    assert (d.received, d.disqualified, d.routed, d.contacted) == (7, 1, 6, 4)
    assert d.disqualified_share == 14.3 and d.contacted_share == 66.7
    s = d.speed
    assert (s.total_minutes.median, s.total_minutes.p90) == (25.0, 37.0)  # percentile_cont over 10, 20, 30, 40
    assert (s.rep_minutes.median, s.rep_minutes.p90) == (24.0, 36.0)
    assert (s.rep_business_minutes.median, s.rep_business_minutes.p90) == (24.0, 36.0)
    assert (s.system_seconds.median, s.system_seconds.p90) == (60.0, 60.0)
    assert dict(s.buckets) == {"0–5": 0, "5–15": 1, "15–30": 2, "30–60": 1, "60–120": 0, "120–240": 0, "240+": 0}


@pytest.mark.django_db
def test_known_week_sla_per_rep_and_per_policy_and_unhandled(known):
    d = read_known()
    assert (d.sla.met, d.sla.breached, d.sla.pending, d.sla.met_rate) == (2, 3, 1, 40.0)
    per_rep = {r.name: (r.sla.met, r.sla.breached, r.sla.pending) for r in d.reps}
    assert per_rep == {"Kasia Nowak": (1, 2, 0), "Marek Zieliński": (1, 1, 0), "Ola Wójcik": (0, 0, 1)}
    assert {p.name: (p.met, p.breached, p.pending) for p in d.policies} == {"Critical": (1, 2, 0), "Default": (1, 1, 1)}
    assert {u.name: u.n for u in d.unhandled} == {
        "Unassigned leads": 0,
        "Past the SLA, not contacted": 1,
        "Within the SLA, not contacted yet": 1,
        "No SLA clock, not contacted": 0,
    }
    assert (d.open_now, d.breached_now) == (2, 1)
    assert [lead.company for lead in d.overdue] == ["Zapomniana sp. z o.o."]


@pytest.mark.django_db
def test_known_week_distribution_includes_the_reps_and_pools_with_no_lead(known):
    d = read_known()
    leads = {r.name: r.assigned for r in d.distribution}
    assert leads["Ewa Lewandowska"] == 0  # the very unfairness the table should show
    assert leads == {
        "Anna Kowalczyk": 0, "Ewa Lewandowska": 0, "Jan Schmidt": 0, "Kasia Nowak": 3, "Marek Zieliński": 2, "Ola Wójcik": 1,
        "Piotr Kamiński": 0, "Tomek Wiśniewski": 0,
    }  # fmt: skip
    assert {r.name: r.share for r in d.distribution if r.assigned} == {"Kasia Nowak": 50.0, "Marek Zieliński": 33.3, "Ola Wójcik": 16.7}
    assert {p.name: p.n for p in d.pools} == {"Demo": 3, "Juniors": 2, "Rapid response": 0}
    kasia = next(r for r in d.distribution if r.name == "Kasia Nowak")
    assert (kasia.median_response_minutes, kasia.p90_response_minutes) == (19.0, 27.0)


@pytest.mark.django_db
def test_known_week_conversion_quality_rule_hits_and_rules_idle_for_90_days(known):
    d = read_known()
    by_source = {s.source: (s.n, s.contacted, s.disqualified) for s in d.by_source}
    assert by_source == {"demo_request": (3, 3, 0), "webinar": (3, 1, 1), "report_download": (1, 0, 0)}
    webinar = next(s for s in d.by_source if s.source == "webinar")
    assert (webinar.contacted_share, webinar.disqualified_share) == (50.0, 33.3)
    hits = {r["name"]: r["period_hits"] for r in d.rules}
    assert hits["Demo request → Demo pool"] == 3 and hits["Webinar → Juniors pool"] == 2
    idle = {r["name"] for r in d.idle_rules}
    assert "Demo request → Demo pool" not in idle and "Students and interns → disqualify" in idle
    assert len(idle) == 11  # 13 demo rules, 2 of them hit


@pytest.mark.django_db
def test_team_and_source_filters(known):
    from reps.models import Pool

    juniors = Pool.objects.get(name="Juniors")
    d = read_known(pool_id=juniors.pk)
    # The Juniors' leads: those that came through the pool and those owned by its members (Marek, Ola).
    assert d.received == 3
    assert {r.name for r in d.distribution} == {"Marek Zieliński", "Ola Wójcik"}
    assert [p.name for p in d.pools] == ["Juniors"]
    d = read_known(source="demo_request")
    assert (d.received, d.contacted_share) == (3, 100.0)


@pytest.mark.django_db
def test_a_custom_range_covers_whole_local_days(known):
    from flows.metrics import scope_for

    scope = scope_for(now=NOW, preset="custom", first=date(2026, 3, 12), last=date(2026, 3, 1))  # given the wrong way round
    assert (scope.first_day, scope.last_day) == (date(2026, 3, 1), date(2026, 3, 12))
    assert scope.since == datetime(2026, 3, 1, tzinfo=WARSAW) and scope.until == datetime(2026, 3, 13, tzinfo=WARSAW)
    d = dashboard(now=NOW, scope=scope)
    assert d.received == 7 and len(d.days) == 12
    assert [(day.day, day.received, day.breached) for day in d.days if day.received] == [(date(2026, 3, 11), 7, 3)]
    assert dashboard(now=NOW, scope=scope_for(now=NOW, preset="custom", first=date(2026, 3, 1), last=date(2026, 3, 10))).received == 0


def test_percentile_cont_interpolates_as_postgresql_does():
    from flows.metrics import percentile_cont

    assert percentile_cont([], 0.5) is None
    assert percentile_cont([7.0], 0.9) == 7.0
    assert percentile_cont([10.0, 20.0, 30.0, 40.0], 0.5) == 25.0
    assert percentile_cont([10.0, 20.0, 30.0, 40.0], 0.9) == pytest.approx(37.0)


# ---------------------------------------------------------------------------------------------- queries


class QueryCounter:
    """Counts the SQL statements run, through `connection.execute_wrapper`."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def queries_of(function) -> int:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        function()
    return counter.count


def team_of(n: int, *, leads_each: int):
    """n reps in one pool, each with answered, open and breached leads."""
    from reps.models import Pool, PoolMembership
    from tests.factories import IntakeSourceFactory, LeadFactory, RepFactory

    pool = Pool.objects.create(name=f"Team of {n}")
    source = IntakeSourceFactory()
    for i in range(n):
        rep = RepFactory(user__username=f"rep{n}x{i}")
        PoolMembership.objects.create(pool=pool, rep=rep, position=i)
        for j in range(leads_each):
            answered = j % 3 != 0
            LeadFactory(
                intake_source=source, owner=rep, pool=pool, source=f"src{j % 4}", submitted_at=ARRIVED, received_at=ARRIVED,
                status=Lead.Status.CONTACTED if answered else Lead.Status.ASSIGNED, sla_due_at=ARRIVED + timedelta(minutes=15 + j),
                first_response_at=ARRIVED + timedelta(minutes=5 + j) if answered else None, rep_delay_seconds=300 + j if answered else None,
                rep_delay_business_minutes=5 if answered else None, system_delay_seconds=30, assigned_at=ARRIVED,
            )  # fmt: skip
    return pool


@pytest.mark.django_db
def test_dashboard_and_wall_queries_stay_flat_with_3_or_30_reps():
    from flows.metrics import scope_for, wall

    team_of(3, leads_each=2)
    small = (queries_of(lambda: dashboard(now=NOW, days=7)), queries_of(lambda: wall(now=NOW)))
    pool = team_of(30, leads_each=6)
    big = (queries_of(lambda: dashboard(now=NOW, days=7)), queries_of(lambda: wall(now=NOW)))
    assert big == small
    assert small[0] <= 20 and small[1] <= 8
    with_filters = queries_of(lambda: dashboard(now=NOW, scope=scope_for(now=NOW, preset="7", pool_id=pool.pk, source="src1")))
    assert with_filters == small[0]


# ---------------------------------------------------------------------------------------------- pages, charts, CSV


@pytest.fixture
def manager_client(demo):
    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


@pytest.mark.django_db
def test_dashboard_page_has_a_heading_charts_and_tables_for_every_figure(known, manager_client):
    page = manager_client.get("/admin/dashboard/?period=today")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Dashboard</h1>" in html
    for key in ("speed", "response-times", "sla-reps", "sla-policies", "unhandled", "conversion", "quality", "reps", "pools", "rules", "idle-rules", "days"):
        assert f'id="{key}"' in html and f"/admin/dashboard/csv/{key}/" in html
    assert html.count('class="lr-chart"') >= 11
    assert "<script" not in html.split('id="content"')[1]  # charts need no JavaScript
    assert "Ewa Lewandowska" in html


@pytest.mark.django_db
def test_charts_are_well_formed_svg_with_dot_decimals_in_polish_too(known, manager_client):
    import re
    import xml.etree.ElementTree as ET

    for language in ("en", "pl"):
        html = manager_client.get("/admin/dashboard/?period=today", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        charts = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="lr-chart".*?</svg>', html, flags=re.S)
        assert len(charts) >= 11
        for svg in charts:
            root = ET.fromstring(svg)
            assert root.find("{http://www.w3.org/2000/svg}title").text
            for element in root.iter():
                for name in ("x", "y", "width", "height", "x1", "x2", "y1", "y2"):
                    if name in element.attrib:
                        float(element.attrib[name])  # "12,5" would fail: coordinates never follow the language
    assert "40,0" in manager_client.get("/admin/dashboard/?period=today", HTTP_ACCEPT_LANGUAGE="pl").content.decode()  # labels do


@pytest.mark.django_db
def test_lead_text_is_escaped_on_the_dashboard_in_charts_and_in_csv(known, manager_client, marek):
    import re
    import xml.etree.ElementTree as ET

    hostile = "<script>alert(1)</script>"
    Lead.objects.filter(company="Zapomniana sp. z o.o.").update(company=hostile)
    Rule.objects.filter(name="Webinar → Juniors pool").update(name=hostile)  # a label in the rule-hits chart
    marek.name = hostile
    marek.save()
    html = manager_client.get("/admin/dashboard/?period=today").content.decode()
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    rules_chart = re.search(r'<section class="lr-figure" id="rules".*?(<svg.*?</svg>)', html, flags=re.S).group(1)
    labels = [element.text for element in ET.fromstring(rules_chart).iter("{http://www.w3.org/2000/svg}text")]
    assert hostile in labels  # the parsed SVG text is the name itself, shown as text

    csv_text = b"".join(manager_client.get("/admin/dashboard/leads.csv?period=today").streaming_content).decode("utf-8-sig")
    assert hostile in csv_text


@pytest.mark.django_db
def test_each_figure_downloads_as_csv_with_a_bom_and_the_page_filters(known, manager_client):
    import csv
    import io

    response = manager_client.get("/admin/dashboard/csv/reps/?period=today")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="leadrouter-reps-2026-03-11-2026-03-11.csv"'
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Rep", "Leads", "Share (%)"]
    assert ["Ewa Lewandowska", "0"] == rows[[r[0] for r in rows].index("Ewa Lewandowska")][:2]
    assert manager_client.get("/admin/dashboard/csv/no-such-chart/").status_code == 404

    from reps.models import Pool

    juniors = Pool.objects.get(name="Juniors").pk
    response = manager_client.get(f"/admin/dashboard/leads.csv?period=today&pool={juniors}")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:4] == ["ID", "Received", "Submitted", "Status"] and len(rows) == 1 + 3


@pytest.mark.django_db
def test_a_company_a_spreadsheet_would_run_as_a_formula_is_written_as_text(known, manager_client):
    Lead.objects.filter(company="Zapomniana sp. z o.o.").update(company='=HYPERLINK("http://evil.example","x")')
    text = b"".join(manager_client.get("/admin/dashboard/leads.csv?period=today").streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in text


@pytest.mark.django_db
def test_dashboard_filters_by_custom_range_team_and_source_and_refuses_half_a_range(known, manager_client):
    from reps.models import Pool

    juniors = Pool.objects.get(name="Juniors").pk
    page = manager_client.get(f"/admin/dashboard/?first=2026-03-01&last=2026-03-31&pool={juniors}&source=webinar")
    assert page.status_code == 200
    d = page.context["d"]
    assert d.scope.preset == "custom" and (d.scope.first_day, d.scope.last_day) == (date(2026, 3, 1), date(2026, 3, 31))
    assert d.received == 2  # Marek's two webinars (the disqualified webinar came through no pool and has no owner)
    page = manager_client.get("/admin/dashboard/?period=custom&first=2026-03-01")
    assert page.status_code == 200 and "Choose the first and the last day." in page.content.decode()
    assert manager_client.get("/admin/dashboard/?period=bogus&pool=abc&first=yesterday").status_code == 200


@pytest.mark.django_db
def test_dashboard_and_csv_need_the_lead_view_permission(demo):
    staff = get_user_model().objects.create_user(username="intern", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/dashboard/").status_code == 403
    assert client.get("/admin/dashboard/csv/reps/").status_code == 403
    assert client.get("/admin/dashboard/leads.csv").status_code == 403
    anonymous = Client()
    assert anonymous.get("/admin/dashboard/leads.csv").status_code == 302
