"""The weekly SLA digest: last week's numbers by e-mail to the team leads, every Monday at the office's opening.

A django-q2 schedule (created once by migration flows 0002) runs `flows.tasks.weekly_digest_task` every quarter
of an hour on weekdays; the digest goes out at the first run at or after the business calendar's first opening of
the ISO week (TechPol: Monday 08:00 Europe/Warsaw; Tuesday 08:00 after Easter Monday), so it waits for the
office to open and a cluster that was down at 08:00 still sends it later that week. Once per ISO week: each
team lead's message has the outbox key `-:digest.<year>-W<week>:...:<e-mail>`, so the runs after the first,
or the same run delivered twice by the broker, add nothing. Sent through the outbox, so it is retried.

The figures are the dashboard's (`flows.metrics.dashboard` over Monday 00:00 to Monday 00:00, local time),
as tables with bars made of table cells (what every mail client shows) and a plain-text part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from core import business_time
from flows.dashboard_figures import duration_text, figures
from flows.metrics import Dashboard, dashboard, week_scope
from notifications.messages import site_url
from notifications.models import Channel, OutboxMessage
from notifications.selectors import channel_default
from notifications.services import message_enqueue
from reps.selectors import team_leads
from sla.models import BusinessCalendar
from sla.selectors import calendar_build

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "Weekly SLA digest"
SCHEDULE_FUNC = "flows.tasks.weekly_digest_task"
SCHEDULE_CRON = "*/15 * * * 1-5"
TEMPLATE = "digest/weekly"


@dataclass(frozen=True)
class DigestResult:
    week: str  # 2026-W48
    queued: int
    reason: str  # sent / not yet / already sent / no team lead


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_label(monday: date) -> str:
    year, week, _weekday = monday.isocalendar()
    return f"{year}-W{week:02d}"


def event_key(monday: date) -> str:
    return f"digest.{week_label(monday)}"


def _office_calendar() -> business_time.Calendar | None:
    calendar = BusinessCalendar.objects.filter(name="TechPol office").first() or BusinessCalendar.objects.order_by("id").first()
    if calendar is None:
        return None
    try:
        return calendar_build(calendar)
    except ValueError:
        logger.exception("digest: the business calendar %r cannot be used", calendar.name)
        return None


def send_from(*, monday: date) -> datetime:
    """When the digest for the week before `monday` may go: the calendar's first opening of that week (midnight
    when there is no calendar, or when the office stays closed all week)."""
    midnight = timezone.make_aware(datetime.combine(monday, datetime.min.time()))
    cal = _office_calendar()
    if cal is None:
        return midnight
    try:
        opening = business_time.next_opening(cal, midnight)
    except business_time.CalendarNeverOpens:
        return midnight
    return opening if opening < midnight + timedelta(days=7) else midnight


def dashboard_link(*, week_start: date) -> str:
    last = week_start + timedelta(days=6)
    return f"{site_url()}{reverse('leadrouter-dashboard')}?period=custom&first={week_start.isoformat()}&last={last.isoformat()}"


def digest_compose(*, week_start: date, now: datetime) -> tuple[str, str, str]:
    """(subject, text, html) for the week starting on Monday `week_start`, in the site's language."""
    with translation.override(settings.LANGUAGE_CODE):
        d: Dashboard = dashboard(now=now, scope=week_scope(week_start=week_start))
        for lead in d.overdue:
            lead.late_text = duration_text(lead.minutes_late)
        last = week_start + timedelta(days=6)
        context = {
            "d": d,
            "figures": figures(d),
            "week": week_label(week_start),
            "first": formats.date_format(week_start, "SHORT_DATE_FORMAT"),
            "last": formats.date_format(last, "SHORT_DATE_FORMAT"),
            "link": dashboard_link(week_start=week_start),
            "site_url": site_url(),
        }
        subject = _("Weekly SLA digest %(week)s: %(met)s met the SLA, %(breached)s breached") % {
            "week": context["week"],
            "met": f"{formats.number_format(d.sla.met_rate, 1)} %" if d.sla.decided else "—",
            "breached": d.sla.breached,
        }
        text = render_to_string(f"{TEMPLATE}.txt", context)
        html = render_to_string(f"{TEMPLATE}.html", context)
    return subject, text.strip() + "\n", html


@transaction.atomic
def digest_send(*, now: datetime) -> DigestResult:
    """Queue last week's digest for every team lead who does not have it yet, once the office has opened."""
    monday = _monday(timezone.localtime(now).date())
    week_start = monday - timedelta(days=7)
    key = event_key(week_start)
    label = week_label(week_start)
    if now < send_from(monday=monday):
        return DigestResult(week=label, queued=0, reason="not yet")
    leaders = [rep for rep in team_leads() if rep.email]
    if not leaders:
        logger.warning("weekly digest %s: no active team lead with an e-mail address", label)
        return DigestResult(week=label, queued=0, reason="no team lead")
    # The outbox key is lead:event:channel:recipient (notifications.services.message_enqueue); looked up exactly
    # (unique index) for every e-mail channel the message may have gone through, so a run costs a few lookups.
    channels = ["email", *(str(pk) for pk in Channel.objects.filter(kind=Channel.Kind.EMAIL).values_list("pk", flat=True))]
    candidates = {rep.pk: [f"-:{key}:{channel}:{rep.email}"[:255] for channel in channels] for rep in leaders}
    already = set(OutboxMessage.objects.filter(key__in=[k for keys in candidates.values() for k in keys]).values_list("key", flat=True))
    pending = [rep for rep in leaders if not already.intersection(candidates[rep.pk])]
    if not pending:
        return DigestResult(week=label, queued=0, reason="already sent")

    subject, text, html = digest_compose(week_start=week_start, now=now)
    channel = channel_default(kind=Channel.Kind.EMAIL)
    queued = 0
    for rep in pending:
        message = message_enqueue(
            lead=None,
            event_key=key,
            channel=channel,
            recipient=rep.email,
            subject=subject,
            body=text,
            payload={"title": subject, "text": text, "html": html, "rep_email": rep.email, "digest_week": label},
            template=TEMPLATE,
        )
        queued += message is not None
    logger.info("weekly digest %s queued for %d team lead(s)", label, queued)
    return DigestResult(week=label, queued=queued, reason="sent")
