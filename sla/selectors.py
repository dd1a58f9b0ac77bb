"""Reads of the SLA app: which policy a lead falls under, its calendar, and the terms of its clock.

Nothing here writes, so the preview (an unsaved lead) uses the same code as intake.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import formats, translation
from django.utils.translation import gettext as _

from core import business_time
from core.engine import LeadFacts, evaluate
from routing.config_version import config_version, table_fingerprint, version_register
from routing.models import Lead
from routing.ruleset import compile_conditions, lead_facts
from routing.selectors import lead_language
from sla.models import BusinessCalendar, CalendarDay, EscalationStep, OpeningHours, PolicyCondition, SlaPolicy

AFTER_HOURS_TEMPLATE = "after_hours"
DUE_SOON = timedelta(minutes=15)

logger = logging.getLogger(__name__)

# Built calendars by their data: an edit makes a new key (so nothing stale is ever used, in any process), and
# an unchanged calendar keeps its warm per-day cache across leads and sweeps.
_CALENDARS: OrderedDict[tuple, business_time.Calendar] = OrderedDict()
_CALENDARS_MAX = 32
_calendars_lock = threading.Lock()


@dataclass(frozen=True)
class Autoresponse:
    """A message to the lead: `notifications.services.lead_autorespond(template=..., context=..., event_key=...)`."""

    template: str
    context: dict = field(default_factory=dict)
    event_key: str = ""


@dataclass(frozen=True)
class SlaTerms:
    """A lead's clock: no `due_at` means the policy keeps no clock (autoresponse only)."""

    policy: SlaPolicy
    priority: str | None
    due_at: datetime | None
    next_step_at: datetime | None
    autoresponse: Autoresponse | None = None
    explanation: tuple[str, ...] = ()


def policies_active() -> QuerySet[SlaPolicy]:
    """Active policies in order, with what matching and the clock need (four queries, whatever the count)."""
    return (
        SlaPolicy.objects.filter(is_active=True)
        .order_by("position", "id")
        .select_related("calendar")
        .prefetch_related(
            Prefetch("conditions", queryset=PolicyCondition.objects.select_related("domain_list").order_by("id")),
            Prefetch("steps", queryset=EscalationStep.objects.order_by("after_minutes", "id")),
            "calendar__opening_hours",
            "calendar__days",
        )
    )


def _policies_version_part(q: Callable[[str], str]) -> tuple[list[str], list]:
    parts: list[str] = []
    for model in (SlaPolicy, BusinessCalendar):
        parts += table_fingerprint(q, model._meta.db_table, updated_at="updated_at")
    for model in (PolicyCondition, EscalationStep, OpeningHours, CalendarDay):
        parts += table_fingerprint(q, model._meta.db_table)
    return parts, []


version_register("sla_policies", _policies_version_part)
# A copy older than this is read again even if the version looks the same (a backstop for an edit of a condition,
# step or opening hour saved without its policy or calendar, which the admin never does).
POLICIES_MAX_AGE_SECONDS = 300.0
_policies_lock = threading.Lock()
_policies_cached: tuple[tuple, float, list[SlaPolicy]] | None = None


def policies_cached() -> list[SlaPolicy]:
    """The active policies of `policies_active`, read once per process and kept while their version holds (one
    shared version query per lead, `routing.config_version`; no query at all inside an intake's snapshot after the
    first cache asked). The instances are shared: read them, never change them."""
    global _policies_cached
    version = config_version("sla_policies")
    cached = _policies_cached
    if cached is not None and cached[0] == version and time.monotonic() - cached[1] < POLICIES_MAX_AGE_SECONDS:
        return cached[2]
    policies = list(policies_active())
    for policy in policies:
        policy._compiled_conditions = compile_conditions(policy.conditions.all())
    with _policies_lock:
        _policies_cached = (version, time.monotonic(), policies)
    return policies


def policies_invalidate() -> None:
    """Forget this process's policies (the next lead reads them again)."""
    global _policies_cached
    with _policies_lock:
        _policies_cached = None


def calendar_build(calendar: BusinessCalendar) -> business_time.Calendar:
    """The business calendar as plain data (uses prefetched hours and days when there are any)."""
    hours = tuple(sorted((h.weekday, h.opens, h.closes) for h in calendar.opening_hours.all()))
    days = tuple(sorted((d.date, d.kind, d.opens, d.closes) for d in calendar.days.all()))
    key = (calendar.time_zone, (calendar.holidays_country or "").upper(), hours, days)
    with _calendars_lock:
        found = _CALENDARS.get(key)
        if found is not None:
            _CALENDARS.move_to_end(key)
            return found
    found = business_time.Calendar.from_data(time_zone=calendar.time_zone, opening_hours=hours, holidays_country=calendar.holidays_country or "", days=days)
    with _calendars_lock:
        _CALENDARS[key] = found
        while len(_CALENDARS) > _CALENDARS_MAX:
            _CALENDARS.popitem(last=False)
    return found


def calendar_for(policy: SlaPolicy) -> business_time.Calendar:
    """The calendar a policy's clock runs on (built once per policy instance: a cached policy keeps it)."""
    built = getattr(policy, "_built_calendar", None)
    if built is None:
        built = policy._built_calendar = calendar_build(policy.calendar)
    return built


def policy_for(
    *, lead: Lead, policies: list[SlaPolicy] | None = None, facts: LeadFacts | None = None
) -> tuple[SlaPolicy | None, list[str]]:
    """The first active policy whose conditions hold for the lead (saved or not), and why.

    Conditions are the routing engine's (`core.engine.evaluate`), so a policy reads exactly like a rule. `facts`:
    the lead's facts as routing computed them; without, they are built (`routing.ruleset.lead_facts`) when a
    policy tests something.
    """
    lines: list[str] = []
    for policy in policies if policies is not None else policies_cached():
        conditions = getattr(policy, "_compiled_conditions", None)
        if conditions is None:
            conditions = compile_conditions(policy.conditions.all())
        if conditions and facts is None:
            facts = lead_facts(lead)  # only built when some policy tests something
        holds, checked = evaluate(conditions, policy.match, facts) if conditions else (True, [])
        if holds:
            lines.append(_("SLA policy “%(policy)s” applies") % {"policy": policy.name})
            return policy, lines
        lines.append(_("SLA policy “%(policy)s” does not apply: %(why)s") % {"policy": policy.name, "why": "; ".join(checked)})
    lines.append(_("no SLA policy applies"))
    return None, lines


def opening_label(*, opens_at: datetime, now: datetime, language: str) -> str:
    """When the clock starts again, as the lead reads it: "Monday 08:00" / "poniedziałek 08:00"; the date too
    when it is a week or more away (a long holiday)."""
    local_now = now.astimezone(opens_at.tzinfo)
    with translation.override(language):
        if (opens_at.date() - local_now.date()).days < 7:
            label = formats.date_format(opens_at, "l H:i")
        else:
            label = formats.date_format(opens_at, "l j E, H:i" if language == "pl" else "l j F, H:i")
    # Django's Polish calendar names are capitalised ("Poniedziałek"); mid-sentence Polish writes them in lower case.
    return label.lower() if language == "pl" else label


def lead_sla_terms(
    *, lead: Lead, now: datetime, policies: list[SlaPolicy] | None = None, facts: LeadFacts | None = None
) -> SlaTerms | None:
    """The clock a lead gets as of `now` (works on unsaved leads: the preview). None: no clock and nothing to say.

    Disqualified leads get nothing. The clock counts business minutes from `submitted_at` (when the person
    pressed "send"); a lead that comes in while the office is closed is told when the expert will call.
    `facts`: the lead's facts as routing computed them (see `policy_for`).
    """
    if lead.status == Lead.Status.DISQUALIFIED:
        return None
    policy, lines = policy_for(lead=lead, policies=policies, facts=facts)
    if policy is None:
        return None
    start = lead.submitted_at or now
    try:
        cal = calendar_for(policy)
        due_at = next_step_at = None
        if policy.response_minutes is not None:
            due_at = business_time.add_business_minutes(cal, start, policy.response_minutes)
            steps = list(policy.steps.all())
            if steps and lead.first_response_at is None:
                next_step_at = business_time.add_business_minutes(cal, start, min(step.after_minutes for step in steps))
        after_hours = not business_time.is_open(cal, now)
        opens_at = business_time.next_opening(cal, now) if after_hours else None
    except ValueError as exc:
        # A calendar that cannot work (no opening hours at all, a time zone gone from the system) must not cost
        # the lead: it gets its policy and priority without a deadline, and the problem is logged loudly.
        logger.error("SLA calendar %r of policy %r cannot be used: %s", policy.calendar.name, policy.name, exc)
        lines.append(_("the calendar “%(calendar)s” cannot be used: %(error)s") % {"calendar": policy.calendar.name, "error": exc})
        return SlaTerms(policy=policy, priority=policy.priority, due_at=None, next_step_at=None, explanation=tuple(lines))

    context: dict = {"policy": policy.name, "due_at": due_at, "after_hours": after_hours}
    if after_hours:
        context.update(opens_at=opens_at, opens_label=opening_label(opens_at=opens_at, now=now, language=lead_language(lead)))
    autoresponse = None
    if policy.autoresponse_template:
        autoresponse = Autoresponse(template=policy.autoresponse_template, context=context, event_key=f"sla.{policy.autoresponse_template}")
    elif context["after_hours"] and due_at is not None:
        autoresponse = Autoresponse(template=AFTER_HOURS_TEMPLATE, context=context, event_key=f"sla.{AFTER_HOURS_TEMPLATE}")
    return SlaTerms(policy=policy, priority=policy.priority, due_at=due_at, next_step_at=next_step_at, autoresponse=autoresponse, explanation=tuple(lines))


def lead_sla_state(*, lead: Lead, now: datetime) -> str:
    """The lead's SLA state: "breached" (no first response by the deadline, or a late one), "due_soon" (within
    15 minutes), "running", "met", or "" (no clock). The same test as `sla_state_q`, for one lead."""
    if lead.sla_due_at is None:
        return ""
    if lead.first_response_at is not None:
        return "breached" if lead.first_response_at > lead.sla_due_at else "met"
    if lead.sla_due_at <= now:
        return "breached"
    return "due_soon" if lead.sla_due_at <= now + DUE_SOON else "running"


def sla_state_q(state: str, *, now: datetime) -> Q:
    """A filter on leads for `lead_sla_state` == state ("breached" or "due_soon")."""
    if state == "breached":
        return Q(sla_due_at__isnull=False) & (Q(first_response_at__isnull=True, sla_due_at__lte=now) | Q(first_response_at__gt=F("sla_due_at")))
    if state == "due_soon":
        return Q(first_response_at__isnull=True, sla_due_at__gt=now, sla_due_at__lte=now + DUE_SOON)
    raise ValueError(f"unknown SLA state {state!r}")
