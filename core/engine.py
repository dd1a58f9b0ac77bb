"""The routing engine: ordered rules over a lead's facts and the first-match decision, as plain data in, plain
data out. The conditions themselves (operators, fields, facts, evaluation) are `core.conditions`', re-exported
here so `engine.X` names every piece of the engine.

No ORM here (``routing/ruleset.py`` compiles rows into these dataclasses and builds the facts that need the
database). Everything in this module is total: any lead, any condition row (even one the admin should have
refused), gives an answer and an explanation, never an exception.

The explanation is read by people in two languages: its lines are `core.messages` codes, rendered in the reader's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.conditions import (  # noqa: F401  re-exported: engine.X is how apps name them
    _SHOWN_CHARS,
    _SYMBOLS,
    CONTAINS,
    EMPTY,
    EQUALS,
    EXTRA_PREFIX,
    FACT_OPERATORS,
    FIELD_KINDS,
    FIELD_LABELS,
    FIELD_OPERATORS,
    IN,
    IN_DOMAIN_LIST,
    IN_TERRITORY,
    IS_ACCOUNT,
    IS_REPEAT,
    LIST_OPERATORS,
    LIST_SEPARATOR,
    MATCH_ALL,
    MATCH_ANY,
    NOT_EMPTY,
    NOT_EQUALS,
    NUMBER_OPERATORS,
    OPERATORS,
    PRESENCE_OPERATORS,
    STARTS_WITH,
    TARGET_ACCOUNT_MANAGER,
    TARGET_NOBODY,
    TARGET_POOL,
    TARGET_PREVIOUS_OWNER,
    TARGET_REP,
    TARGET_TERRITORY,
    TEXT_OPERATORS,
    WORDS,
    AccountFact,
    Condition,
    LeadFacts,
    RepeatFact,
    TerritoryFact,
    _as_text,
    _check_fact,
    _check_field,
    _check_words,
    _field_value,
    _is_empty,
    _key,
    _listed,
    _matched_keyword,
    _shown,
    check,
    condition_errors,
    evaluate,
    field_kind,
    field_label,
    rule_target_errors,
    split_values,
    to_number,
)
from core.messages import join
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    position: int
    target: str
    conditions: tuple[Condition, ...] = ()
    match: str = MATCH_ALL
    is_active: bool = True
    target_rep_id: int | None = None
    target_pool_id: int | None = None


@dataclass(frozen=True)
class Ruleset:
    """The active rules in order (first match wins), and the version they were compiled from."""

    rules: tuple[CompiledRule, ...] = ()
    version: tuple = ()


@dataclass(frozen=True)
class RuleCheck:
    rule: CompiledRule
    matched: bool
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """Exactly one outcome: `rule` is the first active rule that matched and can assign, or None (fallback)."""

    rule: CompiledRule | None
    checks: tuple[RuleCheck, ...]
    explanation: tuple[str, ...]

    @property
    def target(self) -> str:
        return self.rule.target if self.rule else "fallback"

    @property
    def is_fallback(self) -> bool:
        return self.rule is None


def target_missing(rule: CompiledRule, facts: LeadFacts) -> str | None:
    """Why a rule whose conditions hold still cannot name an owner (then the next rule is tried)."""
    if rule.target == TARGET_REP and rule.target_rep_id is None:
        return _("the rule names no rep")
    if rule.target == TARGET_POOL and rule.target_pool_id is None:
        return _("the rule names no pool")
    if rule.target == TARGET_ACCOUNT_MANAGER and (facts.account is None or facts.account.manager_id is None):
        return _("the lead belongs to no account with a manager")
    if rule.target == TARGET_PREVIOUS_OWNER and (facts.repeat is None or facts.repeat.previous_owner_id is None):
        return _("no earlier lead with this e-mail had an owner")
    if rule.target == TARGET_TERRITORY and facts.territory is None:
        return _("the lead is in no territory")
    if rule.target not in (TARGET_REP, TARGET_POOL, TARGET_ACCOUNT_MANAGER, TARGET_PREVIOUS_OWNER, TARGET_TERRITORY, TARGET_NOBODY):
        return _("unknown target “%(target)s”") % {"target": rule.target}
    return None


def decide(ruleset: Ruleset | Sequence[CompiledRule], facts: LeadFacts) -> Decision:
    """The first active rule whose conditions hold and whose target exists wins; None means the fallback.

    The explanation lists every rule checked, in order, with the condition that failed or matched.
    """
    rules = ruleset.rules if isinstance(ruleset, Ruleset) else tuple(ruleset)
    checks: list[RuleCheck] = []
    explanation: list[str] = []
    for number, rule in enumerate(rules, start=1):
        if not rule.is_active:
            continue
        holds, lines = evaluate(rule.conditions, rule.match, facts)
        head = _("Rule %(number)s %(name)s") % {"number": number, "name": _shown(rule.name)}
        reasons = join("; ", lines)
        if holds:
            missing = target_missing(rule, facts)
            if missing:
                line = _("%(rule)s: conditions hold (%(reasons)s) but %(missing)s, so the next rule is tried") % {
                    "rule": head,
                    "reasons": reasons,
                    "missing": missing,
                }
                explanation.append(line)
                checks.append(RuleCheck(rule=rule, matched=False, lines=(*lines, missing)))
                continue
            explanation.append(_("%(rule)s: matches — %(reasons)s") % {"rule": head, "reasons": reasons})
            checks.append(RuleCheck(rule=rule, matched=True, lines=tuple(lines)))
            return Decision(rule=rule, checks=tuple(checks), explanation=tuple(explanation))
        explanation.append(_("%(rule)s: no match — %(reasons)s") % {"rule": head, "reasons": reasons})
        checks.append(RuleCheck(rule=rule, matched=False, lines=tuple(lines)))
    explanation.append(_("No rule matched: the lead goes to the fallback pool."))
    return Decision(rule=None, checks=tuple(checks), explanation=tuple(explanation))
