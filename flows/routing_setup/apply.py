"""Importing a routing document: the database's routing setup becomes the document's, in one transaction.

The document is checked whole first (flows.routing_setup.check); with any problem nothing is written. Then each
section is applied in order, looking up what earlier sections made (reps by e-mail, pools, lists, channels and
calendars by name). Rules are written through routing.services.rules, so every imported rule change is in the
rule audit trail like an edit in the admin, marked `"via": "import"` and naming the user who imported (none from
the command line); that also tells the compiled rule set. See flows/routing_setup/__init__.py for what an import
keeps, rewrites, switches off and deletes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models, transaction

from core.text import fold
from flows.routing_setup.check import document_plan
from flows.routing_setup.document import Plan, config_public
from notifications.delivery import SECRET_OPTION
from notifications.models import Channel
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
from reps.services import pool_fallback_set
from routing.models import Rule, RuleAction, RuleCondition, ScoreCondition, ScoreRule
from routing.services.rules import ACTION_FIELDS, CONDITION_FIELDS, VIA_IMPORT, rule_save
from routing.services.scoring import score_rule_save
from sla.models import BusinessCalendar, CalendarDay, EscalationStep, OpeningHours, PolicyCondition, SlaPolicy

if TYPE_CHECKING:
    from routing.services.rules import Actor

Row = TypeVar("Row", RuleCondition, RuleAction)


@dataclass
class _Import:
    """One import under way: the plan, the document's sections, who imports, what exists by key, what changed."""

    plan: Plan
    sections: set[str]
    user: Actor
    reps: dict[str, Rep] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    lists: dict[str, DomainList] = field(default_factory=dict)
    pools: dict[str, Pool] = field(default_factory=dict)
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _first_by_name(queryset: models.QuerySet) -> dict[str, Any]:
    """Each name's first object in table order (a document names each rule and policy once)."""
    first: dict[str, Any] = {}
    for obj in queryset.order_by("position", "id"):
        first.setdefault(obj.name, obj)
    return first


def _reps_apply(run: _Import) -> None:
    run.reps = {r.email.lower(): r for r in Rep.objects.select_for_update()}
    for r in run.plan["reps"]:
        rep = run.reps[r["email"]]
        for key in ("weight", "daily_cap", "languages", "is_team_lead", "notify_via"):
            setattr(rep, key, r[key])
        rep.save(update_fields=["weight", "daily_cap", "languages", "is_team_lead", "notify_via"])
        run.summary["reps"] += 1


def _channels_apply(run: _Import) -> None:
    run.channels = {c.name: c for c in Channel.objects.all()}
    for c in run.plan["channels"]:
        channel = run.channels.get(c["name"])
        if channel is None:
            channel = run.channels[c["name"]] = Channel(name=c["name"], url="", secret="")
            run.summary["new channels without URL or secret"] += 1
        # url, secret and secret-named options (api_key, token...) are kept as they are: exports never carry them.
        kept = {k: v for k, v in (channel.config or {}).items() if SECRET_OPTION.search(k)}
        channel.kind, channel.config, channel.is_active = c["kind"], {**config_public(c["config"]), **kept}, c["is_active"]
        channel.save()
        run.summary["channels"] += 1


def _domain_lists_apply(run: _Import) -> None:
    run.lists = {dl.name: dl for dl in DomainList.objects.all()}
    for dl in run.plan["domain_lists"]:
        domain_list = run.lists.get(dl["name"]) or DomainList(name=dl["name"])
        domain_list.kind, domain_list.builtin = dl["kind"], dl.get("builtin", "")
        domain_list.save()
        run.lists[dl["name"]] = domain_list
        wanted = {d: False for d in dl["domains"]} | {d: True for d in dl.get("exceptions", ())}  # domain -> is an exception
        domain_list.entries.exclude(domain__in=wanted).delete()
        have = dict(domain_list.entries.values_list("domain", "is_exception"))
        for is_exception in (False, True):
            domain_list.entries.filter(domain__in=[d for d, e in wanted.items() if e == is_exception and have.get(d, e) != e]).update(is_exception=is_exception)
        DomainListEntry.objects.bulk_create([DomainListEntry(domain_list=domain_list, domain=d, is_exception=e) for d, e in wanted.items() if d not in have])
        run.summary["domain lists"] += 1


def _pools_apply(run: _Import) -> None:
    run.pools = {p.name: p for p in Pool.objects.all()}
    for p in run.plan["pools"]:
        pool = run.pools.get(p["name"]) or Pool(name=p["name"])
        pool.fallback_rep = run.reps[p["fallback_rep"]] if p["fallback_rep"] else None
        pool.is_fallback = False  # set below, once every pool has dropped the flag (one fallback pool at most)
        pool.save()
        run.pools[p["name"]] = pool
        pool.memberships.all().delete()
        PoolMembership.objects.bulk_create(
            PoolMembership(pool=pool, rep=run.reps[m["rep"]], position=i, weight=m["weight"]) for i, m in enumerate(p["members"])
        )
        run.summary["pools"] += 1
    fallback = [p["name"] for p in run.plan["pools"] if p["is_fallback"]]
    if fallback:
        pool_fallback_set(pool=run.pools[fallback[0]])


def _on_duty_rota_apply(run: _Import) -> None:
    if "on_duty_rota" in run.sections:
        OnDutyRota.objects.all().delete()
        OnDutyRota.objects.bulk_create(OnDutyRota(weekday=d["weekday"], rep=run.reps[d["rep"]]) for d in run.plan["on_duty_rota"])


def _territories_apply(run: _Import) -> None:
    plan = run.plan["territories"]
    if "territories" in run.sections:
        names = [t["name"] for t in plan]
        run.summary["territories deleted"] = Territory.objects.exclude(name__in=names).delete()[1].get("reps.Territory", 0)
    existing = {t.name: t for t in Territory.objects.all()}
    for t in plan:
        territory = existing.get(t["name"]) or Territory(name=t["name"])
        territory.owner_rep = run.reps[t["owner_rep"]] if t["owner_rep"] else None
        territory.owner_pool = run.pools[t["owner_pool"]] if t["owner_pool"] else None
        territory.save()
        existing[t["name"]] = territory
    territory_ids = [existing[t["name"]].id for t in plan]
    for model in (TerritoryRegion, TerritoryCity, PostalRange):
        for i in range(0, len(territory_ids), 1000):
            model.objects.filter(territory_id__in=territory_ids[i : i + 1000]).delete()
    TerritoryRegion.objects.bulk_create(
        [TerritoryRegion(territory=existing[t["name"]], name=n, key=fold(n)) for t in plan for n in t["regions"]], batch_size=1000
    )
    TerritoryCity.objects.bulk_create([TerritoryCity(territory=existing[t["name"]], name=n, key=fold(n)) for t in plan for n in t["cities"]], batch_size=1000)
    PostalRange.objects.bulk_create([PostalRange(territory=existing[t["name"]], start=s, end=e) for t in plan for s, e in t["ranges"]], batch_size=1000)
    run.summary["territories"] = len(plan)


def _accounts_apply(run: _Import) -> None:
    plan = run.plan["accounts"]
    if "accounts" in run.sections:
        run.summary["accounts deleted"] = Account.objects.exclude(name__in=[a["name"] for a in plan]).delete()[1].get("reps.Account", 0)
    accounts = {a.name: a for a in Account.objects.all()}
    AccountDomain.objects.filter(account__name__in=[a["name"] for a in plan]).delete()
    for a in plan:
        account = accounts.get(a["name"]) or Account(name=a["name"])
        account.manager = run.reps[a["manager"]]
        account.save()
        AccountDomain.objects.bulk_create(AccountDomain(account=account, domain=d) for d in a["domains"])
        run.summary["accounts"] += 1


def _calendars_apply(run: _Import) -> None:
    run.calendars = {c.name: c for c in BusinessCalendar.objects.all()}
    for c in run.plan["calendars"]:
        calendar = run.calendars.get(c["name"]) or BusinessCalendar(name=c["name"])
        calendar.time_zone, calendar.holidays_country = c["time_zone"], c["holidays_country"]
        calendar.save()
        run.calendars[c["name"]] = calendar
        calendar.opening_hours.all().delete()
        OpeningHours.objects.bulk_create(OpeningHours(calendar=calendar, **h) for h in c["opening_hours"])
        calendar.days.all().delete()
        CalendarDay.objects.bulk_create(CalendarDay(calendar=calendar, **d) for d in c["days"])
        run.summary["calendars"] += 1


def _rows_onto(existing: Sequence[Row], wanted: Sequence[Row], names: Sequence[str]) -> list[Row]:
    """The document's conditions (or actions) laid onto the rule's, by place, as an edit in the admin does: row i of
    the document rewrites row i of the rule, extra rows are new, rows beyond the document's are deleted. Unchanged
    rows stay as they are, so the audit trail and the compiled rule set see only real changes."""
    rows = []
    for i, row in enumerate(wanted):
        if i < len(existing):
            for name in names:
                setattr(existing[i], name, getattr(row, name))
            row = existing[i]
        rows.append(row)
    return rows


def _rules_apply(run: _Import) -> None:
    if "rules" not in run.sections:
        return
    rules = _first_by_name(Rule.objects.prefetch_related("conditions", "actions"))
    kept = []
    for position, r in enumerate(run.plan["rules"], start=1):
        rule = rules.get(r["name"]) or Rule(name=r["name"])
        rule.position, rule.is_active, rule.match, rule.target = position, r["is_active"], r["match"], r["target"]
        rule.target_rep = run.reps[r["target_rep"]] if r["target_rep"] else None
        rule.target_pool = run.pools[r["target_pool"]] if r["target_pool"] else None
        conditions = [
            RuleCondition(field=c["field"], operator=c["operator"], value=c["value"], domain_list=run.lists.get(c["domain_list"]) if c["domain_list"] else None)
            for c in r["conditions"]
        ]
        actions = [
            RuleAction(
                position=i,
                kind=a["kind"],
                channel=run.channels[a["channel"]] if a["channel"] else None,
                recipient=a["recipient"],
                recipient_rep=run.reps[a["recipient_rep"]] if a["recipient_rep"] else None,
                template=a["template"],
                text=a["text"],
                config=a["config"],
            )
            for i, a in enumerate(r["actions"])
        ]
        is_new = rule.pk is None
        rule_save(
            rule=rule,
            user=run.user,
            conditions=conditions if is_new else _rows_onto(list(rule.conditions.all()), conditions, CONDITION_FIELDS),
            actions=actions if is_new else _rows_onto(list(rule.actions.all()), actions, ACTION_FIELDS),
            via=VIA_IMPORT,
        )
        kept.append(rule.pk)
        run.summary["rules"] += 1
    run.summary["rules switched off"] = 0
    for rule in Rule.objects.exclude(pk__in=kept).filter(is_active=True).order_by("position", "id"):
        rule.is_active = False
        rule_save(rule=rule, user=run.user, via=VIA_IMPORT)
        run.summary["rules switched off"] += 1


def _score_rules_apply(run: _Import) -> None:
    """Score rules by name, in the document's order, through the scoring service (which tells the compiled score
    rules); those the document does not name are switched off."""
    if "score_rules" not in run.sections:
        return
    existing = _first_by_name(ScoreRule.objects.all())
    kept = []
    for position, s in enumerate(run.plan["score_rules"], start=1):
        rule = existing.get(s["name"]) or ScoreRule(name=s["name"])
        rule.points, rule.is_active, rule.match, rule.position = s["points"], s["is_active"], s["match"], position
        conditions = [
            ScoreCondition(
                field=c["field"], operator=c["operator"], value=c["value"], domain_list=run.lists.get(c["domain_list"]) if c["domain_list"] else None
            )
            for c in s["conditions"]
        ]
        score_rule_save(rule=rule, conditions=conditions)
        kept.append(rule.pk)
        run.summary["score rules"] += 1
    for rule in ScoreRule.objects.exclude(pk__in=kept).filter(is_active=True):
        rule.is_active = False
        score_rule_save(rule=rule)
        run.summary["score rules switched off"] += 1


def _sla_policies_apply(run: _Import) -> None:
    if "sla_policies" not in run.sections:
        return
    policies = _first_by_name(SlaPolicy.objects.all())
    kept = []
    for position, p in enumerate(run.plan["sla_policies"], start=1):
        policy = policies.get(p["name"]) or SlaPolicy(name=p["name"])
        for key in ("is_active", "match", "priority", "response_minutes", "autoresponse_template"):
            setattr(policy, key, p[key])
        policy.position, policy.calendar = position, run.calendars[p["calendar"]]
        policy.save()
        kept.append(policy.pk)
        policy.conditions.all().delete()
        PolicyCondition.objects.bulk_create(
            PolicyCondition(
                policy=policy,
                field=c["field"],
                operator=c["operator"],
                value=c["value"],
                domain_list=run.lists.get(c["domain_list"]) if c["domain_list"] else None,
            )
            for c in p["conditions"]
        )
        policy.steps.all().delete()
        EscalationStep.objects.bulk_create(
            EscalationStep(
                policy=policy,
                after_minutes=s["after_minutes"],
                kind=s["kind"],
                target_rep=run.reps[s["target_rep"]] if s["target_rep"] else None,
                channel=run.channels[s["channel"]] if s["channel"] else None,
            )
            for s in p["steps"]
        )
        run.summary["SLA policies"] += 1
    run.summary["SLA policies switched off"] = SlaPolicy.objects.exclude(pk__in=kept).filter(is_active=True).update(is_active=False)


# In the document's order: each section may use what the ones before it made.
_APPLY = (
    _reps_apply,
    _channels_apply,
    _domain_lists_apply,
    _pools_apply,
    _on_duty_rota_apply,
    _territories_apply,
    _accounts_apply,
    _calendars_apply,
    _rules_apply,
    _score_rules_apply,
    _sla_policies_apply,
)


@transaction.atomic
def routing_config_import(*, document: Any, dry_run: bool = False, user: Actor = None) -> dict[str, int]:
    """Make this database's routing setup the document's, all at once; raises RoutingConfigError, writing nothing.

    `user` is who imports (recorded with each rule change; None from the command line). Returns what changed, by
    kind (e.g. {"rules": 12, "rules switched off": 1, "new channels without URL or secret": 2}); a dry run returns
    the same and writes nothing.
    """
    run = _Import(plan=document_plan(document), sections=set(document), user=user)
    for apply in _APPLY:
        apply(run)
    if dry_run:
        transaction.set_rollback(True)
    return dict(run.summary)
