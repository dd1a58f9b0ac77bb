"""Reading a routing document: every section, item by item, typed and resolved, into a plan (flows.routing_setup.document).

One reader per section; each value is read by flows.routing_setup.values (`Reader` notes each problem with where it
is, `Refs` resolves the names an item refers to). Reading never stops at a problem, so one pass lists them all;
rules about the whole document (names once per section, one fallback pool, postal ranges that overlap...) are
flows.routing_setup.check's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

from core.engine import condition_errors
from core.models import ConditionBase, Match
from core.scoring import SCORE_FIELD
from flows.routing_setup.document import SECTIONS, VERSION, Plan
from flows.routing_setup.values import Item, Reader, Refs, max_length
from notifications.models import Channel
from reps.csv_files import postal_range_parse
from reps.models import Account, DomainList, Pool, Rep, Territory
from routing.models import Priority, Rule, RuleAction, RuleCondition, ScoreRule
from sla.models import BusinessCalendar, CalendarDay, EscalationStep, SlaPolicy


def _conditions(reader: Reader, refs: Refs, item: Item, where: str) -> list[Item]:
    out = []
    for cwhere, c in reader.sub_items(item, "conditions", where):
        operator = reader.choice(c, "operator", cwhere, ConditionBase.Operator.values)
        field = reader.text(c, "field", cwhere, max_length=max_length(RuleCondition, "field"))
        value = reader.text(c, "value", cwhere)
        domain_list = refs.named(c, "domain_list", cwhere, refs.lists, _("domain list"))
        if operator:
            for message in condition_errors(field=field, operator=operator, value=value, has_domain_list=bool(c.get("domain_list"))):
                reader.problem(cwhere, message)
        out.append({"field": field, "operator": operator, "value": value, "domain_list": domain_list})
    return out


# One reader per section: (reader, refs, the section's items as (where, item)) -> the plan's items.


def _reps(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, r in items:
        email = refs.rep(r, "email", where, required=True)
        languages = reader.text(r, "languages", where, max_length=max_length(Rep, "languages"))
        notify_via = r.get("notify_via", [])
        if not isinstance(notify_via, list) or not all(isinstance(v, str) for v in notify_via):
            reader.problem(where, _("“notify_via” must be a list of channel kinds"))
            notify_via = []
        out.append(
            {
                "where": where,
                "email": email,
                "weight": reader.number(r, "weight", where, default=1, maximum=32767),
                "daily_cap": reader.number(r, "daily_cap", where, null=True),
                "languages": languages,
                "is_team_lead": reader.flag(r, "is_team_lead", where, default=False),
                "notify_via": notify_via,
            }
        )
    return out


def _channels(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, c in items:
        out.append(
            {
                "where": where,
                "name": reader.text(c, "name", where, required=True, max_length=max_length(Channel, "name")),
                "kind": reader.choice(c, "kind", where, Channel.Kind.values),
                "config": reader.mapping(c, "config", where),
                "is_active": reader.flag(c, "is_active", where, default=True),
            }
        )
        for secret in ("url", "secret"):
            if c.get(secret):
                reader.problem(where, _("“%(key)s” is a secret and is not imported: remove it from the document and set it in the admin") % {"key": secret})
    return out


def _domain_lists(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    return [
        {
            "where": where,
            "name": reader.text(dl, "name", where, required=True, max_length=max_length(DomainList, "name")),
            "kind": reader.choice(dl, "kind", where, DomainList.Kind.values, default=DomainList.Kind.CUSTOM),
            "domains": list(dict.fromkeys(reader.domains(dl, "domains", where))),
            "builtin": reader.choice(dl, "builtin", where, DomainList.Builtin.values, blank=True, default=""),
            "exceptions": list(dict.fromkeys(reader.domains(dl, "exceptions", where))),
        }
        for where, dl in items
    ]


def _pools(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, p in items:
        members, seen = [], set()
        for mwhere, m in reader.sub_items(p, "members", where):
            email = refs.rep(m, "rep", mwhere, required=True)
            if email in seen:
                reader.problem(mwhere, _("the rep %(email)s is already a member") % {"email": email})
            seen.add(email)
            members.append({"rep": email, "weight": reader.number(m, "weight", mwhere, null=True, maximum=32767)})
        out.append(
            {
                "where": where,
                "name": reader.text(p, "name", where, required=True, max_length=max_length(Pool, "name")),
                "fallback_rep": refs.rep(p, "fallback_rep", where),
                "is_fallback": reader.flag(p, "is_fallback", where, default=False),
                "members": members,
            }
        )
    return out


def _on_duty_rota(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    return [{"where": where, "weekday": reader.number(d, "weekday", where, maximum=6), "rep": refs.rep(d, "rep", where, required=True)} for where, d in items]


def _territories(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, t in items:
        owner_rep = refs.rep(t, "owner_rep", where)
        owner_pool = refs.named(t, "owner_pool", where, refs.pools, _("pool"))
        if bool(t.get("owner_rep")) == bool(t.get("owner_pool")):
            reader.problem(where, _("a territory has exactly one owner: “owner_rep” (an e-mail) or “owner_pool” (a pool's name)"))
        ranges = []
        for text in reader.strings(t, "postal_codes", where):
            try:
                ranges.append(postal_range_parse(text))
            except ValueError as e:
                reader.problem(where, str(e))
        regions = reader.strings(t, "regions", where)
        cities = reader.strings(t, "cities", where)
        for name in regions + cities:
            if len(name) > 100:
                reader.problem(where, _("“%(value)s” is longer than 100 characters") % {"value": name})
        out.append(
            {
                "where": where,
                "name": reader.text(t, "name", where, required=True, max_length=max_length(Territory, "name")),
                "owner_rep": owner_rep,
                "owner_pool": owner_pool,
                "regions": list(dict.fromkeys(regions)),
                "cities": list(dict.fromkeys(cities)),
                "ranges": sorted(set(ranges)),
            }
        )
    return out


def _accounts(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    return [
        {
            "where": where,
            "name": reader.text(a, "name", where, required=True, max_length=max_length(Account, "name")),
            "manager": refs.rep(a, "manager", where, required=True),
            "domains": reader.domains(a, "domains", where),  # a domain of two accounts (or twice in one) is check's
        }
        for where, a in items
    ]


def _rules(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, r in items:
        target = reader.choice(r, "target", where, Rule.Target.values)
        target_rep = refs.rep(r, "target_rep", where, required=target == Rule.Target.REP)
        target_pool = refs.named(r, "target_pool", where, refs.pools, _("pool"), required=target == Rule.Target.POOL)
        actions = []
        for awhere, a in reader.sub_items(r, "actions", where):
            kind = reader.choice(a, "kind", awhere, RuleAction.Kind.values)
            recipient = reader.choice(a, "recipient", awhere, RuleAction.Recipient.values, blank=True, default="")
            actions.append(
                {
                    "kind": kind,
                    "channel": refs.named(a, "channel", awhere, refs.channels, _("channel")),
                    "recipient": recipient or "",
                    "recipient_rep": refs.rep(a, "recipient_rep", awhere, required=recipient == RuleAction.Recipient.REP),
                    "template": reader.text(a, "template", awhere, max_length=max_length(RuleAction, "template")),
                    "text": reader.text(a, "text", awhere),
                    "config": reader.mapping(a, "config", awhere),
                }
            )
        out.append(
            {
                "where": where,
                "name": reader.text(r, "name", where, required=True, max_length=max_length(Rule, "name")),
                "is_active": reader.flag(r, "is_active", where, default=True),
                "match": reader.choice(r, "match", where, Match.values, default=Match.ALL),
                "target": target,
                "target_rep": target_rep if target == Rule.Target.REP else None,
                "target_pool": target_pool if target == Rule.Target.POOL else None,
                "conditions": _conditions(reader, refs, r, where),
                "actions": actions,
            }
        )
    return out


def _points(reader: Reader, item: Item, where: str) -> int:
    """A score rule's points: a whole number, negative ones taking points away."""
    value = item.get("points")
    if isinstance(value, bool) or not isinstance(value, int) or not -1_000_000 <= value <= 1_000_000:
        reader.problem(where, _("“points” must be a whole number from -1000000 to 1000000"))
        return 0
    return value


def _score_rules(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, s in items:
        conditions = _conditions(reader, refs, s, where)
        for i, c in enumerate(conditions):
            if (c["field"] or "").strip() == SCORE_FIELD:
                reader.problem(f"{where}.conditions[{i}]", _("a score rule cannot test the score: the score is what the score rules add up"))
        out.append(
            {
                "where": where,
                "name": reader.text(s, "name", where, required=True, max_length=max_length(ScoreRule, "name")),
                "points": _points(reader, s, where),
                "is_active": reader.flag(s, "is_active", where, default=True),
                "match": reader.choice(s, "match", where, Match.values, default=Match.ALL),
                "conditions": conditions,
            }
        )
    return out


def _calendars(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, c in items:
        zone = reader.text(c, "time_zone", where, required=True, max_length=max_length(BusinessCalendar, "time_zone"))
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            if zone:
                reader.problem(where, _("“%(zone)s” is not a time zone such as Europe/Warsaw") % {"zone": zone})
        hours = []
        for hwhere, h in reader.sub_items(c, "opening_hours", where):
            opens, closes = reader.clock(h, "opens", hwhere), reader.clock(h, "closes", hwhere)
            if opens and closes and closes <= opens:
                reader.problem(hwhere, _("closes before it opens"))
            hours.append({"weekday": reader.number(h, "weekday", hwhere, maximum=6), "opens": opens, "closes": closes})
        days = []
        for dwhere, d in reader.sub_items(c, "days", where):
            try:
                day = date.fromisoformat(d.get("date"))
            except (TypeError, ValueError):
                reader.problem(dwhere, _("“date” must be a date such as 2026-12-24"))
                day = None
            kind = reader.choice(d, "kind", dwhere, CalendarDay.Kind.values)
            opens, closes = reader.clock(d, "opens", dwhere, null=True), reader.clock(d, "closes", dwhere, null=True)
            if kind == CalendarDay.Kind.OPEN and not (opens and closes and closes > opens):
                reader.problem(dwhere, _("an open day needs its opening and closing time"))
            days.append({"date": day, "kind": kind, "opens": opens, "closes": closes, "note": reader.text(d, "note", dwhere, max_length=200)})
        out.append(
            {
                "where": where,
                "name": reader.text(c, "name", where, required=True, max_length=max_length(BusinessCalendar, "name")),
                "time_zone": zone,
                "holidays_country": reader.text(c, "holidays_country", where, max_length=2),
                "opening_hours": hours,
                "days": days,
            }
        )
    return out


def _sla_policies(reader: Reader, refs: Refs, items: Iterable[tuple[str, Item]]) -> list[Item]:
    out = []
    for where, p in items:
        steps = []
        for swhere, s in reader.sub_items(p, "steps", where):
            steps.append(
                {
                    "after_minutes": reader.number(s, "after_minutes", swhere),
                    "kind": reader.choice(s, "kind", swhere, EscalationStep.Kind.values),
                    "target_rep": refs.rep(s, "target_rep", swhere),
                    "channel": refs.named(s, "channel", swhere, refs.channels, _("channel")),
                }
            )
        out.append(
            {
                "where": where,
                "name": reader.text(p, "name", where, required=True, max_length=max_length(SlaPolicy, "name")),
                "is_active": reader.flag(p, "is_active", where, default=True),
                "match": reader.choice(p, "match", where, Match.values, default=Match.ALL),
                "priority": reader.choice(p, "priority", where, Priority.values, null=True),
                "response_minutes": reader.number(p, "response_minutes", where, null=True),
                "calendar": refs.named(p, "calendar", where, refs.calendars, _("calendar"), required=True),
                "autoresponse_template": reader.text(p, "autoresponse_template", where, max_length=max_length(SlaPolicy, "autoresponse_template")),
                "conditions": _conditions(reader, refs, p, where),
                "steps": steps,
            }
        )
    return out


_SECTION_READERS: dict[str, Callable[[Reader, Refs, Iterable[tuple[str, Item]]], list[Item]]] = {
    "reps": _reps,
    "channels": _channels,
    "domain_lists": _domain_lists,
    "pools": _pools,
    "on_duty_rota": _on_duty_rota,
    "territories": _territories,
    "accounts": _accounts,
    "rules": _rules,
    "score_rules": _score_rules,
    "calendars": _calendars,
    "sla_policies": _sla_policies,
}


def _rota_items(reader: Reader, document: dict[str, Any]) -> list[tuple[str, Item]]:
    """The rota's days: its items have no name, and a missing or null rota is an empty one."""
    out = []
    for i, d in enumerate(document.get("on_duty_rota", []) or []):
        where = f"on_duty_rota[{i}]"
        if isinstance(d, dict):
            out.append((where, d))
        else:
            reader.problem(where, _("must be an object"))
    return out


def document_read(document: Any) -> tuple[Plan, list[str]]:
    """Read every part of the document: the plan (references resolved to keys) and every problem found on the way."""
    reader = Reader()
    if not isinstance(document, dict):
        return {}, [_("The document must be a JSON object with a “version”.")]
    if document.get("version") != VERSION:
        return {}, [
            _("Unsupported document version %(version)r: this Leadrouter reads version %(supported)d.")
            % {"version": document.get("version"), "supported": VERSION}
        ]
    for key in document:
        if key not in SECTIONS and key not in ("version", "exported_at"):
            reader.problem(key, _("unknown section"))
    refs = Refs(document, reader)
    plan: Plan = {}
    for section in SECTIONS:
        items = _rota_items(reader, document) if section == "on_duty_rota" else reader.items(document, section)
        plan[section] = _SECTION_READERS[section](reader, refs, items)
    return plan, reader.problems
