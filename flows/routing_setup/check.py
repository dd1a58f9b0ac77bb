"""Checking a routing document as a whole: every problem listed before anything is written.

On top of what reading finds in each value (flows.routing_setup.read), a document must hold together: a name once
per section, one routing fallback pool at most, each weekday once in the on-duty rota, no postal codes owned by two
territories with different owners, no domain in two accounts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.utils.translation import gettext as _

from flows.routing_setup.document import Plan, RoutingConfigError
from flows.routing_setup.read import document_read
from reps.csv_files import OwnedRange, postal_range_format, range_conflicts

_NAMED_SECTIONS = ("channels", "domain_lists", "pools", "territories", "accounts", "rules", "score_rules", "calendars", "sla_policies")


def _names_once(plan: Plan) -> list[str]:
    problems = []
    for section in _NAMED_SECTIONS:
        counts = Counter(item["name"] for item in plan.get(section, []) if item["name"])
        problems.extend(
            f"{section}: " + _("the name “%(name)s” is used %(count)d times") % {"name": name, "count": count} for name, count in counts.items() if count > 1
        )
    return problems


def _one_fallback_pool(plan: Plan) -> list[str]:
    if sum(1 for p in plan.get("pools", []) if p["is_fallback"]) > 1:
        return ["pools: " + _("only one pool can be the routing fallback")]
    return []


def _weekdays_once(plan: Plan) -> list[str]:
    problems, seen = [], set()
    for day in plan.get("on_duty_rota", []):
        if day["weekday"] is None:
            continue
        if day["weekday"] in seen:
            problems.append(f"{day['where']}: " + _("weekday %(day)d is listed twice") % {"day": day["weekday"]})
        seen.add(day["weekday"])
    return problems


def _postal_codes_one_owner(plan: Plan) -> list[str]:
    owned = [
        OwnedRange(start, end, ("rep", t["owner_rep"]) if t["owner_rep"] else ("pool", t["owner_pool"]), t["where"])
        for t in plan.get("territories", [])
        for start, end in t["ranges"]
    ]
    return [
        f"{b.ref}: "
        + _("postal codes %(range)s overlap %(other)s of %(where)s, which has another owner")
        % {"range": postal_range_format(b.start, b.end), "other": postal_range_format(a.start, a.end), "where": a.ref}
        for a, b in range_conflicts(owned)
    ]


def _domains_one_account(plan: Plan) -> list[str]:
    problems, holder = [], {}
    for account in plan.get("accounts", []):
        for domain in account["domains"]:
            if domain in holder:
                problems.append(f"{account['where']}: " + _("the domain %(domain)s already belongs to %(other)s") % {"domain": domain, "other": holder[domain]})
            else:
                holder[domain] = account["where"]
    return problems


def document_check(document: Any) -> tuple[Plan, list[str]]:
    """The document read and checked whole: its plan and every problem (none: it can be imported)."""
    plan, problems = document_read(document)
    for check in (_names_once, _one_fallback_pool, _weekdays_once, _postal_codes_one_owner, _domains_one_account):
        problems.extend(check(plan))
    return plan, problems


def document_plan(document: Any) -> Plan:
    """The plan of a document that can be imported; raises RoutingConfigError listing every problem otherwise."""
    plan, problems = document_check(document)
    if problems:
        raise RoutingConfigError(problems)
    return plan


def routing_config_check(document: Any) -> list[str]:
    """Every problem that would stop `routing_config_import`; [] when the document can be imported."""
    return document_check(document)[1]
