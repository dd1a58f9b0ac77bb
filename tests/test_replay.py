"""What-if replay: Magda runs a draft over last month's leads and sees who gains and who loses, before publishing.

October 2026 at TechPol: Ola is out of office all month, so the Juniors pool (webinars, and the fallback) gives
every webinar lead to Marek; Marek is out on Friday 30 October too, and so is Kasia, that Friday's rep on duty
(who would otherwise catch what the Juniors pool cannot place)."""

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reps.models import Absence, Pool, RepDayLoad
from routing.models import Lead, LeadEvent, Rule, RuleTable
from routing.replay import replay_run
from routing.services.rule_tables import draft_start

WARSAW = ZoneInfo("Europe/Warsaw")
SINCE = datetime(2026, 10, 1, tzinfo=WARSAW)
UNTIL = datetime(2026, 11, 1, tzinfo=WARSAW)
FRIDAY_30 = datetime(2026, 10, 30, 10, 0, tzinfo=WARSAW)


def workdays(start: date, count: int):
    day = start
    while count:
        if day.weekday() < 5 and day != FRIDAY_30.date():
            yield datetime(day.year, day.month, day.day, 10, 0, tzinfo=WARSAW)
            count -= 1
        day += timedelta(days=1)


@pytest.fixture
def magda(demo):
    return get_user_model().objects.get(username="manager")


@pytest.fixture
def october(demo, api, ola, marek, kasia):
    """Ola away all October, Marek and Kasia (on duty on Fridays) away on the 30th; leads posted through the
    intake API on their day."""
    Absence.objects.create(rep=ola, starts_on=date(2026, 10, 1), ends_on=date(2026, 10, 31), reason="leave")
    Absence.objects.create(rep=marek, starts_on=FRIDAY_30.date(), ends_on=FRIDAY_30.date(), reason="training")
    Absence.objects.create(rep=kasia, starts_on=FRIDAY_30.date(), ends_on=FRIDAY_30.date(), reason="training")

    def post(when: datetime, **fields) -> dict:
        fields.setdefault("submitted_at", when.isoformat())
        with time_machine.travel(when, tick=False):
            response = api.post("/api/v1/leads/", data=json.dumps(fields), content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()

    return post


@pytest.fixture
def last_month(october):
    """40 webinar leads (to Marek), 2 German ones (to Jan) and 2 enterprise ones on the 30th (to Tomek)."""
    days = list(workdays(date(2026, 10, 1), 20))
    for i in range(40):
        october(days[i // 2] + timedelta(minutes=i), email=f"lead{i}@firma{i}.example", source="webinar")
    for i in range(2):
        october(datetime(2026, 10, 6, 11, i, tzinfo=WARSAW), email=f"kunde{i}@gmbh{i}.example", language="de", source="contact_form")
        october(FRIDAY_30 + timedelta(minutes=i), email=f"ceo{i}@korpo{i}.example", company_size=500, source="contact_form")
    return october


def set_target(draft, start, **target):
    rule = Rule.all_tables.get(table=draft, name__startswith=start)
    rule.target, rule.target_rep, rule.target_pool = target["target"], target.get("rep"), target.get("pool")
    rule.save()
    return rule


@pytest.fixture
def kasia_draft(magda, kasia):
    """Webinars and German forms to Kasia; enterprise leads to the Juniors pool."""
    draft = draft_start(user=magda, name="Kasia takes webinars")
    set_target(draft, "Webinar", target=Rule.Target.REP, rep=kasia)
    set_target(draft, "German", target=Rule.Target.REP, rep=kasia)
    set_target(draft, "Enterprise", target=Rule.Target.POOL, pool=Pool.objects.get(name="Juniors"))
    return draft


def test_replay_shows_kasia_gains_the_leads_marek_loses_and_two_become_unassigned(last_month, kasia_draft, kasia, marek, jan, tomek):
    result = replay_run(table=kasia_draft, since=SINCE, until=UNTIL)

    assert len(result.leads) == 44 and len(result.moved) == 44
    assert result.headline() == "Kasia Nowak +42, Marek Zieliński −40, Jan Schmidt −2, Tomek Wiśniewski −2, 2 unassigned"
    reps = {d.name: (d.moved_in, d.moved_out) for d in result.reps}
    assert reps == {kasia.name: (42, 0), marek.name: (0, 40), jan.name: (0, 2), tomek.name: (0, 2)}
    assert [(d.name, d.moved_in, d.moved_out) for d in result.pools] == [("Juniors", 0, 40)]
    assert result.newly_unassigned == 2 and result.no_longer_unassigned == 0
    assert result.rules == []  # the same rules match; they only send the leads elsewhere
    # The live rules, replayed the same way, give every lead the owner and rule it actually got.
    assert result.agrees_with_history == 44


def test_drill_down_lists_the_leads_behind_a_number_with_both_explanations(last_month, kasia_draft, kasia, marek, tomek):
    result = replay_run(table=kasia_draft, since=SINCE, until=UNTIL)

    into_kasia = result.leads_for(rep=kasia.pk, direction="in")
    assert len(into_kasia) == 42 and all(r.live.rep_id in (marek.pk, result_rep_id(result, "Jan Schmidt")) for r in into_kasia)
    assert len(result.leads_for(rep=marek.pk, direction="out")) == 40
    unassigned = result.leads_for(unassigned=True)
    assert [r.email for r in unassigned] == ["ceo0@korpo0.example", "ceo1@korpo1.example"]
    row = result.rows(unassigned)[0]
    assert row["live"] == "Tomek Wiśniewski, rule “Enterprise (> 250 employees) → Tomek”"
    assert row["draft"] == "unassigned (rule “Enterprise (> 250 employees) → Tomek”)"
    assert any("company size “500” > 250" in line for line in row["draft_why"])
    assert any("nobody in the pool can take the lead" in line for line in row["draft_why"])


def test_the_replay_writes_a_leads_why_and_score_lines_only_when_read_and_then_as_intake_wrote_them(last_month, kasia_draft):
    """The page lists a few dozen of up to a thousand leads: only those pay for their lines (Messages)."""
    result = replay_run(table=kasia_draft, since=SINCE, until=UNTIL)
    lazy = ("live_explanation", "draft_explanation", "score_breakdown")
    assert not any(name in row.__dict__ for row in result.leads for name in lazy)
    for row in result.leads[:3]:
        stored = Lead.objects.get(pk=row.lead_id)
        assert [str(line) for line in row.live_explanation] == [str(line) for line in stored.explanation]  # the live table, replayed
        assert [dict(item) for item in row.score_breakdown] == stored.score_breakdown and row.score == stored.score
        assert row.draft_explanation[-1] and all(name in row.__dict__ for name in lazy)


def test_the_replay_reads_the_leads_without_their_stored_why(last_month):
    from routing.replay.load import replay_leads

    leads = replay_leads(since=SINCE, until=UNTIL)
    assert len(leads) == 44 and all({"explanation", "score_breakdown"} <= lead.get_deferred_fields() for lead in leads)


def result_rep_id(result, name):
    return next(pk for pk, rep_name in result.rep_names.items() if rep_name == name)


def test_replay_writes_nothing(last_month, kasia_draft):
    juniors = Pool.objects.get(name="Juniors")
    before = (
        juniors.rotation,
        sorted(Rule.all_tables.values_list("id", "hits", "last_hit_at", "updated_at")),
        sorted(RepDayLoad.objects.values_list("rep_id", "day", "assigned")),
        Lead.objects.count(),
        LeadEvent.objects.count(),
        sorted(Lead.objects.values_list("id", "owner_id", "rule_id", "status")),
    )
    with CaptureQueriesContext(connection) as ctx:
        replay_run(table=kasia_draft, since=SINCE, until=UNTIL)
    writes = [q["sql"] for q in ctx.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    juniors.refresh_from_db()
    after = (
        juniors.rotation,
        sorted(Rule.all_tables.values_list("id", "hits", "last_hit_at", "updated_at")),
        sorted(RepDayLoad.objects.values_list("rep_id", "day", "assigned")),
        Lead.objects.count(),
        LeadEvent.objects.count(),
        sorted(Lead.objects.values_list("id", "owner_id", "rule_id", "status")),
    )
    assert after == before


def test_replay_queries_do_not_grow_with_the_leads(october, kasia_draft):
    """Facts are looked up once per distinct domain and place, the repeat facts in one query."""

    def queries(n):
        for i, when in enumerate(workdays(date(2026, 10, 5), n)):
            october(when + timedelta(minutes=i + n), email=f"p{n}-{i}@firma.example", source="webinar", region="Mazowieckie")
        with CaptureQueriesContext(connection) as ctx:
            replay_run(table=kasia_draft, since=SINCE, until=UNTIL)
        return len(ctx.captured_queries)

    assert queries(5) == queries(25)


def test_replay_takes_the_newest_leads_of_the_period_up_to_the_limit(last_month, kasia_draft):
    result = replay_run(table=kasia_draft, since=SINCE, until=UNTIL, limit=2)
    assert [r.email for r in result.leads] == ["ceo0@korpo0.example", "ceo1@korpo1.example"]
    assert replay_run(table=kasia_draft, since=UNTIL, until=UNTIL + timedelta(days=30)).leads == []


def test_a_repeat_lead_counts_only_earlier_leads_and_follows_the_drafts_owner(october, kasia_draft, kasia, marek):
    first = october(datetime(2026, 10, 5, 10, tzinfo=WARSAW), email="wraca@firma.example", source="webinar")
    again = october(datetime(2026, 10, 6, 10, tzinfo=WARSAW), email="wraca@firma.example", source="contact_form")
    assert (first["owner"]["email"], again["owner"]["email"]) == (marek.email, marek.email)

    result = replay_run(table=kasia_draft, since=SINCE, until=UNTIL)
    by_id = {r.lead_id: r for r in result.leads}
    one, two = by_id[first["id"]], by_id[again["id"]]
    assert any("no earlier lead has the e-mail" in line for line in one.draft_explanation)  # the later lead does not count
    assert one.draft.rep_id == kasia.pk
    # The previous owner of the second lead is whom the draft gave the first one to.
    assert two.live.rep_id == marek.pk and two.draft.rep_id == kasia.pk
    assert any("Repeat lead → previous owner" in line and "matches" in line for line in two.draft_explanation)


def test_rules_gaining_and_losing_hits(october, magda):
    for i in range(3):
        october(datetime(2026, 10, 7, 10, i, tzinfo=WARSAW), email=f"shop{i}@sklep{i}.example", industry="E-commerce", language="de")
    draft = draft_start(user=magda)
    ecommerce = Rule.all_tables.get(table=draft, name__startswith="E-commerce")
    ecommerce.position = 0
    ecommerce.save()

    result = replay_run(table=draft, since=SINCE, until=UNTIL)
    assert [(d.name, d.before, d.after, d.change_shown) for d in result.rules] == [
        ("E-commerce → specialist", 0, 3, "+3"),
        ("German form → Jan", 3, 0, "−3"),
    ]
    assert len(result.leads_for(rule=str(ecommerce.lineage), direction="in")) == 3
    assert result.headline() == "Kasia Nowak +3, Jan Schmidt −3"


def test_magda_sees_the_effect_on_the_what_if_page_and_drills_down(last_month, kasia_draft, magda, client, kasia):
    client.force_login(magda)
    url = reverse("admin:routing_rule_draft_what_if")
    with time_machine.travel(datetime(2026, 11, 1, 12, tzinfo=WARSAW), tick=False):
        assert client.get(url).status_code == 200  # opens on the last 30 days
        page = client.get(url, {"days": "last_month"}).content.decode()
        assert "Kasia Nowak +42, Marek Zieliński −40, Jan Schmidt −2, Tomek Wiśniewski −2, 2 unassigned" in page
        assert f"rep={kasia.pk}&amp;dir=in" in page

        drill = client.get(url, {"days": "last_month", "limit": 1000, "rep": kasia.pk, "dir": "in"}).content.decode()
        assert "42 leads" in drill and "lead0@firma0.example" in drill
        assert "Marek Zieliński via Juniors, rule “Webinar → Juniors pool”" in drill
        assert "Kasia Nowak, rule “Webinar → Juniors pool”" in drill

        week = client.get(url, {"days": 7}).content.decode()
        assert "Tomek Wiśniewski −2" in week and "Kasia Nowak +42" not in week


def test_the_what_if_page_without_a_draft_sends_magda_to_start_one(demo, magda, client):
    client.force_login(magda)
    response = client.get(reverse("admin:routing_rule_draft_what_if"))
    assert response.status_code == 302 and response.url == reverse("admin:routing_rule_changelist")
    assert not RuleTable.objects.filter(status=RuleTable.Status.DRAFT).exists()


def test_an_archived_version_can_be_replayed_before_restoring_it(last_month, kasia_draft, magda, client):
    from routing.services.rule_tables import draft_publish

    old = RuleTable.objects.get(status=RuleTable.Status.LIVE)
    draft_publish(draft=kasia_draft, user=magda)
    result = replay_run(table=old, since=SINCE, until=UNTIL)
    assert result.headline() == "Kasia Nowak −42, Marek Zieliński +40, Jan Schmidt +2, Tomek Wiśniewski +2"
    assert result.no_longer_unassigned == 2
    client.force_login(magda)
    versions = client.get(reverse("admin:routing_rule_versions")).content.decode()
    assert f"?table={old.pk}" in versions
    with time_machine.travel(datetime(2026, 11, 1, 12, tzinfo=WARSAW), tick=False):
        page = client.get(reverse("admin:routing_rule_draft_what_if"), {"table": old.pk, "days": "last_month"}).content.decode()
    assert "Marek Zieliński +40" in page


def test_the_simulated_round_robin_gives_pool_leads_to_the_reps_routing_gave_them_to(october, magda, kasia, marek):
    """With Ola away, the Demo pool alternates Kasia and Marek; the live rules replayed from a fresh turn agree."""
    posted = [october(datetime(2026, 10, 5, 10, i, tzinfo=WARSAW), email=f"demo{i}@firma{i}.example", source="demo_request") for i in range(6)]
    assert [p["owner"]["email"] for p in posted] == [kasia.email, marek.email] * 3
    result = replay_run(table=draft_start(user=magda), since=SINCE, until=UNTIL)
    assert result.agrees_with_history == 6 and result.moved == []
    assert result.headline() == "No lead would go elsewhere."
