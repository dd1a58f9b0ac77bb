"""Conditions over a lead's facts: the compiled condition, the facts (account, repeat lead, territory, domain
lists), and their evaluation with an explanation line per condition. Pure: plain data in, plain data out, no ORM;
total: any condition row gives an answer, never an exception. Rules and the first-match decision built on these are
`core.engine`'s. The pieces live by responsibility, and are all re-exported here (and by `core.engine`):

- `core.condition_terms`: operators, targets, the fields a condition may test, how values compare and read;
- `core.condition_tests`: `holds`, the answer only (what the routing decision asks of hundreds of rules per lead),
  from tests compiled once per condition;
- `core.condition_errors`: validation for the admin;
- here: the data, and `check` / `evaluate`, which answer from the same compiled tests and say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import field as _kept  # Condition has a `field` of its own
from typing import TYPE_CHECKING

from core import words
from core.condition_errors import condition_errors, rule_target_errors  # noqa: F401  re-exported
from core.condition_terms import (  # noqa: F401  re-exported: core.conditions.X and core.engine.X name them
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
    GT,
    GTE,
    IN,
    IN_DOMAIN_LIST,
    IN_TERRITORY,
    IS_ACCOUNT,
    IS_REPEAT,
    LIST_OPERATORS,
    LIST_SEPARATOR,
    LT,
    LTE,
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
    ReadAs,
    _as_text,
    _is_empty,
    _key,
    _listed,
    _quoted,
    _short,
    _shown,
    field_kind,
    field_label,
    split_values,
    to_number,
)
from core.condition_tests import (  # noqa: F401  re-exported
    _field_value,
    _seen_number,
    _test_of,
    _wanted_number,
    _words_match,
    condition_holds,
    holds,
)
from core.messages import join
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from core.text import fold

if TYPE_CHECKING:
    from collections.abc import Callable

# --------------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Condition:
    """One compiled test. `values` are the `;`-separated items of `value`, trimmed, blanks dropped; `phrases`:
    the same items as words with their lemma keys, for the "has any of the words" operator (compiled once, with the
    rule set). `_test` and `_display` are worked out on first use and kept (see the module's docstring)."""

    operator: str
    field: str = ""
    value: str = ""
    values: tuple[str, ...] = ()
    domain_list_id: int | None = None
    domain_list_name: str = ""
    phrases: tuple[words.Phrase, ...] = ()
    _test: Callable[[LeadFacts], bool] | None = _kept(default=None, init=False, repr=False, compare=False)
    _display: tuple | None = _kept(default=None, init=False, repr=False, compare=False)  # label, value, values quoted

    @classmethod
    def build(cls, *, operator: str, field: str = "", value: str = "", domain_list_id: int | None = None, domain_list_name: str = "") -> Condition:
        field = (field or "").strip()
        value = value or ""
        values = split_values(value)
        return cls(
            operator=operator,
            field=field,
            value=value,
            values=values,
            domain_list_id=domain_list_id,
            domain_list_name=domain_list_name or "",
            phrases=words.phrases(values) if operator == WORDS else (),
        )

    def __getstate__(self) -> dict:
        # The kept test is a closure: a pickled condition (a cache in another process) works it out again.
        return {k: v for k, v in self.__dict__.items() if k not in ("_test", "_display")}


@dataclass(frozen=True)
class AccountFact:
    id: int
    name: str
    manager_id: int | None
    domain: str = ""


@dataclass(frozen=True)
class RepeatFact:
    """Earlier leads with the same e-mail, newest first; the previous owner is the newest one that had an owner."""

    earlier_lead_ids: tuple[int, ...]
    previous_lead_id: int | None = None
    previous_owner_id: int | None = None


@dataclass(frozen=True)
class TerritoryFact:
    id: int
    name: str
    owner_rep_id: int | None = None
    owner_pool_id: int | None = None
    matched_by: str = ""  # e.g. "postal codes 40-000–44-999", "region Śląskie"


@dataclass(frozen=True)
class LeadFacts:
    """What the engine knows about a lead: its fields, `extra`, and facts looked up in the database."""

    fields: Mapping[str, object] = field(default_factory=dict)
    extra: Mapping[str, object] = field(default_factory=dict)
    email_domain: str = ""
    domain_list_ids: frozenset[int] = frozenset()
    account: AccountFact | None = None
    repeat: RepeatFact | None = None
    territory: TerritoryFact | None = None
    # A field's words (core.words.tokens), worked out on the first "has the words" test of the field and kept for
    # the other conditions, rules and SLA policies that test it: one lemmatising per lead and field.
    words_cache: dict[str, tuple[str, tuple[words.Token, ...]]] = field(default_factory=dict, compare=False, repr=False)
    # A field's compare key, number and quoted form, likewise worked out once per lead and field. Each entry keeps
    # the value it was made from and is used only for that value: facts copied with other fields (the score) share it.
    seen: dict[tuple, tuple] = field(default_factory=dict, compare=False, repr=False)


# --------------------------------------------------------------------------------------------------
# The lines: why a condition holds or not


def _seen_shown(facts: LeadFacts, name: str, value: object) -> str:
    """The field's value as an explanation line quotes it (`_shown`)."""
    slot = (name, "shown")
    kept = facts.seen.get(slot)
    if kept is not None and kept[0] is value:
        return kept[1]
    shown = _shown(value)
    facts.seen[slot] = (value, shown)
    return shown


def _condition_shown(condition: Condition) -> tuple[str, str, str]:
    """The condition's own parts of its line, made once: field label, value and values as quoted. (Kept Messages
    are rendered again in the reader's language wherever they are used: core.messages.)"""
    display = condition._display
    if display is None:
        display = (field_label(condition.field), _shown(condition.value.strip()), _listed(condition.values))
        object.__setattr__(condition, "_display", display)
    return display


def _check_field(condition: Condition, facts: LeadFacts) -> tuple[bool, str]:
    name = condition.field
    kind = field_kind(name)
    if kind is None:
        return False, _("unknown field “%(field)s”") % {"field": name}
    hit = bool(_test_of(condition)(facts))  # the test `holds` uses; an error here is check()'s to report
    label, value_shown, values_listed = _condition_shown(condition)
    seen = _field_value(name, facts)
    op = condition.operator
    shown = _seen_shown(facts, name, seen)

    if op in PRESENCE_OPERATORS:
        if op == EMPTY:
            return hit, (_("%(field)s is empty") if hit else _("%(field)s is not empty (%(seen)s)")) % {"field": label, "seen": shown}
        return hit, (_("%(field)s is %(seen)s") if hit else _("%(field)s is empty")) % {"field": label, "seen": shown}

    if op in NUMBER_OPERATORS:
        symbol = _SYMBOLS[op]
        if _wanted_number(condition, kind) is None:
            return False, _("%(field)s: “%(value)s” is not a number to compare with") % {"field": label, "value": condition.value}
        if _seen_number(facts, name, postal=kind == "postal") is None:
            return False, _("%(field)s is %(seen)s, not a number (wanted %(symbol)s %(value)s)") % {
                "field": label,
                "seen": shown,
                "symbol": symbol,
                "value": condition.value.strip(),
            }
        params = {"field": label, "seen": shown, "symbol": symbol, "value": condition.value.strip()}
        if hit:
            return True, _("%(field)s %(seen)s %(symbol)s %(value)s") % params
        return False, _("%(field)s %(seen)s is not %(symbol)s %(value)s") % params

    if op == WORDS:
        return _check_words(condition, facts, seen, label=label, shown=shown, hit=hit)

    params = {"field": label, "seen": shown, "value": value_shown, "values": values_listed}
    if op == EQUALS:
        return hit, (_("%(field)s %(seen)s equals %(value)s") if hit else _("%(field)s %(seen)s does not equal %(value)s")) % params
    if op == NOT_EQUALS:
        return hit, (_("%(field)s %(seen)s is not %(value)s") if hit else _("%(field)s %(seen)s equals %(value)s")) % params
    if op == IN:
        return hit, (_("%(field)s %(seen)s is one of %(values)s") if hit else _("%(field)s %(seen)s is not one of %(values)s")) % params
    if op == CONTAINS:
        if hit:
            return True, _("%(field)s %(seen)s contains %(keyword)s") % {**params, "keyword": _shown(_matched_keyword(seen, condition.values))}
        return False, _("%(field)s %(seen)s contains none of %(values)s") % params
    # STARTS_WITH
    return hit, (_("%(field)s %(seen)s starts with %(values)s") if hit else _("%(field)s %(seen)s does not start with %(values)s")) % params


def _check_words(condition: Condition, facts: LeadFacts, seen: object, *, label: str, shown: str, hit: bool | None = None) -> tuple[bool, str]:
    """ "Has any of the words": the field's words (lemmatised once per lead and field, kept on the facts) against
    the condition's phrases (compiled with the rule set). The line names the form the text has."""
    match = _words_match(condition, facts, _as_text(seen))
    if hit is False or match is None:
        return False, _("%(field)s %(seen)s has none of the words %(values)s") % {"field": label, "seen": shown, "values": _listed(condition.values)}
    params = {"field": label, "seen": shown, "keyword": _shown(match.phrase.text), "form": _shown(match.form)}
    same = fold(match.form) == fold(match.phrase.text)
    if len(match.phrase.words) > 1:
        if same:
            return True, _("%(field)s %(seen)s has the phrase %(keyword)s") % params
        return True, _("%(field)s %(seen)s has the phrase %(keyword)s (as %(form)s)") % params
    if same:
        return True, _("%(field)s %(seen)s has the word %(keyword)s") % params
    return True, _("%(field)s %(seen)s has the word %(keyword)s (as %(form)s)") % params


def _matched_keyword(seen: object, keywords: Iterable[str]) -> str:
    have = _key(_as_text(seen), folded=True)
    for keyword in keywords:
        key = _key(keyword, folded=True)
        if key and key in have:
            return keyword
    return ""


def _check_fact(condition: Condition, facts: LeadFacts) -> tuple[bool, str]:
    op = condition.operator
    hit = bool(_test_of(condition)(facts))
    domain = facts.email_domain or _as_text(facts.fields.get("email_domain"))
    shown_domain = _shown(domain or None)
    if op == IN_DOMAIN_LIST:
        listed = _shown(condition.domain_list_name or condition.value or "?")
        if condition.domain_list_id is None:
            return False, _("no domain list chosen")
        if hit:
            return True, _("e-mail domain %(domain)s is in the list %(list)s") % {"domain": shown_domain, "list": listed}
        return False, _("e-mail domain %(domain)s is not in the list %(list)s") % {"domain": shown_domain, "list": listed}
    if op == IS_ACCOUNT:
        if hit:
            return True, _("e-mail domain %(domain)s belongs to the account %(account)s") % {
                "domain": shown_domain,
                "account": _shown(facts.account.name),
            }
        return False, _("e-mail domain %(domain)s belongs to no account") % {"domain": shown_domain}
    if op == IS_REPEAT:
        email = _shown(facts.fields.get("email"))
        if hit:
            ids = ", ".join(f"#{i}" for i in facts.repeat.earlier_lead_ids[:5])
            return True, _("an earlier lead has the e-mail %(email)s (%(ids)s)") % {"email": email, "ids": ids}
        return False, _("no earlier lead has the e-mail %(email)s") % {"email": email}
    if op == IN_TERRITORY:
        territory = facts.territory
        if territory is None:
            where = join(
                ", ", [field_label(n) + " " + _shown(facts.fields.get(n)) for n in ("region", "city", "postal_code") if not _is_empty(facts.fields.get(n))]
            )
            return False, _("the lead is in no territory (%(where)s)") % {"where": where or _("no region, city or postal code")}
        if not hit:
            return False, _("the lead is in the territory %(territory)s, not %(values)s") % {
                "territory": _shown(territory.name),
                "values": _listed(condition.values),
            }
        return True, _("the lead is in the territory %(territory)s (%(by)s)") % {"territory": _shown(territory.name), "by": territory.matched_by}
    return False, _("unknown operator “%(operator)s”") % {"operator": op}


def _check(condition: Condition, facts: LeadFacts) -> tuple[bool, str]:
    if condition.operator in FACT_OPERATORS:
        return _check_fact(condition, facts)
    if condition.operator in FIELD_OPERATORS:
        return _check_field(condition, facts)
    return False, _("unknown operator “%(operator)s”") % {"operator": condition.operator}


def check(condition: Condition, facts: LeadFacts) -> tuple[bool, str]:
    """One condition: (holds, the line saying why, with the value seen). Never raises."""
    try:
        return _check(condition, facts)
    except Exception as exc:  # noqa: BLE001 - a broken condition must not stop routing; it just does not hold
        return False, _("condition could not be checked (%(error)s)") % {"error": type(exc).__name__}


def evaluate(conditions: Sequence[Condition], match: str, facts: LeadFacts) -> tuple[bool, list[str]]:
    """Do `conditions` hold for `facts`? ALL stops at the first that fails, ANY at the first that holds.

    Returns the answer and one line per condition checked ("job title “Intern” contains “intern”").
    No conditions: holds (a catch-all rule or a default SLA policy). Used by routing rules and SLA policies.
    """
    if not conditions:
        return True, [_("no conditions: matches every lead")]
    lines: list[str] = []
    if match == MATCH_ANY:
        for condition in conditions:
            holds, line = check(condition, facts)
            lines.append(line)
            if holds:
                return True, lines
        return False, lines
    for condition in conditions:
        holds, line = check(condition, facts)
        lines.append(line)
        if not holds:
            return False, lines
    return True, lines
