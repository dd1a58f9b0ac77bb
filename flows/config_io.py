"""The routing setup as one versioned JSON document: export from staging, import in production.

The document (`{"version": 1, ...}`) holds rules with their conditions and actions, pools with their ordered
members, the on-duty rota, domain lists, territories, accounts, notification channels (without their URL and
secret), business calendars with opening hours and special days, SLA policies with conditions and escalation
steps, and the routing settings of reps (weight, daily cap, languages, team lead, notify via).

References use names a person can read: reps by e-mail, everything else by name. Reps themselves are not
created by an import (they are people with logins: `manage.py import_csv reps` creates them); a document that
names a rep this database does not have is refused.

Import = the database's routing setup becomes the document's:
- rules and SLA policies are matched by name, rewritten, and put in the document's order; those the document
  does not name are switched off (kept: leads point at them);
- territories and accounts the document does not name are deleted (they would route leads otherwise);
- pools, domain lists, calendars and channels are matched by name and brought to the document's state; others
  are left alone (they do nothing unless a rule, policy or territory uses them);
- channels keep their existing URL and secret; a new channel has none until someone sets them in the admin.
The whole document is checked first and every problem is reported; then it is applied in one transaction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.engine import condition_errors
from core.models import ConditionBase, Match
from core.text import fold
from notifications.delivery import SECRET_OPTION
from notifications.models import Channel
from reps.csv_files import OwnedRange, domain_is_valid, domain_normalise, postal_range_format, postal_range_parse, range_conflicts
from reps.models import (
    Account,
    AccountDomain,
    DomainList,
    DomainListEntry,
    OnDutyRota,
    Pool,
    PoolMembership,
    PostalRange,
    Rep,
    Territory,
    TerritoryCity,
    TerritoryRegion,
)
from routing.models import Priority, Rule, RuleAction, RuleCondition
from sla.models import BusinessCalendar, CalendarDay, EscalationStep, OpeningHours, PolicyCondition, SlaPolicy

VERSION = 1
SECTIONS = (
    "reps",
    "channels",
    "domain_lists",
    "pools",
    "on_duty_rota",
    "territories",
    "accounts",
    "rules",
    "calendars",
    "sla_policies",
)


class RoutingConfigError(Exception):
    """The document cannot be imported; `problems` says every reason, each with where it is."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _email(rep: Rep | None) -> str | None:
    return rep.email if rep else None


def _name(obj) -> str | None:
    return obj.name if obj else None


def _hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value else None


def _conditions_export(conditions) -> list[dict]:
    return [{"field": c.field, "operator": c.operator, "value": c.value, "domain_list": _name(c.domain_list)} for c in sorted(conditions, key=lambda c: c.id)]


# ================================================================================================ export


def _config_public(config: dict) -> dict:
    """A channel's options without the secret-named ones (token, api_key, auth header...)."""
    return {k: v for k, v in (config or {}).items() if not SECRET_OPTION.search(k)}


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
        "channels": [{"name": c.name, "kind": c.kind, "config": _config_public(c.config), "is_active": c.is_active} for c in Channel.objects.order_by("name")],
        "domain_lists": [{"name": dl.name, "kind": dl.kind, "domains": sorted(e.domain for e in dl.entries.all())} for dl in lists],
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


# ================================================================================================ checking


def _max_length(model, field: str) -> int:
    return model._meta.get_field(field).max_length


class _Reader:
    """Reads the document's values, noting every problem with where it is ("rules[3] “VIP”: target_rep ...")."""

    def __init__(self):
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def items(self, document: dict, section: str) -> list[tuple[str, dict]]:
        value = document.get(section, [])
        if not isinstance(value, list):
            self.problem(section, _("must be a list"))
            return []
        out = []
        for i, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            where = f"{section}[{i}]" + (f" “{name}”" if isinstance(name, str) and name else "")
            if not isinstance(item, dict):
                self.problem(where, _("must be an object"))
                continue
            out.append((where, item))
        return out

    def sub_items(self, item: dict, key: str, where: str) -> list[tuple[str, dict]]:
        value = item.get(key, [])
        if not isinstance(value, list):
            self.problem(f"{where}.{key}", _("must be a list"))
            return []
        out = []
        for i, sub in enumerate(value):
            if isinstance(sub, dict):
                out.append((f"{where}.{key}[{i}]", sub))
            else:
                self.problem(f"{where}.{key}[{i}]", _("must be an object"))
        return out

    def text(self, item: dict, key: str, where: str, *, required: bool = False, max_length: int | None = None, null: bool = False):
        value = item.get(key)
        if value is None:
            if required:
                self.problem(where, _("“%(key)s” is required") % {"key": key})
            return None if null else ""
        if not isinstance(value, str):
            self.problem(where, _("“%(key)s” must be text") % {"key": key})
            return None if null else ""
        value = value.strip() if key == "name" else value
        if required and not value:
            self.problem(where, _("“%(key)s” must not be empty") % {"key": key})
        if max_length and len(value) > max_length:
            self.problem(where, _("“%(key)s” is longer than %(max)d characters") % {"key": key, "max": max_length})
        return value

    def number(self, item: dict, key: str, where: str, *, null: bool = False, default: int | None = None, maximum: int = 2_147_483_647):
        value = item.get(key, default)
        if value is None:
            if not null:
                self.problem(where, _("“%(key)s” is required") % {"key": key})
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.problem(where, _("“%(key)s” must be a whole number from 0 to %(max)d") % {"key": key, "max": maximum})
            return default
        return value

    def flag(self, item: dict, key: str, where: str, *, default: bool) -> bool:
        value = item.get(key, default)
        if not isinstance(value, bool):
            self.problem(where, _("“%(key)s” must be true or false") % {"key": key})
            return default
        return value

    def choice(self, item: dict, key: str, where: str, choices, *, null: bool = False, blank: bool = False, default=None):
        value = item.get(key, default)
        if value is None and null:
            return None
        if value == "" and blank:
            return ""
        if value not in choices:
            self.problem(where, _("“%(key)s” must be one of %(choices)s, not %(value)r") % {"key": key, "choices": ", ".join(choices), "value": value})
            return None
        return value

    def mapping(self, item: dict, key: str, where: str) -> dict:
        value = item.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, _("“%(key)s” must be an object") % {"key": key})
            return {}
        return value

    def strings(self, item: dict, key: str, where: str) -> list[str]:
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(where, _("“%(key)s” must be a list of text") % {"key": key})
            return []
        return [v.strip() for v in value if v.strip()]

    def clock(self, item: dict, key: str, where: str, *, null: bool = False) -> time | None:
        value = item.get(key)
        if value is None and null:
            return None
        try:
            return time.fromisoformat(value)
        except (TypeError, ValueError):
            self.problem(where, _("“%(key)s” must be a time such as 08:00") % {"key": key})
            return None

    def unique_names(self, items: list[tuple[str, dict]], section: str) -> None:
        counts = Counter(item.get("name") for _where, item in items if isinstance(item.get("name"), str))
        for name, count in counts.items():
            if count > 1:
                self.problem(section, _("the name “%(name)s” is used %(count)d times") % {"name": name, "count": count})


class _Refs:
    """Names the document may refer to: what it defines, plus what the database already has."""

    def __init__(self, document: dict, reader: _Reader):
        self.reader = reader
        self.reps = {r.email.lower(): r for r in Rep.objects.all()}

        def names(section, model):
            in_doc = {i.get("name") for i in document.get(section, []) or [] if isinstance(i, dict)}
            return in_doc | set(model.objects.values_list("name", flat=True))

        self.pools = names("pools", Pool)
        self.lists = names("domain_lists", DomainList)
        self.channels = names("channels", Channel)
        self.calendars = names("calendars", BusinessCalendar)

    def rep(self, item: dict, key: str, where: str, *, required: bool = False) -> str | None:
        email = item.get(key)
        if email in (None, ""):
            if required:
                self.reader.problem(where, _("“%(key)s” (a rep's e-mail) is required") % {"key": key})
            return None
        if not isinstance(email, str) or email.lower() not in self.reps:
            self.reader.problem(
                where,
                _("no rep has the e-mail “%(email)s” in this database (create the reps first: manage.py import_csv reps FILE)") % {"email": email},
            )
            return None
        return email.lower()

    def named(self, item: dict, key: str, where: str, known: set, what: str, *, required: bool = False) -> str | None:
        name = item.get(key)
        if name in (None, ""):
            if required:
                self.reader.problem(where, _("“%(key)s” is required") % {"key": key})
            return None
        if name not in known:
            self.reader.problem(where, _("there is no %(what)s named “%(name)s”") % {"what": what, "name": name})
            return None
        return name


def _conditions_read(reader: _Reader, refs: _Refs, item: dict, where: str) -> list[dict]:
    out = []
    for cwhere, c in reader.sub_items(item, "conditions", where):
        operator = reader.choice(c, "operator", cwhere, ConditionBase.Operator.values)
        field = reader.text(c, "field", cwhere, max_length=_max_length(RuleCondition, "field"))
        value = reader.text(c, "value", cwhere)
        domain_list = refs.named(c, "domain_list", cwhere, refs.lists, _("domain list"))
        if operator:
            for message in condition_errors(field=field, operator=operator, value=value, has_domain_list=bool(c.get("domain_list"))):
                reader.problem(cwhere, message)
        out.append({"field": field, "operator": operator, "value": value, "domain_list": domain_list})
    return out


def _document_read(document: Any) -> tuple[dict, list[str]]:
    """Check every part of the document; return it normalised (references resolved to keys) and the problems."""
    reader = _Reader()
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
    refs = _Refs(document, reader)
    plan: dict[str, list[dict]] = {section: [] for section in SECTIONS}

    for where, r in reader.items(document, "reps"):
        email = refs.rep(r, "email", where, required=True)
        languages = reader.text(r, "languages", where, max_length=_max_length(Rep, "languages"))
        notify_via = r.get("notify_via", [])
        if not isinstance(notify_via, list) or not all(isinstance(v, str) for v in notify_via):
            reader.problem(where, _("“notify_via” must be a list of channel kinds"))
            notify_via = []
        plan["reps"].append(
            {
                "email": email,
                "weight": reader.number(r, "weight", where, default=1, maximum=32767),
                "daily_cap": reader.number(r, "daily_cap", where, null=True),
                "languages": languages,
                "is_team_lead": reader.flag(r, "is_team_lead", where, default=False),
                "notify_via": notify_via,
            }
        )

    items = reader.items(document, "channels")
    reader.unique_names(items, "channels")
    for where, c in items:
        plan["channels"].append(
            {
                "name": reader.text(c, "name", where, required=True, max_length=_max_length(Channel, "name")),
                "kind": reader.choice(c, "kind", where, Channel.Kind.values),
                "config": reader.mapping(c, "config", where),
                "is_active": reader.flag(c, "is_active", where, default=True),
            }
        )
        for secret in ("url", "secret"):
            if c.get(secret):
                reader.problem(where, _("“%(key)s” is a secret and is not imported: remove it from the document and set it in the admin") % {"key": secret})

    items = reader.items(document, "domain_lists")
    reader.unique_names(items, "domain_lists")
    for where, dl in items:
        domains = []
        for text in reader.strings(dl, "domains", where):
            domain = domain_normalise(text)
            if not domain_is_valid(domain):
                reader.problem(where, _("“%(value)s” is not a domain") % {"value": text})
            elif domain not in domains:
                domains.append(domain)
        plan["domain_lists"].append(
            {
                "name": reader.text(dl, "name", where, required=True, max_length=_max_length(DomainList, "name")),
                "kind": reader.choice(dl, "kind", where, DomainList.Kind.values, default=DomainList.Kind.CUSTOM),
                "domains": domains,
            }
        )

    items = reader.items(document, "pools")
    reader.unique_names(items, "pools")
    for where, p in items:
        members, seen = [], set()
        for mwhere, m in reader.sub_items(p, "members", where):
            email = refs.rep(m, "rep", mwhere, required=True)
            if email in seen:
                reader.problem(mwhere, _("the rep %(email)s is already a member") % {"email": email})
            seen.add(email)
            members.append({"rep": email, "weight": reader.number(m, "weight", mwhere, null=True, maximum=32767)})
        plan["pools"].append(
            {
                "name": reader.text(p, "name", where, required=True, max_length=_max_length(Pool, "name")),
                "fallback_rep": refs.rep(p, "fallback_rep", where),
                "is_fallback": reader.flag(p, "is_fallback", where, default=False),
                "members": members,
            }
        )
    if sum(1 for p in plan["pools"] if p["is_fallback"]) > 1:
        reader.problem("pools", _("only one pool can be the routing fallback"))

    rota_days = set()
    for i, d in enumerate(document.get("on_duty_rota", []) or []):
        where = f"on_duty_rota[{i}]"
        if not isinstance(d, dict):
            reader.problem(where, _("must be an object"))
            continue
        weekday = reader.number(d, "weekday", where, maximum=6)
        if weekday in rota_days:
            reader.problem(where, _("weekday %(day)d is listed twice") % {"day": weekday})
        rota_days.add(weekday)
        plan["on_duty_rota"].append({"weekday": weekday, "rep": refs.rep(d, "rep", where, required=True)})

    items = reader.items(document, "territories")
    reader.unique_names(items, "territories")
    owned: list[OwnedRange] = []
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
        owner = ("rep", owner_rep) if owner_rep else ("pool", owner_pool)
        owned.extend(OwnedRange(s, e, owner, where) for s, e in ranges)
        regions = reader.strings(t, "regions", where)
        cities = reader.strings(t, "cities", where)
        for name in regions + cities:
            if len(name) > 100:
                reader.problem(where, _("“%(value)s” is longer than 100 characters") % {"value": name})
        plan["territories"].append(
            {
                "name": reader.text(t, "name", where, required=True, max_length=_max_length(Territory, "name")),
                "owner_rep": owner_rep,
                "owner_pool": owner_pool,
                "regions": list(dict.fromkeys(regions)),
                "cities": list(dict.fromkeys(cities)),
                "ranges": sorted(set(ranges)),
            }
        )
    for a, b in range_conflicts(owned):
        reader.problem(
            b.ref,
            _("postal codes %(range)s overlap %(other)s of %(where)s, which has another owner")
            % {"range": postal_range_format(b.start, b.end), "other": postal_range_format(a.start, a.end), "where": a.ref},
        )

    items = reader.items(document, "accounts")
    reader.unique_names(items, "accounts")
    domain_holder: dict[str, str] = {}
    for where, a in items:
        domains = []
        for text in reader.strings(a, "domains", where):
            domain = domain_normalise(text)
            if not domain_is_valid(domain):
                reader.problem(where, _("“%(value)s” is not a domain") % {"value": text})
            elif domain in domain_holder:
                reader.problem(where, _("the domain %(domain)s already belongs to %(other)s") % {"domain": domain, "other": domain_holder[domain]})
            else:
                domain_holder[domain] = where
                domains.append(domain)
        plan["accounts"].append(
            {
                "name": reader.text(a, "name", where, required=True, max_length=_max_length(Account, "name")),
                "manager": refs.rep(a, "manager", where, required=True),
                "domains": domains,
            }
        )

    items = reader.items(document, "rules")
    reader.unique_names(items, "rules")
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
                    "template": reader.text(a, "template", awhere, max_length=_max_length(RuleAction, "template")),
                    "text": reader.text(a, "text", awhere),
                    "config": reader.mapping(a, "config", awhere),
                }
            )
        plan["rules"].append(
            {
                "name": reader.text(r, "name", where, required=True, max_length=_max_length(Rule, "name")),
                "is_active": reader.flag(r, "is_active", where, default=True),
                "match": reader.choice(r, "match", where, Match.values, default=Match.ALL),
                "target": target,
                "target_rep": target_rep if target == Rule.Target.REP else None,
                "target_pool": target_pool if target == Rule.Target.POOL else None,
                "conditions": _conditions_read(reader, refs, r, where),
                "actions": actions,
            }
        )

    items = reader.items(document, "calendars")
    reader.unique_names(items, "calendars")
    for where, c in items:
        zone = reader.text(c, "time_zone", where, required=True, max_length=_max_length(BusinessCalendar, "time_zone"))
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
        plan["calendars"].append(
            {
                "name": reader.text(c, "name", where, required=True, max_length=_max_length(BusinessCalendar, "name")),
                "time_zone": zone,
                "holidays_country": reader.text(c, "holidays_country", where, max_length=2),
                "opening_hours": hours,
                "days": days,
            }
        )

    items = reader.items(document, "sla_policies")
    reader.unique_names(items, "sla_policies")
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
        plan["sla_policies"].append(
            {
                "name": reader.text(p, "name", where, required=True, max_length=_max_length(SlaPolicy, "name")),
                "is_active": reader.flag(p, "is_active", where, default=True),
                "match": reader.choice(p, "match", where, Match.values, default=Match.ALL),
                "priority": reader.choice(p, "priority", where, Priority.values, null=True),
                "response_minutes": reader.number(p, "response_minutes", where, null=True),
                "calendar": refs.named(p, "calendar", where, refs.calendars, _("calendar"), required=True),
                "autoresponse_template": reader.text(p, "autoresponse_template", where, max_length=_max_length(SlaPolicy, "autoresponse_template")),
                "conditions": _conditions_read(reader, refs, p, where),
                "steps": steps,
            }
        )
    return plan, reader.problems


def routing_config_check(document: Any) -> list[str]:
    """Every problem that would stop `routing_config_import`; [] when the document can be imported."""
    return _document_read(document)[1]


# ================================================================================================ import


@transaction.atomic
def routing_config_import(*, document: Any, dry_run: bool = False) -> dict[str, int]:
    """Make this database's routing setup the document's, all at once; raises RoutingConfigError, writing nothing.

    Returns what changed, by kind (e.g. {"rules": 12, "rules switched off": 1, "new channels without secret": 2}).
    """
    plan, problems = _document_read(document)
    if problems:
        raise RoutingConfigError(problems)
    summary: dict[str, int] = defaultdict(int)
    now = timezone.now()
    reps = {r.email.lower(): r for r in Rep.objects.select_for_update()}

    for r in plan["reps"]:
        rep = reps[r["email"]]
        for key in ("weight", "daily_cap", "languages", "is_team_lead", "notify_via"):
            setattr(rep, key, r[key])
        rep.save(update_fields=["weight", "daily_cap", "languages", "is_team_lead", "notify_via"])
        summary["reps"] += 1

    channels = {c.name: c for c in Channel.objects.all()}
    for c in plan["channels"]:
        channel = channels.get(c["name"])
        if channel is None:
            channel = channels[c["name"]] = Channel(name=c["name"], url="", secret="")
            summary["new channels without URL or secret"] += 1
        # url, secret and secret-named options (api_key, token...) are kept as they are: exports never carry them.
        kept = {k: v for k, v in (channel.config or {}).items() if SECRET_OPTION.search(k)}
        channel.kind, channel.config, channel.is_active = c["kind"], {**_config_public(c["config"]), **kept}, c["is_active"]
        channel.save()
        summary["channels"] += 1

    lists = {dl.name: dl for dl in DomainList.objects.all()}
    for dl in plan["domain_lists"]:
        domain_list = lists.get(dl["name"]) or DomainList(name=dl["name"])
        domain_list.kind = dl["kind"]
        domain_list.save()
        lists[dl["name"]] = domain_list
        domain_list.entries.exclude(domain__in=dl["domains"]).delete()
        have = set(domain_list.entries.values_list("domain", flat=True))
        DomainListEntry.objects.bulk_create([DomainListEntry(domain_list=domain_list, domain=d) for d in dl["domains"] if d not in have])
        summary["domain lists"] += 1

    pools = {p.name: p for p in Pool.objects.all()}
    for p in plan["pools"]:
        pool = pools.get(p["name"]) or Pool(name=p["name"])
        pool.fallback_rep = reps[p["fallback_rep"]] if p["fallback_rep"] else None
        pool.is_fallback = False  # set below, once every pool has dropped the flag (one fallback pool at most)
        pool.save()
        pools[p["name"]] = pool
        pool.memberships.all().delete()
        PoolMembership.objects.bulk_create(PoolMembership(pool=pool, rep=reps[m["rep"]], position=i, weight=m["weight"]) for i, m in enumerate(p["members"]))
        summary["pools"] += 1
    fallback = [p["name"] for p in plan["pools"] if p["is_fallback"]]
    if fallback:
        Pool.objects.filter(is_fallback=True).update(is_fallback=False)
        Pool.objects.filter(name=fallback[0]).update(is_fallback=True)

    if "on_duty_rota" in document:
        OnDutyRota.objects.all().delete()
        OnDutyRota.objects.bulk_create(OnDutyRota(weekday=d["weekday"], rep=reps[d["rep"]]) for d in plan["on_duty_rota"])

    if "territories" in document:
        names = [t["name"] for t in plan["territories"]]
        summary["territories deleted"] = Territory.objects.exclude(name__in=names).delete()[1].get("reps.Territory", 0)
    existing = {t.name: t for t in Territory.objects.all()}
    for t in plan["territories"]:
        territory = existing.get(t["name"]) or Territory(name=t["name"])
        territory.owner_rep = reps[t["owner_rep"]] if t["owner_rep"] else None
        territory.owner_pool = pools[t["owner_pool"]] if t["owner_pool"] else None
        territory.save()
        existing[t["name"]] = territory
    territory_ids = [existing[t["name"]].id for t in plan["territories"]]
    for model in (TerritoryRegion, TerritoryCity, PostalRange):
        for i in range(0, len(territory_ids), 1000):
            model.objects.filter(territory_id__in=territory_ids[i : i + 1000]).delete()
    TerritoryRegion.objects.bulk_create(
        [TerritoryRegion(territory=existing[t["name"]], name=n, key=fold(n)) for t in plan["territories"] for n in t["regions"]], batch_size=1000
    )
    TerritoryCity.objects.bulk_create(
        [TerritoryCity(territory=existing[t["name"]], name=n, key=fold(n)) for t in plan["territories"] for n in t["cities"]], batch_size=1000
    )
    PostalRange.objects.bulk_create(
        [PostalRange(territory=existing[t["name"]], start=s, end=e) for t in plan["territories"] for s, e in t["ranges"]], batch_size=1000
    )
    summary["territories"] = len(plan["territories"])

    if "accounts" in document:
        summary["accounts deleted"] = Account.objects.exclude(name__in=[a["name"] for a in plan["accounts"]]).delete()[1].get("reps.Account", 0)
    accounts = {a.name: a for a in Account.objects.all()}
    AccountDomain.objects.filter(account__name__in=[a["name"] for a in plan["accounts"]]).delete()
    for a in plan["accounts"]:
        account = accounts.get(a["name"]) or Account(name=a["name"])
        account.manager = reps[a["manager"]]
        account.save()
        AccountDomain.objects.bulk_create(AccountDomain(account=account, domain=d) for d in a["domains"])
        summary["accounts"] += 1

    calendars = {c.name: c for c in BusinessCalendar.objects.all()}
    for c in plan["calendars"]:
        calendar = calendars.get(c["name"]) or BusinessCalendar(name=c["name"])
        calendar.time_zone, calendar.holidays_country = c["time_zone"], c["holidays_country"]
        calendar.save()
        calendars[c["name"]] = calendar
        calendar.opening_hours.all().delete()
        OpeningHours.objects.bulk_create(OpeningHours(calendar=calendar, **h) for h in c["opening_hours"])
        calendar.days.all().delete()
        CalendarDay.objects.bulk_create(CalendarDay(calendar=calendar, **d) for d in c["days"])
        summary["calendars"] += 1

    def by_name(queryset):
        first = {}
        for obj in queryset.order_by("position", "id"):
            first.setdefault(obj.name, obj)
        return first

    if "rules" in document:
        rules = by_name(Rule.objects.all())
        kept = []
        for position, r in enumerate(plan["rules"], start=1):
            rule = rules.get(r["name"]) or Rule(name=r["name"])
            rule.position, rule.is_active, rule.match, rule.target = position, r["is_active"], r["match"], r["target"]
            rule.target_rep = reps[r["target_rep"]] if r["target_rep"] else None
            rule.target_pool = pools[r["target_pool"]] if r["target_pool"] else None
            rule.save()  # moves updated_at: the compiled rule set notices (routing/ruleset.py)
            kept.append(rule.pk)
            rule.conditions.all().delete()
            RuleCondition.objects.bulk_create(
                RuleCondition(
                    rule=rule, field=c["field"], operator=c["operator"], value=c["value"], domain_list=lists.get(c["domain_list"]) if c["domain_list"] else None
                )
                for c in r["conditions"]
            )
            rule.actions.all().delete()
            RuleAction.objects.bulk_create(
                RuleAction(
                    rule=rule,
                    position=i,
                    kind=a["kind"],
                    channel=channels[a["channel"]] if a["channel"] else None,
                    recipient=a["recipient"],
                    recipient_rep=reps[a["recipient_rep"]] if a["recipient_rep"] else None,
                    template=a["template"],
                    text=a["text"],
                    config=a["config"],
                )
                for i, a in enumerate(r["actions"])
            )
            summary["rules"] += 1
        # update() does not touch auto_now: set updated_at so the compiled rule set is rebuilt.
        summary["rules switched off"] = Rule.objects.exclude(pk__in=kept).filter(is_active=True).update(is_active=False, updated_at=now)

    if "sla_policies" in document:
        policies = by_name(SlaPolicy.objects.all())
        kept = []
        for position, p in enumerate(plan["sla_policies"], start=1):
            policy = policies.get(p["name"]) or SlaPolicy(name=p["name"])
            for key in ("is_active", "match", "priority", "response_minutes", "autoresponse_template"):
                setattr(policy, key, p[key])
            policy.position, policy.calendar = position, calendars[p["calendar"]]
            policy.save()
            kept.append(policy.pk)
            policy.conditions.all().delete()
            PolicyCondition.objects.bulk_create(
                PolicyCondition(
                    policy=policy,
                    field=c["field"],
                    operator=c["operator"],
                    value=c["value"],
                    domain_list=lists.get(c["domain_list"]) if c["domain_list"] else None,
                )
                for c in p["conditions"]
            )
            policy.steps.all().delete()
            EscalationStep.objects.bulk_create(
                EscalationStep(
                    policy=policy,
                    after_minutes=s["after_minutes"],
                    kind=s["kind"],
                    target_rep=reps[s["target_rep"]] if s["target_rep"] else None,
                    channel=channels[s["channel"]] if s["channel"] else None,
                )
                for s in p["steps"]
            )
            summary["SLA policies"] += 1
        summary["SLA policies switched off"] = SlaPolicy.objects.exclude(pk__in=kept).filter(is_active=True).update(is_active=False)

    if dry_run:
        transaction.set_rollback(True)
    else:
        transaction.on_commit(_caches_drop)
    return dict(summary)


def _caches_drop() -> None:
    from routing.ruleset import ruleset_invalidate

    ruleset_invalidate()


__all__ = ["VERSION", "RoutingConfigError", "routing_config_check", "routing_config_export", "routing_config_import"]
