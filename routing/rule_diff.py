"""What changed between two versions of the rule table, in words a sales manager reads.

`table_snapshot` reads a table (three queries); `snapshots_compare` is pure: rules are paired by `lineage` (the
same rule in every copy of the table), and order changes are reported for the fewest rules that explain the new
order (those outside the longest run of rules that kept their relative order), not for every rule an insertion
shifted down.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from core import engine
from routing.models import Rule, RuleAction, RuleCondition, RuleTable


@dataclass(frozen=True)
class RuleSnapshot:
    lineage: str
    rule_id: int
    name: str
    number: int  # 1-based place in its table
    is_active: bool
    match: str
    target: str  # in words: "Kasia Nowak", "the Demo pool (round robin)", "nobody (disqualify)"
    conditions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleDiff:
    kind: str  # added, removed, changed, moved
    name: str
    lines: tuple[str, ...]
    lineage: str = ""


@dataclass
class TableDiff:
    changes: list[RuleDiff] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def of_kind(self, kind: str) -> list[RuleDiff]:
        return [c for c in self.changes if c.kind == kind]

    def lines(self) -> list[str]:
        """One line per change, for the audit trail."""
        return [f"{c.name}: {'; '.join(c.lines)}" for c in self.changes]


# --------------------------------------------------------------------------------------------------
# Reading a table


def _condition_text(condition: RuleCondition) -> str:
    operator = condition.get_operator_display()
    if condition.operator == engine.IN_DOMAIN_LIST:
        return _("e-mail domain is in the list “%(list)s”") % {"list": condition.domain_list.name if condition.domain_list else "?"}
    if condition.operator in engine.FACT_OPERATORS:
        return str(operator) + (f" “{condition.value}”" if condition.value else "")
    value = f" “{condition.value}”" if condition.value else ""
    return f"{engine.field_label(condition.field)} {operator}{value}"


def _action_text(action: RuleAction) -> str:
    parts = [str(action.get_kind_display())]
    if action.recipient:
        who = action.recipient_rep.name if action.recipient_rep_id and action.recipient_rep else action.get_recipient_display()
        parts.append(_("to %(who)s") % {"who": who})
    if action.channel_id:
        parts.append(_("via %(channel)s") % {"channel": action.channel.name})
    if action.template:
        parts.append(_("template “%(template)s”") % {"template": action.template})
    if action.text:
        parts.append(f"“{action.text}”")
    if action.config:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(action.config.items())))
    return " ".join(parts)


def _target_text(rule: Rule) -> str:
    if rule.target == Rule.Target.REP:
        return rule.target_rep.name if rule.target_rep else _("a rep (none chosen)")
    if rule.target == Rule.Target.POOL:
        return _("the %(pool)s pool (round robin)") % {"pool": rule.target_pool.name} if rule.target_pool else _("a pool (none chosen)")
    return str(rule.get_target_display()).lower() if rule.target != Rule.Target.NOBODY else _("nobody (disqualify)")


def table_snapshot(table: RuleTable) -> list[RuleSnapshot]:
    rules = (
        Rule.all_tables.filter(table=table)
        .order_by("position", "id")
        .select_related("target_rep", "target_pool")
        .prefetch_related(
            Prefetch("conditions", queryset=RuleCondition.objects.select_related("domain_list").order_by("id")),
            Prefetch("actions", queryset=RuleAction.objects.select_related("channel", "recipient_rep").order_by("position", "id")),
        )
    )
    return [
        RuleSnapshot(
            lineage=str(rule.lineage),
            rule_id=rule.pk,
            name=rule.name,
            number=number,
            is_active=rule.is_active,
            match=rule.match,
            target=_target_text(rule),
            conditions=tuple(_condition_text(c) for c in rule.conditions.all()),
            actions=tuple(_action_text(a) for a in rule.actions.all()),
        )
        for number, rule in enumerate(rules, start=1)
    ]


def rule_tables_compare(*, before: RuleTable, after: RuleTable) -> TableDiff:
    return snapshots_compare(table_snapshot(before), table_snapshot(after))


# --------------------------------------------------------------------------------------------------
# Comparing (pure)


def _when(rule: RuleSnapshot) -> str:
    if not rule.conditions:
        return _("every lead")
    joiner = " " + (_("and") if rule.match == engine.MATCH_ALL else _("or")) + " "
    return joiner.join(rule.conditions)


def _kept_in_order(sequence: list[int]) -> set[int]:
    """Indexes of a longest increasing subsequence of `sequence` (patience sorting)."""
    tails: list[int] = []
    tail_at: list[int] = []
    parent: list[int | None] = [None] * len(sequence)
    for i, value in enumerate(sequence):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[k], tail_at[k] = value, i
        parent[i] = tail_at[k - 1] if k else None
    kept: set[int] = set()
    i = tail_at[-1] if tail_at else None
    while i is not None:
        kept.add(i)
        i = parent[i]
    return kept


def _list_changes(before: tuple[str, ...], after: tuple[str, ...], *, added: str, removed: str) -> list[str]:
    lines = [removed % {"item": item} for item in before if item not in after]
    lines += [added % {"item": item} for item in after if item not in before]
    if not lines and before != after:
        lines.append(_("same items in a different order"))
    return lines


def snapshots_compare(before: list[RuleSnapshot], after: list[RuleSnapshot]) -> TableDiff:
    """The changes from `before` to `after`, in the order of `after` (removed rules last)."""
    old = {r.lineage: r for r in before}
    new = {r.lineage: r for r in after}
    common_after = [r for r in after if r.lineage in old]
    kept = _kept_in_order([old[r.lineage].number for r in common_after])
    moved = {r.lineage for i, r in enumerate(common_after) if i not in kept}

    diff = TableDiff()
    for rule in after:
        was = old.get(rule.lineage)
        if was is None:
            state = "" if rule.is_active else " " + _("(switched off)")
            diff.changes.append(
                RuleDiff(
                    kind="added",
                    name=rule.name,
                    lineage=rule.lineage,
                    lines=(
                        _("New rule at place %(number)s%(state)s: when %(when)s, assign to %(target)s.")
                        % {"number": rule.number, "state": state, "when": _when(rule), "target": rule.target},
                        *(_("then: %(action)s") % {"action": a} for a in rule.actions),
                    ),
                )
            )
            continue
        lines: list[str] = []
        if rule.name != was.name:
            lines.append(_("renamed from “%(old)s”") % {"old": was.name})
        if rule.is_active != was.is_active:
            lines.append(_("switched on") if rule.is_active else _("switched off"))
        if rule.lineage in moved:
            lines.append(_("moved from place %(old)s to place %(new)s") % {"old": was.number, "new": rule.number})
        if rule.target != was.target:
            lines.append(_("assigns to %(new)s instead of %(old)s") % {"new": rule.target, "old": was.target})
        if rule.match != was.match:
            lines.append(_("now needs all conditions to hold") if rule.match == engine.MATCH_ALL else _("now needs any one condition to hold"))
        lines += _list_changes(was.conditions, rule.conditions, added=_("condition added: %(item)s"), removed=_("condition removed: %(item)s"))
        lines += _list_changes(was.actions, rule.actions, added=_("action added: %(item)s"), removed=_("action removed: %(item)s"))
        if lines:
            only_moved = lines == [_("moved from place %(old)s to place %(new)s") % {"old": was.number, "new": rule.number}]
            diff.changes.append(RuleDiff(kind="moved" if only_moved else "changed", name=rule.name, lineage=rule.lineage, lines=tuple(lines)))
    for rule in before:
        if rule.lineage not in new:
            diff.changes.append(
                RuleDiff(
                    kind="removed",
                    name=rule.name,
                    lineage=rule.lineage,
                    lines=(
                        _("Removed (was at place %(number)s: when %(when)s, assign to %(target)s).")
                        % {"number": rule.number, "when": _when(rule), "target": rule.target},
                    ),
                )
            )
    return diff
