"""The routing setup written out as one document (`{"version": 1, ...}`): what `export_routing` and the
"Routing setup" page download. Only reads; references by names a person can read (reps by e-mail); no channel
URL, secret or secret-named option."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

from django.utils import timezone

from core.models import ConditionBase
from flows.routing_setup.document import VERSION, config_public
from notifications.models import Channel
from reps.csv_files import postal_range_format
from reps.models import Account, DomainList, OnDutyRota, Pool, Rep, Territory
from routing.models import Rule, ScoreRule
from sla.models import BusinessCalendar, SlaPolicy


def _email(rep: Rep | None) -> str | None:
    return rep.email if rep else None


def _name(obj: Any) -> str | None:
    return obj.name if obj else None


def _hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value else None


def _conditions_export(conditions: Iterable[ConditionBase]) -> list[dict[str, Any]]:
    return [{"field": c.field, "operator": c.operator, "value": c.value, "domain_list": _name(c.domain_list)} for c in sorted(conditions, key=lambda c: c.id)]


def routing_config_export() -> dict[str, Any]:
    """The whole routing setup as plain JSON data, in a stable order (two exports of one setup are equal)."""
    reps = Rep.objects.order_by("email")
    pools = Pool.objects.select_related("fallback_rep").prefetch_related("memberships__rep").order_by("name")
    lists = DomainList.objects.prefetch_related("entries").order_by("name")
    territories = Territory.objects.select_related("owner_rep", "owner_pool").prefetch_related("regions", "cities", "postal_ranges").order_by("name")
    accounts = Account.objects.select_related("manager").prefetch_related("domains").order_by("name")
    rules = Rule.objects.select_related("target_rep", "target_pool").prefetch_related("conditions__domain_list", "actions__channel", "actions__recipient_rep")
    calendars = BusinessCalendar.objects.prefetch_related("opening_hours", "days").order_by("name")
    policies = SlaPolicy.objects.select_related("calendar").prefetch_related("conditions__domain_list", "steps__target_rep", "steps__channel")
    return {
        "version": VERSION,
        "exported_at": timezone.now().isoformat(timespec="seconds"),
        "reps": [
            {
                "email": r.email,
                "name": r.name,
                "weight": r.weight,
                "daily_cap": r.daily_cap,
                "languages": r.languages,
                "is_team_lead": r.is_team_lead,
                "notify_via": r.notify_via,
            }
            for r in reps
        ],
        "channels": [{"name": c.name, "kind": c.kind, "config": config_public(c.config), "is_active": c.is_active} for c in Channel.objects.order_by("name")],
        "domain_lists": [
            {
                "name": dl.name,
                "kind": dl.kind,
                "builtin": dl.builtin,
                "domains": sorted(e.domain for e in dl.entries.all() if not e.is_exception),
                "exceptions": sorted(e.domain for e in dl.entries.all() if e.is_exception),
            }
            for dl in lists
        ],
        "pools": [
            {
                "name": p.name,
                "fallback_rep": _email(p.fallback_rep),
                "is_fallback": p.is_fallback,
                "members": [{"rep": m.rep.email, "weight": m.weight} for m in sorted(p.memberships.all(), key=lambda m: (m.position, m.id))],
            }
            for p in pools
        ],
        "on_duty_rota": [{"weekday": d.weekday, "rep": d.rep.email} for d in OnDutyRota.objects.select_related("rep").order_by("weekday")],
        "territories": [
            {
                "name": t.name,
                "owner_rep": _email(t.owner_rep),
                "owner_pool": _name(t.owner_pool),
                "regions": [r.name for r in sorted(t.regions.all(), key=lambda r: r.id)],
                "cities": [c.name for c in sorted(t.cities.all(), key=lambda c: c.id)],
                "postal_codes": [postal_range_format(p.start, p.end) for p in sorted(t.postal_ranges.all(), key=lambda p: (p.start, p.end))],
            }
            for t in territories
        ],
        "accounts": [{"name": a.name, "manager": a.manager.email, "domains": sorted(d.domain for d in a.domains.all())} for a in accounts],
        "rules": [
            {
                "name": r.name,
                "is_active": r.is_active,
                "match": r.match,
                "target": r.target,
                "target_rep": _email(r.target_rep),
                "target_pool": _name(r.target_pool),
                "conditions": _conditions_export(r.conditions.all()),
                "actions": [
                    {
                        "kind": a.kind,
                        "channel": _name(a.channel),
                        "recipient": a.recipient,
                        "recipient_rep": _email(a.recipient_rep),
                        "template": a.template,
                        "text": a.text,
                        "config": a.config,
                    }
                    for a in sorted(r.actions.all(), key=lambda a: (a.position, a.id))
                ],
            }
            for r in rules
        ],
        "score_rules": [
            {"name": s.name, "points": s.points, "is_active": s.is_active, "match": s.match, "conditions": _conditions_export(s.conditions.all())}
            for s in ScoreRule.objects.prefetch_related("conditions__domain_list").order_by("position", "id")
        ],
        "calendars": [
            {
                "name": c.name,
                "time_zone": c.time_zone,
                "holidays_country": c.holidays_country,
                "opening_hours": [
                    {"weekday": h.weekday, "opens": _hhmm(h.opens), "closes": _hhmm(h.closes)}
                    for h in sorted(c.opening_hours.all(), key=lambda h: (h.weekday, h.opens))
                ],
                "days": [
                    {"date": d.date.isoformat(), "kind": d.kind, "opens": _hhmm(d.opens), "closes": _hhmm(d.closes), "note": d.note}
                    for d in sorted(c.days.all(), key=lambda d: d.date)
                ],
            }
            for c in calendars
        ],
        "sla_policies": [
            {
                "name": p.name,
                "is_active": p.is_active,
                "match": p.match,
                "priority": p.priority,
                "response_minutes": p.response_minutes,
                "calendar": p.calendar.name,
                "autoresponse_template": p.autoresponse_template,
                "conditions": _conditions_export(p.conditions.all()),
                "steps": [
                    {"after_minutes": s.after_minutes, "kind": s.kind, "target_rep": _email(s.target_rep), "channel": _name(s.channel)}
                    for s in sorted(p.steps.all(), key=lambda s: (s.after_minutes, s.id))
                ],
            }
            for p in policies
        ],
    }
