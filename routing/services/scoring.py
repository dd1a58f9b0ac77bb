"""Writes of the score rules: save one with its whole list of conditions, reorder, delete.

Each write moves the edited rules' `updated_at` (the compiled score rules' version, routing/ruleset.py, sees it on
the next lead in every process) and forgets this process's copy once the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from django.db import transaction
from django.utils import timezone

from routing.models import ScoreCondition, ScoreRule
from routing.ruleset import scoreset_invalidate


def _changed() -> None:
    transaction.on_commit(scoreset_invalidate)


@transaction.atomic
def score_rule_save(*, rule: ScoreRule, conditions: Sequence[ScoreCondition] | None = None) -> ScoreRule:
    """Store `rule` and, when given, make `conditions` its whole list (rows with a pk are kept and updated, rows
    without one are added, the rule's other rows are deleted). A new rule goes to the bottom of the list."""
    if rule.pk is None and not rule.position:
        last = ScoreRule.objects.order_by("-position").values_list("position", flat=True).first()
        rule.position = (last or 0) + 1
    rule.save()  # auto_now: updated_at moves, also when only a condition changed
    if conditions is not None:
        keep = [c.pk for c in conditions if c.pk is not None]
        rule.conditions.exclude(pk__in=keep).delete()
        for condition in conditions:
            condition.score_rule = rule
            condition.save()
    _changed()
    return rule


@transaction.atomic
def score_rules_reorder(*, positions: Mapping[int, int]) -> int:
    """Set the positions {score rule id: position}; returns how many rules moved."""
    moved = 0
    now = timezone.now()
    for rule in ScoreRule.objects.select_for_update().filter(pk__in=list(positions)):
        if rule.position != positions[rule.pk]:
            ScoreRule.objects.filter(pk=rule.pk).update(position=positions[rule.pk], updated_at=now)
            moved += 1
    if moved:
        _changed()
    return moved


@transaction.atomic
def score_rules_delete(*, rules: Iterable[ScoreRule]) -> int:
    """Delete score rules with their conditions; returns how many."""
    ids = [rule.pk for rule in rules]
    deleted = ScoreRule.objects.filter(pk__in=ids).count()
    ScoreRule.objects.filter(pk__in=ids).delete()
    _changed()
    return deleted
