"""The compiled tests of conditions: does a condition hold for a lead, the answer only. What the routing decision
asks of each of hundreds of rules for every lead, so it is made cheap: each condition is compiled once into a test
(its wanted keys, numbers or phrases worked out at its first use, not per lead: `_test_of`), and a lead's field is
read, keyed and numbered once per lead (kept in `LeadFacts.seen`). `core.conditions.check` answers from the same
tests and adds the line that explains the answer, so the two never disagree. Pure: no ORM; total: never raises."""

from __future__ import annotations

import operator as _operator
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from core import words
from core.condition_terms import (
    CONTAINS,
    EMPTY,
    EQUALS,
    EXTRA_PREFIX,
    FACT_OPERATORS,
    FIELD_OPERATORS,
    GT,
    GTE,
    IN,
    IN_DOMAIN_LIST,
    IN_TERRITORY,
    IS_ACCOUNT,
    IS_REPEAT,
    LT,
    LTE,
    MATCH_ANY,
    NOT_EQUALS,
    NUMBER_OPERATORS,
    PRESENCE_OPERATORS,
    STARTS_WITH,
    WORDS,
    _as_text,
    _is_empty,
    _key,
    field_kind,
    to_number,
)
from core.text import fold, postal_code_number

if TYPE_CHECKING:
    from core.conditions import Condition, LeadFacts

# --------------------------------------------------------------------------------------------------
# A lead's values, once per lead and field. Each kept entry holds the very value it was made from and is used for
# that object only: facts copied with other fields (the score, core.scoring) share the store safely.


def _field_value(name: str, facts: LeadFacts) -> object:
    if name.startswith(EXTRA_PREFIX):
        extra = facts.extra if isinstance(facts.extra, Mapping) else {}
        return extra.get(name[len(EXTRA_PREFIX) :])
    if name == "email_domain":
        return facts.fields.get("email_domain") or facts.email_domain
    return facts.fields.get(name)


def _reader(name: str) -> Callable[[LeadFacts], object]:
    """`_field_value` for one field, with the field's kind of lookup decided once."""
    if name.startswith(EXTRA_PREFIX):
        key = name[len(EXTRA_PREFIX) :]

        def extra_value(facts: LeadFacts) -> object:
            extra = facts.extra
            return extra.get(key) if type(extra) is dict or isinstance(extra, Mapping) else None

        return extra_value
    if name == "email_domain":
        return lambda facts: facts.fields.get("email_domain") or facts.email_domain
    return lambda facts: facts.fields.get(name)


def _keyer(name: str, folded: bool) -> Callable[[LeadFacts], str]:
    """The field's value as a text compare compares it (`_key`), worked out once per lead."""
    read, slot = _reader(name), (name, folded)

    def key_of(facts: LeadFacts) -> str:
        value = read(facts)
        kept = facts.seen.get(slot)
        if kept is not None and kept[0] is value:
            return kept[1]
        key = _key(_as_text(value), folded=folded)
        facts.seen[slot] = (value, key)
        return key

    return key_of


def _numberer(name: str, postal: bool) -> Callable[[LeadFacts], Decimal | int | None]:
    """The field's value as a number (`to_number`), or a postal code's number (40-001 -> 40001), once per lead."""
    read, slot = _reader(name), (name, "postal" if postal else "number")

    def number_of(facts: LeadFacts) -> Decimal | int | None:
        value = read(facts)
        kept = facts.seen.get(slot)
        if kept is not None and kept[0] is value:
            return kept[1]
        number = postal_code_number(value) if postal else to_number(value)
        facts.seen[slot] = (value, number)
        return number

    return number_of


def _seen_number(facts: LeadFacts, name: str, *, postal: bool = False) -> Decimal | int | None:
    return _numberer(name, postal)(facts)


def _tokens(facts: LeadFacts, name: str, text: str) -> tuple[words.Token, ...]:
    """The words of the field's text (core.words.tokens), lemmatised once per lead and field."""
    cached = facts.words_cache.get(name)
    if cached is not None and cached[0] == text:
        return cached[1]
    found = words.tokens(text) if text.strip() else ()
    facts.words_cache[name] = (text, found)
    return found


def _words_match(condition: Condition, facts: LeadFacts, text: str) -> words.WordMatch | None:
    """The first of the condition's words or phrases in the text, with the form it has there."""
    found = _tokens(facts, condition.field, text)
    if not found:
        return None
    return words.find(condition.phrases or words.phrases(condition.values), text, found)


def _wanted_number(condition: Condition, kind: str) -> Decimal | None:
    """What a number operator compares with (a postal field takes a postal code or a number)."""
    if kind == "postal":
        wanted = postal_code_number(condition.value)
        return Decimal(wanted) if wanted is not None else to_number(condition.value)
    return to_number(condition.value)


# --------------------------------------------------------------------------------------------------
# The tests: one per condition, compiled once


_COMPARE = {GT: _operator.gt, GTE: _operator.ge, LT: _operator.lt, LTE: _operator.le}


def _never(_facts: LeadFacts) -> bool:
    return False


def _always(_facts: LeadFacts) -> bool:
    return True


def _negated(test: Callable[[LeadFacts], bool]) -> Callable[[LeadFacts], bool]:
    return lambda facts: not test(facts)


def _words_test(condition: Condition, name: str) -> Callable[[LeadFacts], bool]:
    """Is any of the phrases in the field's words (what `words.find` answers, without finding which): the one-word
    phrases as one set of keys against the text's, the longer ones in order."""
    phrases = condition.phrases or words.phrases(condition.values)
    single = frozenset().union(*(p.words[0] for p in phrases if len(p.words) == 1))
    longer = tuple(p for p in phrases if len(p.words) > 1)
    read, slot = _reader(name), (name, "words")

    def has_words(facts: LeadFacts) -> bool:
        value = read(facts)
        kept = facts.seen.get(slot)
        if kept is not None and kept[0] is value:
            text, found, keys = kept[1]
        else:  # the text's words, and every key of every word
            text = _as_text(value)
            found = _tokens(facts, name, text)
            keys = frozenset().union(*(token.keys for token in found))
            facts.seen[slot] = (value, (text, found, keys))
        if not found:
            return False
        if not single.isdisjoint(keys):
            return True
        # A phrase can be in the text only if each of its words is: those are looked for in order.
        possible = tuple(p for p in longer if all(not word.isdisjoint(keys) for word in p.words))
        return bool(possible) and words.find(possible, text, found) is not None

    return has_words


def _field_test(condition: Condition) -> Callable[[LeadFacts], bool]:
    name, op = condition.field, condition.operator
    kind = field_kind(name)
    if kind is None:
        return _never
    if op in PRESENCE_OPERATORS:
        read = _reader(name)
        empty = lambda facts: _is_empty(read(facts))  # noqa: E731
        return empty if op == EMPTY else _negated(empty)
    if op in NUMBER_OPERATORS:
        wanted, compare, number_of = _wanted_number(condition, kind), _COMPARE[op], _numberer(name, kind == "postal")
        if wanted is None:
            return _never

        def compared(facts: LeadFacts) -> bool:
            have = number_of(facts)
            return have is not None and compare(have, wanted)

        return compared
    if op == WORDS:
        return _words_test(condition, name)
    # Text operators. Numbers compare as numbers when both sides are numbers (company_size equals 250).
    if kind == "number" and op in (EQUALS, NOT_EQUALS, IN):
        numbers = tuple(w for w in (to_number(v) for v in (condition.values if op == IN else (condition.value,))) if w is not None)
        number_of = _numberer(name, False)

        def number_in(facts: LeadFacts) -> bool:
            have = number_of(facts)
            return have is not None and have in numbers

        return _negated(number_in) if op == NOT_EQUALS else number_in
    folded = kind == "folded" or op == CONTAINS
    key_of = _keyer(name, folded)
    if op in (EQUALS, NOT_EQUALS):
        wanted_key = _key(condition.value, folded=folded)
        if wanted_key:
            equal = lambda facts: key_of(facts) == wanted_key  # noqa: E731
        else:  # equals "": holds for an empty field only
            read = _reader(name)
            equal = lambda facts: key_of(facts) == "" and _is_empty(read(facts))  # noqa: E731
        return _negated(equal) if op == NOT_EQUALS else equal
    if op == IN:
        keys = frozenset(_key(v, folded=folded) for v in condition.values)
        return lambda facts: key_of(facts) in keys
    wanted = tuple(k for k in (_key(v, folded=folded) for v in condition.values) if k)
    if not wanted:
        return _never
    if op == CONTAINS:

        def contains(facts: LeadFacts) -> bool:
            have = key_of(facts)
            if not have:
                return False
            for k in wanted:
                if k in have:
                    return True
            return False

        return contains
    if op == STARTS_WITH:
        return lambda facts: key_of(facts).startswith(wanted)
    return _never


def _fact_test(condition: Condition) -> Callable[[LeadFacts], bool]:
    op = condition.operator
    if op == IN_DOMAIN_LIST:
        list_id = condition.domain_list_id
        return _never if list_id is None else lambda facts: list_id in facts.domain_list_ids
    if op == IS_ACCOUNT:
        return lambda facts: facts.account is not None
    if op == IS_REPEAT:
        return lambda facts: facts.repeat is not None and bool(facts.repeat.earlier_lead_ids)
    if op == IN_TERRITORY:
        wanted = frozenset(fold(w) for w in condition.values)
        return lambda facts: facts.territory is not None and (not wanted or fold(facts.territory.name) in wanted)
    return _never


def _raising(exc: Exception) -> Callable[[LeadFacts], bool]:
    def broken(_facts: LeadFacts) -> bool:
        raise exc

    return broken


def _test_of(condition: Condition) -> Callable[[LeadFacts], bool]:
    """The condition's test, compiled on first use and kept on it. It may raise (a row the admin should have
    refused): `condition_holds` and `conditions_test` then answer no, `core.conditions.check` says why."""
    test = condition._test
    if test is None:
        try:
            if condition.operator in FACT_OPERATORS:
                test = _fact_test(condition)
            elif condition.operator in FIELD_OPERATORS:
                test = _field_test(condition)
            else:
                test = _never
        except Exception as exc:  # noqa: BLE001 - it fails the same way each time it is asked
            test = _raising(exc)
        object.__setattr__(condition, "_test", test)
    return test


def guards_of(conditions: Sequence[Condition], match: str) -> tuple[tuple[tuple, Callable[[LeadFacts], str], frozenset[str]], ...]:
    """What must be true of a lead for these conditions to hold, as (slot, key of the field, wanted keys): one per
    "equals" or "is one of" text condition of an ALL match (or a lone condition). A lead whose key is not wanted
    cannot match, so the decision passes over the rule with a set lookup (the key is worked out once per lead),
    whatever else the rule tests. None for ANY: any other condition may still hold."""
    if match == MATCH_ANY and len(conditions) != 1:
        return ()
    guards = []
    for condition in conditions:
        try:
            guard = _guard_of(condition)
        except Exception:  # noqa: BLE001 - a broken row: its own test says no, unguarded
            guard = None
        if guard is not None:
            guards.append(guard)
    return tuple(guards)


def _guard_of(condition: Condition) -> tuple[tuple, Callable[[LeadFacts], str], frozenset[str]] | None:
    name, op = condition.field, condition.operator
    kind = field_kind(name) if op in (EQUALS, IN) else None
    if kind is None or kind == "number":  # numbers compare as numbers
        return None
    folded = kind == "folded"
    wanted = frozenset(_key(v, folded=folded) for v in condition.values) if op == IN else frozenset({_key(condition.value, folded=folded)})
    if "" in wanted:  # equals "": the empty field, whose key is "" only when it is empty
        return None
    return (name, folded), _keyer(name, folded), wanted


def condition_holds(condition: Condition, facts: LeadFacts) -> bool:
    """Does the condition hold for the facts (the answer of `check`, without its line)? Never raises."""
    try:
        return bool(_test_of(condition)(facts))
    except Exception:  # noqa: BLE001 - a broken condition must not stop routing; it just does not hold
        return False


def conditions_test(conditions: Sequence[Condition], match: str) -> Callable[[LeadFacts], bool]:
    """`holds` for these conditions as one function of the facts (a rule compiles it once: core.engine)."""
    tests = tuple(_test_of(condition) for condition in conditions)
    if not tests:
        return _always
    if match == MATCH_ANY:

        def any_holds(facts: LeadFacts) -> bool:
            for test in tests:
                try:
                    if test(facts):
                        return True
                except Exception:  # noqa: BLE001, S112 - a broken condition does not hold; the next may
                    continue
            return False

        return any_holds

    def all_hold(facts: LeadFacts) -> bool:
        for test in tests:
            try:
                if not test(facts):
                    return False
            except Exception:  # noqa: BLE001 - a broken condition does not hold
                return False
        return True

    return all_hold


def holds(conditions: Sequence[Condition], match: str, facts: LeadFacts) -> bool:
    """The answer of `evaluate`, without the lines: ALL stops at the first that fails, ANY at the first that holds."""
    if not conditions:
        return True
    if match == MATCH_ANY:
        return any(condition_holds(condition, facts) for condition in conditions)
    return all(condition_holds(condition, facts) for condition in conditions)
