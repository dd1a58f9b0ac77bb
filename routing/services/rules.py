"""Writes of the rule table: save a rule with its conditions and actions, reorder rules, delete rules.

Every write here also does the two things a rule edit owes the rest of the system, whoever makes it (the rule
admin, the draft's admin, the routing-document import):
- the audit trail: one `RuleChange` row per rule that changed, naming the user (or none) and, for an import,
  `"via": "import"` in its changes (`rule_change_record`, also used for whole versions by `rule_tables`);
- the compiled rule set (routing/ruleset.py) is told, in one place: `ruleset_changed`.

Conditions and actions are passed as the rule's whole new list, like an admin formset: rows with a primary key are
the rule's existing rows (changed in place when their values differ), rows without one are new, existing rows not
in the list are deleted. Only what really changed is written and recorded: saving a rule as it is records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.utils import timezone

from routing.models import Rule, RuleAction, RuleChange, RuleCondition, RuleTable
from routing.ruleset import ruleset_invalidate

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    Actor = AbstractBaseUser | AnonymousUser | None

# The audit trail's vocabulary: changes of one rule, and changes of whole versions (routing.services.rule_tables).
RULE_ACTIONS = ("add", "change", "delete", "reorder")
VERSION_ACTIONS = ("draft", "publish", "discard", "restore")
# What a rule, a condition and an action are compared and recorded by.
RULE_FIELDS = ("name", "is_active", "match", "target", "target_rep", "target_pool", "position")
CONDITION_FIELDS = ("field", "operator", "value", "domain_list")
ACTION_FIELDS = ("position", "kind", "channel", "recipient", "recipient_rep", "template", "text", "config")
VIA_IMPORT = "import"


def shown(value: Any) -> str | int | bool | None:
    """A value as the audit trail stores it (JSON): numbers and flags as they are, anything else as text."""
    if value is None or isinstance(value, bool | int):
        return value
    if hasattr(value, "pk"):
        return str(value)
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value)
    return str(value)


def rule_snapshot(rule: Rule) -> dict[str, Any]:
    """What a rule is, in words: recorded when it is added and when it is deleted."""
    return {
        "conditions": [str(c) for c in rule.conditions.all()],
        "target": rule.get_target_display(),
        "active": rule.is_active,
        "position": rule.position,
    }


def _actor(user: Actor) -> AbstractBaseUser | None:
    return user if getattr(user, "is_authenticated", False) else None


def rule_change_record(
    *,
    rule: Rule | None,
    user: Actor,
    action: str,
    changes: dict[str, Any],
    rule_name: str | None = None,
    table: RuleTable | None = None,
    via: str | None = None,
) -> RuleChange:
    """One row of the audit trail: who changed which rule (or, with `rule=None`, which version), when, and what.

    `rule_name` defaults to the rule's name and `table` to the rule's table; `via` says how the change came when it
    was not a hand edit (`"import"`: a routing document).
    """
    if via:
        changes = {**changes, "via": via}
    return RuleChange.objects.create(
        rule=rule,
        table_id=table.pk if table is not None else (rule.table_id if rule is not None else None),
        rule_name=(rule_name if rule_name is not None else rule.name if rule is not None else "")[:150],
        user=_actor(user),
        action=action,
        changes=changes,
    )


def ruleset_changed(*, rule_ids: Iterable[int] = ()) -> None:
    """Tell the compiled rule set (routing/ruleset.py) that rules changed: the one place that does.

    Moves `updated_at` of the given rules, which every process's `ruleset_version()` reads (saving a condition or an
    action alone does not move it; deletions and a new live table change the version by themselves), and drops this
    process's compiled copy once the transaction commits.
    """
    ids = [pk for pk in rule_ids if pk is not None]
    if ids:
        Rule.all_tables.filter(pk__in=ids).update(updated_at=timezone.now())
    transaction.on_commit(ruleset_invalidate)


def _differs(model: type[models.Model], before: models.Model | None, after: models.Model, names: Sequence[str]) -> list[str]:
    """The field names whose stored values differ (foreign keys by id); `before=None` compares with the defaults."""
    out = []
    for name in names:
        field = model._meta.get_field(name)
        old = getattr(before, field.attname) if before is not None else field.get_default()
        if old != getattr(after, field.attname):
            out.append(name)
    return out


def _rows_save(
    *, rule: Rule, model: type[RuleCondition] | type[RuleAction], rows: Sequence[RuleCondition | RuleAction], names: Sequence[str]
) -> dict[str, list]:
    """Make the rule's conditions (or actions) the given rows; what was added, changed and deleted, in words."""
    existing = {row.pk: row for row in model.objects.filter(rule_id=rule.pk).order_by("id")}
    kept = {row.pk for row in rows if row.pk in existing}
    added, changed = [], []
    for row in rows:
        row.rule = rule
        if row.pk in existing:
            fields = _differs(model, existing[row.pk], row, names)
            if fields:
                row.save()
                changed.append({"item": str(row), "fields": {name: shown(getattr(row, name)) for name in fields}})
        else:
            row.pk = None
            row.save()
            added.append(str(row))
    deleted = [row for pk, row in existing.items() if pk not in kept]
    if deleted:
        model.objects.filter(pk__in=[row.pk for row in deleted]).delete()
    changes: dict[str, list] = {}
    if added:
        changes["added"] = added
    if changed:
        changes["changed"] = changed
    if deleted:
        changes["deleted"] = [str(row) for row in deleted]
    return changes


@transaction.atomic
def rule_save(
    *,
    rule: Rule,
    user: Actor,
    conditions: Sequence[RuleCondition] | None = None,
    actions: Sequence[RuleAction] | None = None,
    via: str | None = None,
) -> RuleChange | None:
    """Store a rule as given (new when it has no primary key) with, when given, exactly these conditions and actions.

    Records what changed (fields as [before, after]; conditions and actions added, changed, deleted; a new rule's
    snapshot) and tells the compiled rule set; returns the audit row, or None when nothing changed. `None` for
    `conditions` or `actions` leaves them as they are.
    """
    before = Rule.all_tables.select_for_update().filter(pk=rule.pk).first() if rule.pk is not None else None
    adding = before is None
    fields = _differs(Rule, before, rule, RULE_FIELDS)
    if adding or fields:
        rule.save()
    changes: dict[str, Any] = {}
    if fields:
        changes["fields"] = {name: [shown(getattr(before, name)) if before is not None else None, shown(getattr(rule, name))] for name in fields}
    for key, model, rows, names in (("conditions", RuleCondition, conditions, CONDITION_FIELDS), ("actions", RuleAction, actions, ACTION_FIELDS)):
        if rows is not None:
            rows_changed = _rows_save(rule=rule, model=model, rows=rows, names=names)
            if rows_changed:
                changes[key] = rows_changed
    if adding:
        changes["now"] = rule_snapshot(rule)
    if not changes:
        return None
    ruleset_changed(rule_ids=[rule.pk])
    return rule_change_record(rule=rule, user=user, action="add" if adding else "change", changes=changes, via=via)


@transaction.atomic
def rules_reorder(*, table: RuleTable, positions: Mapping[int, int], user: Actor, via: str | None = None) -> int:
    """Give rules of `table` new places (`{rule id: position}`; rules not named keep theirs); records each move.

    Raises Rule.DoesNotExist, writing nothing, when an id is not a rule of that table. Returns how many rules moved.
    """
    rules = {rule.pk: rule for rule in Rule.all_tables.select_for_update().filter(table=table).order_by("position", "id")}
    unknown = [pk for pk in positions if pk not in rules]
    if unknown:
        raise Rule.DoesNotExist(f"rule {unknown[0]} is not in table {table.pk}")
    moved = []
    for pk, position in positions.items():
        rule = rules[pk]
        if rule.position != position:
            moved.append((rule, rule.position, position))
            rule.position = position
    if not moved:
        return 0
    Rule.all_tables.bulk_update([rule for rule, _old, _new in moved], ["position"])
    for rule, old, new in moved:
        rule_change_record(rule=rule, user=user, action="reorder", changes={"position": [old, new]}, via=via)
    ruleset_changed(rule_ids=[rule.pk for rule, _old, _new in moved])
    return len(moved)


@transaction.atomic
def rule_delete(*, rules: Iterable[Rule], user: Actor, via: str | None = None) -> int:
    """Delete rules (with their conditions and actions), each recorded with what it was. Returns how many."""
    rules = list(rules)
    for rule in rules:
        rule_change_record(rule=rule, user=user, action="delete", changes={"was": rule_snapshot(rule)}, via=via)
    Rule.all_tables.filter(pk__in=[rule.pk for rule in rules]).delete()
    ruleset_changed()
    return len(rules)
