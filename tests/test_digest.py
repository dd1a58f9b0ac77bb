"""The weekly SLA digest: every Monday at the office's opening the team leads get last week's numbers by e-mail."""

import importlib
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps as django_apps
from django_q.models import Schedule

from flows.digest import SCHEDULE_CRON, SCHEDULE_FUNC, SCHEDULE_NAME, digest_send
from flows.tasks import weekly_digest_task
from notifications.models import OutboxMessage
from notifications.tasks import outbox_send
from reps.models import Rep
from routing.models import Lead
from tests.factories import IntakeSourceFactory, LeadFactory

ROOT = Path(__file__).resolve().parent.parent
WARSAW = ZoneInfo("Europe/Warsaw")
MONDAY_8 = datetime(2026, 3, 9, 8, 0, tzinfo=WARSAW)  # week 11 begins; the digest is for week 10 (2–8 March)
HOSTILE = "<script>alert(1)</script>"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=WARSAW)


@pytest.fixture
def last_week(demo, kasia, marek):
    """Week 10: Kasia answered one demo request in 10 minutes (met) and one in 20 (breached, 15-minute SLA); Marek
    never answered one (breached, still open); a student was disqualified. One lead from week 9, one from week 11."""
    from sla.models import SlaPolicy

    source = IntakeSourceFactory()
    critical = SlaPolicy.objects.get(name="Critical")

    def lead(arrived, **fields):
        fields.setdefault("source", "demo_request")
        return LeadFactory(intake_source=source, submitted_at=arrived, received_at=arrived, **fields)

    tuesday = at(2026, 3, 3, 10, 0)
    for minutes in (10, 20):
        lead(
            tuesday, owner=kasia, status=Lead.Status.CONTACTED, sla_policy=critical, sla_due_at=tuesday + timedelta(minutes=15),
            assigned_at=tuesday, system_delay_seconds=5, first_response_at=tuesday + timedelta(minutes=minutes),
            rep_delay_seconds=minutes * 60, rep_delay_business_minutes=minutes, company="Fabryka Okien",
        )  # fmt: skip
    lead(at(2026, 3, 6, 15, 0), owner=marek, status=Lead.Status.ASSIGNED, sla_policy=critical, sla_due_at=at(2026, 3, 6, 15, 15), company=HOSTILE)
    lead(at(2026, 3, 7, 11, 0), status=Lead.Status.DISQUALIFIED, job_title="Student", source="webinar")
    lead(at(2026, 2, 27, 10, 0), owner=kasia, status=Lead.Status.ASSIGNED)  # week 9
    lead(at(2026, 3, 9, 7, 30), owner=kasia, status=Lead.Status.ASSIGNED)  # week 11, before the digest


def digests():
    return list(OutboxMessage.objects.filter(template="digest/weekly").order_by("recipient"))


# ---------------------------------------------------------------------------------------------- the schedule


@pytest.mark.django_db
def test_the_schedule_is_a_weekday_cron_made_once_and_repaired_by_migrating_again():
    migration = importlib.import_module("flows.migrations.0002_weekly_digest_schedule")
    migration.schedule_ensure(django_apps, None)
    migration.schedule_ensure(django_apps, None)
    (schedule,) = Schedule.objects.filter(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.cron, schedule.repeats) == (SCHEDULE_FUNC, Schedule.CRON, SCHEDULE_CRON, -1)
    assert schedule.next_run.minute % 15 == 0 and schedule.next_run.astimezone(WARSAW).weekday() < 5

    Schedule.objects.create(name=SCHEDULE_NAME, func=SCHEDULE_FUNC, schedule_type=Schedule.DAILY)  # a stray copy
    Schedule.objects.filter(pk=schedule.pk).update(cron="0 3 * * *")  # and an edited original
    migration.schedule_ensure(django_apps, None)
    (again,) = Schedule.objects.filter(name=SCHEDULE_NAME)
    assert again.pk == schedule.pk and again.cron == SCHEDULE_CRON


def test_migrating_twice_and_back_and_forth_leaves_one_digest_schedule(tmp_path):
    env = {"DEBUG": "1", "PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}"}

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    count = ["shell", "-c", f"from django_q.models import Schedule; print(Schedule.objects.filter(func={SCHEDULE_FUNC!r}, schedule_type='C').count())"]
    manage("migrate", "--noinput")
    manage("migrate", "--noinput")
    assert manage(*count).split()[-1] == "1"
    manage("migrate", "flows", "0001", "--noinput")
    assert manage(*count).split()[-1] == "0"
    manage("migrate", "--noinput")
    assert manage(*count).split()[-1] == "1"


# ---------------------------------------------------------------------------------------------- the figures


@pytest.mark.django_db
def test_on_monday_at_eight_anna_gets_last_weeks_numbers_and_a_link_to_the_dashboard(last_week, settings):
    settings.SITE_URL = "https://leads.techpol.example"
    result = digest_send(now=MONDAY_8)
    assert (result.week, result.queued, result.reason) == ("2026-W10", 1, "sent")
    (message,) = digests()
    assert message.recipient == "anna@techpol.example" and message.lead is None
    assert message.subject == "Weekly SLA digest 2026-W10: 33.3 % met the SLA, 2 breached"
    text = message.body
    assert "Weekly SLA digest, week 2026-W10 (03/02/2026 – 03/08/2026)" in text
    assert "Leads received: 4" in text
    assert "Met the SLA: 33.3 % (1 / 3)" in text
    assert "Breached the SLA: 2" in text
    assert "Median speed to lead (minutes): 15.0 · 90th percentile: 19.0" in text
    assert "Reached a conversation: 66.7 %" in text and "Disqualified share: 25.0 %" in text
    assert "Kasia Nowak | 1 | 1 | 0 | 50.0 | 50.0" in text  # SLA per rep
    assert "Ewa Lewandowska | 0 |" in text  # fairness: the reps without a lead too
    link = "https://leads.techpol.example/admin/dashboard/?period=custom&first=2026-03-02&last=2026-03-08"
    assert link in text and link.replace("&", "&amp;") in message.payload["html"]
    html = message.payload["html"]
    assert "SLA per rep" in html and "<table" in html and "Ewa Lewandowska" in html


@pytest.mark.django_db
def test_lead_text_in_the_digest_is_escaped_in_html_and_plain_in_text(last_week):
    digest_send(now=MONDAY_8)
    (message,) = digests()
    assert HOSTILE not in message.payload["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.payload["html"]
    assert HOSTILE in message.body  # the plain-text part is text, not markup


@pytest.mark.django_db
def test_the_digest_goes_once_a_week_however_often_the_task_runs(last_week):
    assert digest_send(now=MONDAY_8).queued == 1
    assert digest_send(now=MONDAY_8).reason == "already sent"
    assert digest_send(now=MONDAY_8 + timedelta(hours=3)).queued == 0
    with time_machine.travel(MONDAY_8 + timedelta(days=2), tick=False):
        assert weekly_digest_task() == "2026-W10: already sent (0 queued)"
    assert len(digests()) == 1
    assert digest_send(now=MONDAY_8 + timedelta(days=7)).week == "2026-W11"  # next Monday: the next week
    assert len(digests()) == 2


@pytest.mark.django_db
def test_a_team_lead_added_during_the_week_gets_it_at_the_next_run(last_week, tomek):
    digest_send(now=MONDAY_8)
    Rep.objects.filter(pk=tomek.pk).update(is_team_lead=True)
    assert digest_send(now=MONDAY_8 + timedelta(minutes=15)).queued == 1
    assert [m.recipient for m in digests()] == ["anna@techpol.example", "tomek@techpol.example"]


@pytest.mark.django_db
def test_nothing_goes_before_the_office_opens_and_after_easter_monday_on_tuesday(last_week):
    assert digest_send(now=MONDAY_8 - timedelta(minutes=15)).reason == "not yet"
    assert digests() == []
    easter_monday = at(2026, 4, 6, 8, 0)  # a Polish public holiday: the office opens on Tuesday
    assert digest_send(now=easter_monday).reason == "not yet"
    result = digest_send(now=easter_monday + timedelta(days=1))
    assert (result.week, result.reason) == ("2026-W14", "sent")


@pytest.mark.django_db
def test_the_digest_is_sent_through_the_outbox_as_text_and_html(last_week, mailoutbox):
    digest_send(now=MONDAY_8)
    (message,) = digests()
    assert outbox_send(message.pk) == "sent"
    (email,) = mailoutbox
    assert email.to == ["anna@techpol.example"] and email.subject == message.subject
    assert "Leads received: 4" in email.body
    ((html, mimetype),) = email.alternatives
    assert mimetype == "text/html" and "SLA per rep" in html


@pytest.mark.django_db
def test_without_a_team_lead_nothing_is_queued_and_it_is_logged(last_week, anna, caplog):
    Rep.objects.filter(pk=anna.pk).update(is_team_lead=False)
    assert digest_send(now=MONDAY_8).reason == "no team lead"
    assert "no active team lead" in caplog.text


@pytest.mark.django_db
def test_the_digest_is_written_in_the_sites_language(last_week, settings):
    settings.LANGUAGE_CODE = "pl"
    digest_send(now=MONDAY_8)
    (message,) = digests()
    assert message.subject.startswith("Tygodniowe podsumowanie SLA 2026-W10")
    assert "Otrzymane leady: 4" in message.body


@pytest.mark.django_db
def test_a_new_default_e_mail_channel_during_the_week_does_not_send_it_twice(last_week):
    from notifications.models import Channel

    digest_send(now=MONDAY_8)
    Channel.objects.create(name="A new mail relay", kind=Channel.Kind.EMAIL, config={"default": True})
    assert digest_send(now=MONDAY_8 + timedelta(hours=1)).reason == "already sent"
    assert len(digests()) == 1
