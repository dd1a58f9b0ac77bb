"""Versions of the rule table: start a draft, publish it, discard it, restore an earlier version.

A draft is a full copy of a table (rules with their conditions and actions); each copied rule keeps the `lineage`
of the rule it was copied from, which is how the compare page and the what-if replay pair "the same rule" across
versions. Leads keep pointing at the rule rows that matched them, so publishing never rewrites history: the old
live table is archived, not changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from routing.models import Rule, RuleAction, RuleChange, RuleCondition, RuleTable, rule_table_live_id
from routing.rule_diff import rule_tables_compare
from routing.services.rules import VERSION_ACTIONS, rule_change_record, ruleset_changed

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    from routing.services.rules import Actor

_RULE_FIELDS = ("lineage", "name", "position", "is_active", "match", "target", "target_rep_id", "target_pool_id", "hits", "last_hit_at")
_CONDITION_FIELDS = ("field", "operator", "value", "domain_list_id")
_ACTION_FIELDS = ("position", "kind", "channel_id", "recipient", "recipient_rep_id", "template", "text", "config")


def _user(user: Actor) -> AbstractBaseUser | None:
    return user if getattr(user, "is_authenticated", False) else None


def _label(table: RuleTable) -> str:
    return table.label[:150]


def _record(*, table: RuleTable, user: Actor, action: str, changes: dict) -> RuleChange:
    """The audit row of a version change; `rule_name` carries the version's name (there is no single rule)."""
    return rule_change_record(rule=None, table=table, rule_name=_label(table), user=user, action=action, changes=changes)


def rule_table_live() -> RuleTable:
    """The live table (created when missing, see `routing.models.rule_table_live_id`)."""
    return RuleTable.objects.get(pk=rule_table_live_id())


def rule_table_draft() -> RuleTable | None:
    """The draft being edited, if any (there is at most one)."""
    return RuleTable.objects.filter(status=RuleTable.Status.DRAFT).first()


def live_edited_since_copy(*, draft: RuleTable) -> bool:
    """Whether the live rules were edited (or a rule deleted) after `draft` was copied: publishing undoes that."""
    return (
        Rule.objects.filter(updated_at__gt=draft.created_at).exists()
        or RuleChange.objects.filter(table_id=rule_table_live_id(), at__gt=draft.created_at).exclude(action__in=VERSION_ACTIONS).exists()
    )


def _table_copy(*, source: RuleTable, target: RuleTable) -> None:
    """Copy `source`'s rules, conditions and actions into `target` (a query per rule, then two bulk inserts)."""
    rules = list(Rule.all_tables.filter(table=source).order_by("position", "id").prefetch_related("conditions", "actions"))
    conditions, actions = [], []
    for rule in rules:
        copy = Rule.all_tables.create(table=target, **{name: getattr(rule, name) for name in _RULE_FIELDS})
        conditions.extend(RuleCondition(rule=copy, **{n: getattr(c, n) for n in _CONDITION_FIELDS}) for c in rule.conditions.all())
        actions.extend(RuleAction(rule=copy, **{n: getattr(a, n) for n in _ACTION_FIELDS}) for a in rule.actions.all())
    RuleCondition.objects.bulk_create(conditions)
    RuleAction.objects.bulk_create(actions)


def _draft_create(*, source: RuleTable, user: Actor, name: str, note: str) -> RuleTable:
    refused = ValidationError(_("There is already a draft: publish or discard it first."))
    if RuleTable.objects.filter(status=RuleTable.Status.DRAFT).exists():
        raise refused
    try:
        with transaction.atomic():
            draft = RuleTable.objects.create(status=RuleTable.Status.DRAFT, name=name[:150], note=note, based_on=source, created_by=_user(user))
    except IntegrityError as exc:  # another manager started one at the same moment (one_draft_rule_table)
        raise refused from exc
    _table_copy(source=source, target=draft)
    return draft


@transaction.atomic
def draft_start(*, user: Actor, name: str = "", note: str = "") -> RuleTable:
    """A draft: a copy of the live table to edit without touching routing. One draft at a time."""
    live = rule_table_live()
    draft = _draft_create(source=live, user=user, name=name or _("Draft"), note=note)
    _record(table=draft, user=user, action="draft", changes={"copied_from": live.pk})
    return draft


@transaction.atomic
def draft_publish(*, draft: RuleTable, user: Actor, now: datetime | None = None) -> RuleTable:
    """Make the draft the live table and archive the live one, in one transaction; records who and when.

    Hit counts and last hits carry over to the same rule (by lineage) in the new live table, so the dashboard and
    the stale-rule filter keep their history. Leads keep their old rule rows (now archived).
    """
    now = now or timezone.now()
    locked = {t.pk: t for t in RuleTable.objects.select_for_update().filter(status__in=[RuleTable.Status.LIVE, RuleTable.Status.DRAFT])}
    draft = locked.get(draft.pk)
    if draft is None or draft.status != RuleTable.Status.DRAFT:
        raise ValidationError(_("This draft has already been published or discarded."))
    live = next((t for t in locked.values() if t.status == RuleTable.Status.LIVE), None)
    summary = rule_tables_compare(before=live, after=draft).lines() if live is not None else []
    if live is not None:
        counts = {
            lineage: (hits, last_hit_at) for lineage, hits, last_hit_at in Rule.all_tables.filter(table=live).values_list("lineage", "hits", "last_hit_at")
        }
        carried = list(Rule.all_tables.filter(table=draft, lineage__in=list(counts)).only("pk", "lineage"))
        for rule in carried:
            rule.hits, rule.last_hit_at = counts[rule.lineage]
        Rule.all_tables.bulk_update(carried, ["hits", "last_hit_at"])
        # Archive first: the partial unique constraint allows one live table at any moment.
        live.status, live.archived_at = RuleTable.Status.ARCHIVED, now
        live.save(update_fields=["status", "archived_at"])
    draft.status, draft.published_by, draft.published_at = RuleTable.Status.LIVE, _user(user), now
    draft.save(update_fields=["status", "published_by", "published_at"])
    _record(table=draft, user=user, action="publish", changes={"replaced": live.pk if live else None, "what changed": summary})
    # Every process sees the new live table's id in the rule set version on its next lead; this one also drops
    # its compiled copy once the switch is committed.
    ruleset_changed()
    return draft


@transaction.atomic
def draft_discard(*, draft: RuleTable, user: Actor) -> None:
    """Throw the draft away (its rules, conditions and actions); nothing live changes."""
    draft = RuleTable.objects.select_for_update().filter(pk=draft.pk, status=RuleTable.Status.DRAFT).first()
    if draft is None:
        raise ValidationError(_("This draft has already been published or discarded."))
    rules = Rule.all_tables.filter(table=draft)
    RuleCondition.objects.filter(rule__in=rules).delete()
    RuleAction.objects.filter(rule__in=rules).delete()
    rules.delete()
    # The audit row outlives the draft: it names it rather than pointing at it.
    rule_change_record(rule=None, table=None, rule_name=_label(draft), user=user, action="discard", changes={"draft": draft.pk})
    draft.delete()


@transaction.atomic
def version_restore(*, table: RuleTable, user: Actor) -> RuleTable:
    """An earlier version back as the draft (not live yet): the manager compares it, replays it and publishes it."""
    table = RuleTable.objects.select_for_update().get(pk=table.pk)
    if table.status != RuleTable.Status.ARCHIVED:
        raise ValidationError(_("Only an archived version can be restored."))
    draft = _draft_create(source=table, user=user, name=_("Restore of %(version)s") % {"version": _label(table)}, note="")
    _record(table=draft, user=user, action="restore", changes={"copied_from": table.pk})
    return draft
