"""The active rule set, compiled once per process, and the facts about a lead that need the database.

Cache: the compiled rules are kept in process memory with the version they were compiled from. The version is
one aggregate query over rules, conditions and actions (counts, highest ids, latest `Rule.updated_at`), checked
before each use, so every process sees an edit on its next lead, and a rolled-back transaction (tests, a failed
admin save) can never leave a stale copy behind. Evaluating a lead then runs no query per rule.

Rules, conditions and actions are written through routing.services.rules, whose `ruleset_changed` is the one place
that tells this cache: it moves the edited rules' `updated_at` (saving a condition alone would not) and calls
`ruleset_invalidate()` (this process's copy) once the transaction commits.

Only the live table's rules route leads (`routing.models.RuleTable`). The version carries the live table's id, so
publishing a draft (another table becomes live) is seen on the next lead by every process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from core.compiled_sql import CompiledQuery
from core.engine import CompiledRule, Condition, LeadFacts, Ruleset
from core.scoring import CompiledScoreRule, ScoreSet, score, scored
from core.text import email_key
from core.versioned_cache import VersionedCache
from reps import selectors as rep_selectors
from reps.vocabularies import fields_read, vocabulary_active, vocabulary_version_sql
from routing.config_version import config_version, version_register
from routing.models import Lead, Rule, RuleAction, RuleCondition, RuleTable, ScoreCondition, ScoreRule
from routing.selectors import REPEAT_LOOKBACK, lead_repeat, lead_repeat_query, lead_repeat_read  # noqa: F401  (REPEAT_LOOKBACK, lead_repeat: re-exported for the replay)

# Lead fields the engine can test (core.engine.FIELD_KINDS) are copied into the facts by name.
_FACT_FIELDS = (
    "email",
    "email_domain",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "phone",
    "city",
    "company_size",
    "industry",
    "region",
    "postal_code",
    "country",
    "language",
    "source",
    "message",
    "external_id",
    "score",  # None until routing scores the lead (routing.services.assignment), then its total
)
# A copy older than this is recompiled even if the version looks the same (a backstop for in-place edits).
MAX_AGE_SECONDS = 300.0


def compile_conditions(conditions: Iterable) -> tuple[Condition, ...]:
    """Condition rows (RuleCondition, PolicyCondition: any ConditionBase) as engine conditions, in their order.

    Pass a queryset with `select_related("domain_list")` (or prefetched rows) to avoid a query per row.
    """
    compiled = []
    for row in conditions:
        domain_list = row.domain_list if row.domain_list_id else None
        compiled.append(
            Condition.build(
                operator=row.operator,
                field=row.field,
                value=row.value,
                domain_list_id=row.domain_list_id,
                domain_list_name=domain_list.name if domain_list is not None else "",
            )
        )
    return tuple(compiled)


def _ruleset_version_part(q) -> tuple[list[str], list]:
    rule, condition, action, table = (q(m._meta.db_table) for m in (Rule, RuleCondition, RuleAction, RuleTable))
    updated_at = q(Rule._meta.get_field("updated_at").column)
    return (
        [
            f"(SELECT COUNT(*) FROM {rule})",
            f"(SELECT MAX(id) FROM {rule})",
            f"(SELECT MAX({updated_at}) FROM {rule})",
            f"(SELECT COUNT(*) FROM {condition})",
            f"(SELECT MAX(id) FROM {condition})",
            f"(SELECT COUNT(*) FROM {action})",
            f"(SELECT MAX(id) FROM {action})",
            f"(SELECT MAX(id) FROM {table} WHERE status = %s)",
        ],
        [RuleTable.Status.LIVE],
    )


version_register("rules", _ruleset_version_part)
version_register("vocabulary", lambda q: (vocabulary_version_sql(q), []))


def ruleset_version() -> tuple:
    """A cheap fingerprint of the rules table and its children: changes whenever a rule is added, edited, reordered,
    switched on or off or deleted, or a condition or action is added or removed, and when another table version goes
    live. (Counts span every version: an edit of the draft recompiles too, which is harmless.) Read together with
    the other caches' versions in one query (`routing.config_version`)."""
    return config_version("rules")


def ruleset_compile(*, version: tuple = (), table: RuleTable | None = None) -> Ruleset:
    """The active rules of `table` (default: the live one) in order, compiled (two queries). The what-if replay
    compiles a draft with this same code."""
    if table is None:
        rules_qs, conditions_qs = Rule.objects.all(), RuleCondition.objects.filter(rule__table__status=RuleTable.Status.LIVE)
    else:
        rules_qs, conditions_qs = Rule.all_tables.filter(table=table), RuleCondition.objects.filter(rule__table=table)
    rules = list(rules_qs.filter(is_active=True).order_by("position", "id"))
    by_rule: dict[int, list[RuleCondition]] = defaultdict(list)
    for condition in conditions_qs.filter(rule__is_active=True).select_related("domain_list").order_by("rule_id", "id"):
        by_rule[condition.rule_id].append(condition)
    return Ruleset(
        rules=tuple(
            CompiledRule(
                id=rule.pk,
                name=rule.name,
                position=rule.position,
                target=rule.target,
                match=rule.match,
                conditions=compile_conditions(by_rule.get(rule.pk, ())),
                is_active=rule.is_active,
                target_rep_id=rule.target_rep_id,
                target_pool_id=rule.target_pool_id,
            )
            for rule in rules
        ),
        version=version,
    )


_ruleset_cache: VersionedCache[Ruleset] = VersionedCache(lambda version: ruleset_compile(version=version), max_age=MAX_AGE_SECONDS)


def ruleset_active() -> Ruleset:
    """The compiled active rule set; recompiled only when `ruleset_version()` changed."""
    return _ruleset_cache.get(ruleset_version())


def ruleset_invalidate() -> None:
    """Forget this process's compiled rules (the next lead recompiles them)."""
    _ruleset_cache.clear()


# ---------------------------------------------------------------------------------------------- the score rules
# Compiled and cached exactly like the rule set above: a version query per lead, recompiled only when it changes
# (a score rule added, edited, reordered, switched or deleted; a condition added or removed), so scoring a lead
# runs no query per score rule. Writes go through routing.services.scoring, which also calls `scoreset_invalidate`.


def _scoreset_version_part(q) -> tuple[list[str], list]:
    rule, condition = (q(m._meta.db_table) for m in (ScoreRule, ScoreCondition))
    updated_at = q(ScoreRule._meta.get_field("updated_at").column)
    return (
        [
            f"(SELECT COUNT(*) FROM {rule})",
            f"(SELECT MAX(id) FROM {rule})",
            f"(SELECT MAX({updated_at}) FROM {rule})",
            f"(SELECT COUNT(*) FROM {condition})",
            f"(SELECT MAX(id) FROM {condition})",
        ],
        [],
    )


version_register("score_rules", _scoreset_version_part)


def scoreset_version() -> tuple:
    """A cheap fingerprint of the score rules and their conditions (read with the other caches' in one query)."""
    return config_version("score_rules")


def scoreset_compile(*, version: tuple = ()) -> ScoreSet:
    """The active score rules in order, compiled (two queries). The what-if replay scores with this too."""
    rules = list(ScoreRule.objects.filter(is_active=True).order_by("position", "id"))
    by_rule: dict[int, list[ScoreCondition]] = defaultdict(list)
    for condition in ScoreCondition.objects.filter(score_rule__is_active=True).select_related("domain_list").order_by("score_rule_id", "id"):
        by_rule[condition.score_rule_id].append(condition)
    return ScoreSet(
        rules=tuple(
            CompiledScoreRule(id=rule.pk, name=rule.name, points=rule.points, match=rule.match, conditions=compile_conditions(by_rule.get(rule.pk, ())))
            for rule in rules
        ),
        version=version,
    )


_scoreset_cache: VersionedCache[ScoreSet] = VersionedCache(lambda version: scoreset_compile(version=version), max_age=MAX_AGE_SECONDS)


def scoreset_active() -> ScoreSet:
    """The compiled active score rules; recompiled only when `scoreset_version()` changed."""
    return _scoreset_cache.get(scoreset_version())


def scoreset_invalidate() -> None:
    """Forget this process's compiled score rules (the next lead recompiles them)."""
    _scoreset_cache.clear()


def facts_scored(facts: LeadFacts, scores: ScoreSet | None = None) -> tuple[LeadFacts, int, list[dict]]:
    """The lead's score over its facts (the active score rules unless `scores` is given) and the facts with it as
    the field `score`, for the engine: (facts, total, breakdown). A score rule never sees a score."""
    total, breakdown = score(scores if scores is not None else scoreset_active(), scored(facts, None))
    return scored(facts, total), total, breakdown


# ---------------------------------------------------------------------------------------------- a lead's facts


def lead_facts(lead: Lead) -> LeadFacts:
    """What the engine needs to know about a lead (saved or not), in a fixed number of indexed queries.

    Expects the normalised copies (`routing.services.intake.lead_normalise`): email_domain, region_key,
    city_key, postal_code_num. A saved lead's repeat facts count only leads stored before it
    (`routing.selectors.lead_repeat`). Intake computes them once (`flows.services.leads.lead_create`) and hands
    them to the SLA start and the notifications, which read the account and the earlier leads from them.
    """
    # Region and industry are read through the vocabularies once, here: rules, SLA policies and the territory all
    # see the canonical term ("woj. slaskie" is "Śląskie"), the explanation shows both (reps.vocabularies).
    vocabulary = vocabulary_active(version=config_version("vocabulary")) if (lead.region or lead.industry) else None
    fields = fields_read({name: getattr(lead, name, None) for name in _FACT_FIELDS}, vocabulary=vocabulary)
    extra = lead.extra if isinstance(lead.extra, dict) else {}
    domain = _lookup_key(lead.email_domain)
    # Routing and then the SLA policy both need the looked-up facts of the same lead in the same transaction:
    # they are kept on the instance, keyed by what they were looked up by, so intake does the lookups once.
    memo_key = (lead.pk, lead.email, domain, lead.region_key, lead.city_key, lead.postal_code_num)
    memo = getattr(lead, "_facts_lookups", None)
    if memo is None or memo[0] != memo_key:
        # The domain's lists and account and the earlier leads of the same address: ONE query (a union of rows of
        # one shape, each fact read from them by its own home: reps.selectors, routing.selectors).
        candidates, builtins = rep_selectors.domain_fact_terms(domain)
        repeat_key = (lead.email_key or email_key(lead.email)) if _lookup_key(lead.email) else ""
        rows = _LEAD_FACT_ROWS.rows(candidates=candidates, builtins=builtins, repeat_key=repeat_key, before_id=lead.pk)
        lookups = {
            "domain_list_ids": rep_selectors.domain_lists_read(rows),
            "account": rep_selectors.account_read(rows),
            "repeat": lead_repeat_read(rows),
            "territory": rep_selectors.territory_for(
                region_key=_lookup_key(lead.region_key),
                city_key=_lookup_key(lead.city_key),
                postal_code_num=lead.postal_code_num,
                vocabulary=vocabulary,
                region=lead.region or "",
            ),
        }
        memo = lead._facts_lookups = (memo_key, lookups)
    return LeadFacts(fields=fields, extra=extra, email_domain=domain, **memo[1])


def _lead_fact_query(*, candidates: list[str], builtins: list[str], repeat_key: str, before_id: int | None) -> QuerySet | None:
    """The union `lead_facts` reads the domain's lists and account and the earlier leads from; None: nothing to read."""
    parts = [rep_selectors.domain_fact_query(candidates=candidates, builtins=builtins), lead_repeat_query(key=repeat_key, before_id=before_id)]
    parts = [part for part in parts if part is not None]
    return parts[0].union(*parts[1:], all=True) if parts else None


_LEAD_FACT_ROWS = CompiledQuery(_lead_fact_query)  # built and compiled once per shape, not once per lead


def _lookup_key(text: str | None) -> str:
    """A value to look up by; "" for one with a NUL byte, which no stored key has and PostgreSQL refuses in a query
    (an unsaved lead previewed from raw input can carry one)."""
    return "" if not text or "\x00" in text else text
