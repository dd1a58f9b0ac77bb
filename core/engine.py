"""The routing engine: ordered rules over a lead's facts and the first-match decision, as plain data in, plain
data out. The conditions themselves (operators, fields, facts, evaluation) are `core.conditions`', re-exported
here so `engine.X` names every piece of the engine.

No ORM here (``routing/ruleset.py`` compiles rows into these dataclasses and builds the facts that need the
database). Everything in this module is total: any lead, any condition row (even one the admin should have
refused), gives an answer and an explanation, never an exception.

The explanation is read by people in two languages: its lines are `core.messages` codes, rendered in the reader's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.condition_tests import _test_of, conditions_test, guards_of
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
    condition_holds,
    evaluate,
    field_kind,
    field_label,
    holds,
    rule_target_errors,
    split_values,
    to_number,
)
from core.messages import join, language_pinned
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
    # Worked out on first use and kept: the conditions as one test (`decide`), the quoted name (`_head`).
    _test: Callable[[LeadFacts], bool] | None = field(default=None, init=False, repr=False, compare=False)
    _name_shown: str | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_test", "_name_shown")}


@dataclass(frozen=True)
class Ruleset:
    """The active rules in order (first match wins), and the version they were compiled from."""

    rules: tuple[CompiledRule, ...] = ()
    version: tuple = ()
    _plan: _Plan | None = field(default=None, init=False, repr=False, compare=False)  # `_plan_of`, made once

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_plan"}


@dataclass(frozen=True)
class RuleCheck:
    rule: CompiledRule
    matched: bool
    lines: tuple[str, ...]


# How much of a long table the why lists (`Decision.explanation`). A rule table of hundreds of rules would write a
# line per rule checked (~60 µs each: conditions traced, Messages in the reader's language), 500 lines nobody reads
# at 30 ms per lead. Up to EXPLAINED_ALL rules checked before the winner (a table the demo's size, 13 rules, and a
# little more is explained rule by rule), each has its line; beyond, the first
# EXPLAINED_HEAD (the table's top: spam, VIPs, disqualifiers), the last EXPLAINED_TAIL (the ones just before the
# winner) and the first EXPLAINED_NEAR other rules whose conditions held but which could name no owner keep their line,
# and each run of rules in between is one line that gives its first and last number and how many it holds.
EXPLAINED_ALL = 15
EXPLAINED_HEAD = 5
EXPLAINED_TAIL = 5
EXPLAINED_NEAR = 5


class Decision:
    """Exactly one outcome: `rule` is the first active rule that matched and can assign, or None (fallback).

    `checks` (every rule checked, in order, with the condition lines) and `explanation` (the why as stored: a line
    per rule checked, the compact form above for a long table, then the fallback's line) are the "why". `decide`
    finds the rule with the compiled tests alone and leaves the why to be written on first use, from the same tests
    over the same facts: the answer costs microseconds per rule, the lines (messages in the reader's language) many
    times that, and only a caller that reads them pays for them.
    """

    __slots__ = ("rule", "_checks", "_explanation", "_checked", "_facts", "_near")

    def __init__(
        self,
        rule: CompiledRule | None,
        checks: tuple[RuleCheck, ...] | None = None,
        explanation: tuple[str, ...] | None = None,
        *,
        rules: tuple[CompiledRule, ...] = (),
        facts: LeadFacts | None = None,
        near: frozenset[int] = frozenset(),
    ) -> None:
        self.rule = rule
        self._checks, self._explanation = checks, explanation
        self._checked, self._facts = rules, facts  # the rules up to the one that won (or all), for the why
        self._near = near  # indexes (in `rules`) of the rules whose conditions held but that could name no owner

    @property
    def checks(self) -> tuple[RuleCheck, ...]:
        if self._checks is None:
            with language_pinned():
                facts = self._facts if self._facts is not None else LeadFacts()
                self._checks = tuple(_rule_checked(number, rule, facts)[1] for number, rule in self._numbered())
        return self._checks

    @property
    def explanation(self) -> tuple[str, ...]:
        if self._explanation is None:
            with language_pinned():  # hundreds of Messages: the reader's language asked once, not for each
                self._explanation = self._explain()
        return self._explanation

    def _numbered(self) -> list[tuple[int, CompiledRule]]:
        """The active rules checked, with their number in the table (inactive ones count: the admin numbers them)."""
        return [(number, rule) for number, rule in enumerate(self._checked, start=1) if rule.is_active]

    def _explain(self) -> tuple[str, ...]:
        facts = self._facts if self._facts is not None else LeadFacts()
        numbered = self._numbered()
        before = numbered[:-1] if self.rule is not None else numbered  # the rules that did not take the lead
        lines: list[str] = []
        if len(before) <= EXPLAINED_ALL:
            checks = [_rule_checked(number, rule, facts) for number, rule in numbered]
            lines.extend(line for line, _check in checks)
            if self._checks is None:
                self._checks = tuple(check_ for _line, check_ in checks)
        else:
            listed = {*range(EXPLAINED_HEAD), *range(len(before) - EXPLAINED_TAIL, len(before))}
            near = [i for i, (number, _rule) in enumerate(before) if number - 1 in self._near and i not in listed]
            listed.update(near[:EXPLAINED_NEAR])
            run: list[tuple[int, CompiledRule]] = []
            for i, (number, rule) in enumerate(before):
                if i not in listed:
                    run.append((number, rule))
                    continue
                lines.extend(self._run_lines(run, facts))
                run = []
                lines.append(_rule_checked(number, rule, facts)[0])
            lines.extend(self._run_lines(run, facts))
            if self.rule is not None:
                lines.append(_rule_checked(*numbered[-1], facts)[0])
        if self.rule is None:
            lines.append(_("No rule matched: the lead goes to the fallback pool."))
        return tuple(lines)

    def _run_lines(self, run: list[tuple[int, CompiledRule]], facts: LeadFacts) -> list[str]:
        """A run of rules left out of a long why, as one line (a lone rule keeps its own)."""
        if len(run) < 2:
            return [_rule_checked(number, rule, facts)[0] for number, rule in run]
        params = {"first": run[0][0], "last": run[-1][0], "count": len(run)}
        if any(number - 1 in self._near for number, _rule in run):  # some held but named no owner: not "no match"
            return [_("Rules %(first)s–%(last)s: none could take the lead (%(count)s checked, not listed one by one)") % params]
        return [_("Rules %(first)s–%(last)s: no match (%(count)s checked, not listed one by one)") % params]

    @property
    def rules_checked(self) -> int:
        """How many rules were checked (as `len(checks)`, without writing the why)."""
        if self._checks is not None:
            return len(self._checks)
        return sum(1 for rule in self._checked if rule.is_active)

    @property
    def target(self) -> str:
        return self.rule.target if self.rule else "fallback"

    @property
    def is_fallback(self) -> bool:
        return self.rule is None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return (self.rule, self.checks, self.explanation) == (other.rule, other.checks, other.explanation)

    __hash__ = None  # type: ignore[assignment]  # compared by value, like the dataclass it was

    def __repr__(self) -> str:
        return f"Decision(rule={self.rule!r}, rules_checked={self.rules_checked})"


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

    The explanation lists the rules checked, in order, with the condition that failed or matched (written when it
    is first read; a long table's in the compact form of `Decision`).
    """
    if isinstance(ruleset, Ruleset):
        rules, plan = ruleset.rules, ruleset._plan
        if plan is None:
            plan = _plan_of(rules)
            object.__setattr__(ruleset, "_plan", plan)
    else:
        rules = tuple(ruleset)
        plan = _plan_of(rules)
    keys = []  # the lead's key of each guarded field, worked out once per decision
    for key_of in plan.keyers:
        try:
            keys.append(key_of(facts))
        except Exception:  # noqa: BLE001 - the conditions on the field would fail the same way: they do not hold
            keys.append(None)
    # The rules this lead can match at all: the unguarded ones and those whose first guard wants the lead's key.
    candidates = list(plan.unguarded)
    for slot, by_key in enumerate(plan.by_key):
        found = by_key.get(keys[slot])
        if found:
            candidates.extend(found)
    if len(candidates) > len(plan.unguarded):
        candidates.sort()  # back in the rules' order
    entries = plan.entries
    near: list[int] = []  # rules whose conditions held but that could name no owner: the why lists them
    for position in candidates:
        index, rule, test, guards = entries[position]
        for slot, wanted in guards:
            if keys[slot] not in wanted:
                break  # another condition the rule needs does not hold
        else:
            try:
                matched = test(facts)
            except Exception:  # noqa: BLE001 - a broken condition does not hold (its line says why)
                matched = False
            if matched:
                if target_missing(rule, facts) is None:
                    return Decision(rule, rules=rules[: index + 1], facts=facts, near=frozenset(near))
                near.append(index)
    return Decision(None, rules=rules, facts=facts, near=frozenset(near))


@dataclass(frozen=True)
class _Plan:
    """A rule set made ready for `decide`, once per rule set (kept on the Ruleset).

    `entries`: (index in the rules, rule, its conditions as one test, its other guards) of each active rule, in
    order. A guard (core.condition_tests.guards_of) is what a lead needs for the rule to match at all: the lead's
    key of a field (`keyers`, one per guarded field, worked out once per lead) among the keys a condition wants.
    Each guarded rule is filed under its first guard's keys (`by_key`, per field: key -> entry positions), so a
    lead is tried only against the unguarded rules and the ones filed under its own keys.
    """

    entries: tuple[tuple, ...]
    keyers: tuple[Callable[[LeadFacts], str], ...]
    by_key: tuple[dict[str, tuple[int, ...]], ...]
    unguarded: tuple[int, ...]


def _plan_of(rules: tuple[CompiledRule, ...]) -> _Plan:
    slots: dict[tuple, int] = {}
    keyers: list[Callable[[LeadFacts], str]] = []
    filed: list[dict[str, list[int]]] = []
    entries: list[tuple] = []
    unguarded: list[int] = []
    for index, rule in enumerate(rules):
        if not rule.is_active:
            continue
        test = rule._test
        if test is None:  # the rule's conditions as one test, compiled once per rule (a lone condition is its own)
            test = _test_of(rule.conditions[0]) if len(rule.conditions) == 1 else conditions_test(rule.conditions, rule.match)
            object.__setattr__(rule, "_test", test)
        guards = []
        for slot_key, key_of, wanted in guards_of(rule.conditions, rule.match):
            if slot_key not in slots:
                slots[slot_key] = len(keyers)
                keyers.append(key_of)
                filed.append({})
            guards.append((slots[slot_key], wanted))
        position = len(entries)
        if guards:
            first_slot, first_wanted = guards[0]
            for key in first_wanted:
                filed[first_slot].setdefault(key, []).append(position)
        else:
            unguarded.append(position)
        entries.append((index, rule, test, tuple(guards[1:])))
    return _Plan(
        entries=tuple(entries),
        keyers=tuple(keyers),
        by_key=tuple({key: tuple(positions) for key, positions in by_field.items()} for by_field in filed),
        unguarded=tuple(unguarded),
    )


def _head(number: int, rule: CompiledRule) -> str:
    name = rule._name_shown
    if name is None:  # the rule's quoted name, made once per compiled rule (rendered again for another reader)
        name = _shown(rule.name)
        object.__setattr__(rule, "_name_shown", name)
    return _("Rule %(number)s %(name)s") % {"number": number, "name": name}


def _rule_checked(number: int, rule: CompiledRule, facts: LeadFacts) -> tuple[str, RuleCheck]:
    """The explanation line of one rule checked by `decide`, and its check."""
    matched, lines = evaluate(rule.conditions, rule.match, facts)
    head = _head(number, rule)
    reasons = join("; ", lines)
    if matched:
        missing = target_missing(rule, facts)
        if missing:
            line = _("%(rule)s: conditions hold (%(reasons)s) but %(missing)s, so the next rule is tried") % {
                "rule": head,
                "reasons": reasons,
                "missing": missing,
            }
            return line, RuleCheck(rule=rule, matched=False, lines=(*lines, missing))
        return _("%(rule)s: matches — %(reasons)s") % {"rule": head, "reasons": reasons}, RuleCheck(rule=rule, matched=True, lines=tuple(lines))
    return _("%(rule)s: no match — %(reasons)s") % {"rule": head, "reasons": reasons}, RuleCheck(rule=rule, matched=False, lines=tuple(lines))
