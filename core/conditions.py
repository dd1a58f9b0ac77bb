"""Conditions over a lead's facts: operators, the fields they test, the facts (account, repeat lead, territory,
domain lists), validation for the admin, and evaluation with an explanation line per condition. Pure: plain data
in, plain data out, no ORM; total: any condition row gives an answer, never an exception. Rules and the first-match
decision built on these are `core.engine`'s."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext_noop

from core import words
from core.messages import concat, join
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from core.text import fold, postal_code_number

# Operators (the values of routing.models.ConditionBase.Operator; repeated here so the engine stays pure).
EQUALS = "equals"
NOT_EQUALS = "not_equals"
IN = "in"
CONTAINS = "contains"  # a substring, case and diacritics ignored ("contains text")
WORDS = "words"  # whole words in any inflected form, or phrases of them (core.words)
STARTS_WITH = "starts_with"
GT, GTE, LT, LTE = "gt", "gte", "lt", "lte"
EMPTY = "empty"
NOT_EMPTY = "not_empty"
IN_DOMAIN_LIST = "in_domain_list"
IS_ACCOUNT = "is_account"
IS_REPEAT = "is_repeat"
IN_TERRITORY = "in_territory"

TEXT_OPERATORS = frozenset({EQUALS, NOT_EQUALS, IN, CONTAINS, WORDS, STARTS_WITH})
NUMBER_OPERATORS = frozenset({GT, GTE, LT, LTE})
PRESENCE_OPERATORS = frozenset({EMPTY, NOT_EMPTY})
FIELD_OPERATORS = TEXT_OPERATORS | NUMBER_OPERATORS | PRESENCE_OPERATORS
# Tests on facts rather than on a field: the condition's `field` is not used.
FACT_OPERATORS = frozenset({IN_DOMAIN_LIST, IS_ACCOUNT, IS_REPEAT, IN_TERRITORY})
OPERATORS = FIELD_OPERATORS | FACT_OPERATORS
LIST_OPERATORS = frozenset({IN, CONTAINS, WORDS, STARTS_WITH})

# Targets (routing.models.Rule.Target values).
TARGET_REP = "rep"
TARGET_POOL = "pool"
TARGET_TERRITORY = "territory"
TARGET_ACCOUNT_MANAGER = "account_manager"
TARGET_PREVIOUS_OWNER = "previous_owner"
TARGET_NOBODY = "nobody"

MATCH_ALL = "all"
MATCH_ANY = "any"

# Lead fields a condition may test, with how they compare:
#   text   - case-insensitive (casefold, spaces squeezed)
#   folded - also ignoring diacritics ("Śląskie" = "slaskie")
#   number - numeric (company size)
#   postal - a Polish postal code: text operators on the text, number operators on 40-001 -> 40001
FIELD_KINDS: dict[str, str] = {
    "email": "text",
    "email_domain": "text",
    "first_name": "text",
    "last_name": "text",
    "company": "text",
    "job_title": "text",
    "phone": "text",
    "city": "folded",
    "company_size": "number",
    "industry": "text",
    "region": "folded",
    "postal_code": "postal",
    "country": "text",
    "language": "text",
    "source": "text",
    "message": "text",
    "external_id": "text",
    "score": "number",  # the lead's score (core.scoring), summed before the routing decision
}
FIELD_LABELS: dict[str, str] = {
    "email": gettext_noop("e-mail"),
    "email_domain": gettext_noop("e-mail domain"),
    "first_name": gettext_noop("first name"),
    "last_name": gettext_noop("last name"),
    "company": gettext_noop("company"),
    "job_title": gettext_noop("job title"),
    "phone": gettext_noop("phone"),
    "city": gettext_noop("city"),
    "company_size": gettext_noop("company size"),
    "industry": gettext_noop("industry"),
    "region": gettext_noop("region"),
    "postal_code": gettext_noop("postal code"),
    "country": gettext_noop("country"),
    "language": gettext_noop("language"),
    "source": gettext_noop("source"),
    "message": gettext_noop("message"),
    "external_id": gettext_noop("external ID"),
    "score": gettext_noop("score"),
}
EXTRA_PREFIX = "extra."
LIST_SEPARATOR = ";"
_SYMBOLS = {GT: ">", GTE: "≥", LT: "<", LTE: "≤"}
_SHOWN_CHARS = 80  # how much of a seen value an explanation line quotes


# --------------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Condition:
    """One compiled test. `values` are the `;`-separated items of `value`, trimmed, blanks dropped; `phrases`:
    the same items as words with their lemma keys, for the "has any of the words" operator (compiled once, with the
    rule set)."""

    operator: str
    field: str = ""
    value: str = ""
    values: tuple[str, ...] = ()
    domain_list_id: int | None = None
    domain_list_name: str = ""
    phrases: tuple[words.Phrase, ...] = ()

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


# --------------------------------------------------------------------------------------------------
# Helpers


def split_values(value: object) -> tuple[str, ...]:
    """ "a; b;;c " -> ("a", "b", "c")."""
    if value is None:
        return ()
    return tuple(part.strip() for part in str(value).split(LIST_SEPARATOR) if part.strip())


def field_kind(name: str) -> str | None:
    """The compare kind of a condition field; "any" for extra.<key>; None for an unknown field."""
    if name.startswith(EXTRA_PREFIX) and len(name) > len(EXTRA_PREFIX):
        return "any"
    return FIELD_KINDS.get(name)


def field_label(name: str) -> str:
    if name.startswith(EXTRA_PREFIX):
        return name
    label = FIELD_LABELS.get(name)
    return _(label) if label else name


# An amount as people type it in a form: a currency before or after the number, thousands as "k" / "tys." / "mln".
_CURRENCY = r"(?:pln|zł|zl|eur|€|usd|\$)"
_AMOUNT = re.compile(rf"^{_CURRENCY}?(?P<number>[-+]?[0-9]*[.,]?[0-9]+)(?P<scale>k|tys\.?|mln)?{_CURRENCY}?\.?$")
_SCALES = {"k": 1000, "tys": 1000, "tys.": 1000, "mln": 1_000_000}


def to_number(value: object) -> Decimal | None:
    """A number from an int, a float or text like "250", "1 000", "2,5", "150 000 PLN", "150k", "1,5 mln zł";
    None when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))
        else:
            text = "".join(str(value).split()).casefold()  # every kind of space: "150\u202f000"
            if not text or len(text) > 64:
                return None
            amount = _AMOUNT.match(text)
            if amount is None:
                number = Decimal(text.replace(",", "."))
            else:
                number = Decimal(amount["number"].replace(",", ".")) * _SCALES.get(amount["scale"] or "", 1)
    except (InvalidOperation, ValueError, TypeError, OverflowError):
        return None
    return number if number.is_finite() else None


class ReadAs(str):
    """A field value as typed, read as a vocabulary's canonical term (reps.vocabularies): compares as the term,
    an explanation shows both: region “woj. slaskie” (Śląskie)."""

    typed: str

    def __new__(cls, canonical: str, typed: str = "") -> ReadAs:
        obj = super().__new__(cls, canonical)
        obj.typed = typed
        return obj

    def __reduce__(self) -> tuple:
        return (ReadAs, (str(self), self.typed))


def _quoted(text: str) -> str:
    """A value seen or wanted, in the reader's quotation marks (“…” in English, „…” in Polish)."""
    return _("“%(text)s”") % {"text": text}


def _short(value: object) -> str:
    text = " ".join((value if isinstance(value, str) else str(value)).split())
    return text[: _SHOWN_CHARS - 1] + "…" if len(text) > _SHOWN_CHARS else text


def _shown(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, ReadAs) and value.typed:
        return concat(_shown(value.typed), f" ({_short(str(value))})")
    return _quoted(_short(value))


def _listed(values: Sequence[str]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return _quoted(values[0])
    return concat(join(", ", [_quoted(v) for v in values[:-1]]), " ", _("or"), " ", _quoted(values[-1]))


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set | frozenset):
        return not value
    return False


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _key(text: str, *, folded: bool) -> str:
    """What a text compare compares: case-insensitive, and without diacritics when `folded`."""
    return fold(text) if folded else " ".join(text.split()).casefold()


# --------------------------------------------------------------------------------------------------
# Validation (used by the admin forms; never at routing time)


def condition_errors(*, field: str, operator: str, value: str, has_domain_list: bool) -> list[str]:
    """Why a condition cannot work, in words a sales manager understands; [] when it is fine."""
    field = (field or "").strip()
    errors: list[str] = []
    if operator not in OPERATORS:
        return [_("Unknown operator “%(operator)s”.") % {"operator": operator}]
    if operator in FACT_OPERATORS:
        if operator == IN_DOMAIN_LIST and not has_domain_list:
            errors.append(_("Choose the domain list the e-mail domain must be in."))
        if operator != IN_DOMAIN_LIST and has_domain_list:
            errors.append(_("A domain list is only used with “e-mail domain is in list”."))
        return errors
    if has_domain_list:
        errors.append(_("A domain list is only used with “e-mail domain is in list”."))
    if not field:
        errors.append(_("Choose the lead field this condition tests (e.g. job_title or extra.campaign)."))
        return errors
    kind = field_kind(field)
    if kind is None:
        known = ", ".join(sorted(FIELD_KINDS))
        errors.append(_("Unknown field “%(field)s”. Use one of: %(known)s, or extra.<key>.") % {"field": field, "known": known})
        return errors
    values = split_values(value)
    if operator in NUMBER_OPERATORS:
        if kind in ("text", "folded"):
            errors.append(
                _("“%(field)s” is text: it cannot be compared with %(operator)s. Use equals, contains or starts with.")
                % {"field": field, "operator": _SYMBOLS[operator]}
            )
        elif kind == "postal":
            if postal_code_number(value) is None and to_number(value) is None:
                errors.append(_("Give a postal code such as 40-000 to compare with."))
        elif to_number(value) is None:
            errors.append(_("Give a number to compare with, e.g. 250."))
    elif operator in LIST_OPERATORS:
        if not values:
            errors.append(_("Give at least one value; separate several with “;”."))
        elif operator == WORDS and kind == "number":
            errors.append(_("“%(field)s” is a number: it has no words. Use equals or a comparison.") % {"field": field})
        elif operator == WORDS and not all(words.has_words(v) for v in values):
            errors.append(_("Give words (letters or digits); separate several words or phrases with “;”."))
    elif operator in (EQUALS, NOT_EQUALS):
        if not value.strip():
            errors.append(_("Give the value to compare with (to test for a blank field use “is empty”)."))
        elif kind == "number" and to_number(value) is None:
            errors.append(_("“%(field)s” is a number: give a number.") % {"field": field})
    elif operator in PRESENCE_OPERATORS and value.strip():
        errors.append(_("“is empty” and “is not empty” take no value."))
    return errors


def rule_target_errors(*, target: str, has_rep: bool, has_pool: bool) -> dict[str, str]:
    """Missing or superfluous target fields of a rule, keyed by form field."""
    errors: dict[str, str] = {}
    if target == TARGET_REP and not has_rep:
        errors["target_rep"] = _("Choose the rep this rule assigns to.")
    if target == TARGET_POOL and not has_pool:
        errors["target_pool"] = _("Choose the pool this rule assigns to.")
    if target != TARGET_REP and has_rep:
        errors["target_rep"] = _("A rep is only used when the rule assigns to a rep.")
    if target != TARGET_POOL and has_pool:
        errors["target_pool"] = _("A pool is only used when the rule assigns to a pool.")
    return errors


# --------------------------------------------------------------------------------------------------
# Evaluation


def _field_value(name: str, facts: LeadFacts) -> object:
    if name.startswith(EXTRA_PREFIX):
        extra = facts.extra if isinstance(facts.extra, Mapping) else {}
        return extra.get(name[len(EXTRA_PREFIX) :])
    if name == "email_domain":
        return facts.fields.get("email_domain") or facts.email_domain
    return facts.fields.get(name)


def _check_field(condition: Condition, facts: LeadFacts) -> tuple[bool, str]:
    name = condition.field
    kind = field_kind(name)
    label = field_label(name)
    if kind is None:
        return False, _("unknown field “%(field)s”") % {"field": name}
    seen = _field_value(name, facts)
    op = condition.operator
    shown = _shown(seen)

    if op in PRESENCE_OPERATORS:
        empty = _is_empty(seen)
        if op == EMPTY:
            return empty, (_("%(field)s is empty") if empty else _("%(field)s is not empty (%(seen)s)")) % {"field": label, "seen": shown}
        return (not empty), (_("%(field)s is %(seen)s") if not empty else _("%(field)s is empty")) % {"field": label, "seen": shown}

    if op in NUMBER_OPERATORS:
        if kind == "postal":
            wanted = postal_code_number(condition.value)
            wanted = Decimal(wanted) if wanted is not None else to_number(condition.value)
            have_int = postal_code_number(seen)
            have = Decimal(have_int) if have_int is not None else None
        else:
            wanted = to_number(condition.value)
            have = to_number(seen)
        symbol = _SYMBOLS[op]
        if wanted is None:
            return False, _("%(field)s: “%(value)s” is not a number to compare with") % {"field": label, "value": condition.value}
        if have is None:
            return False, _("%(field)s is %(seen)s, not a number (wanted %(symbol)s %(value)s)") % {
                "field": label,
                "seen": shown,
                "symbol": symbol,
                "value": condition.value.strip(),
            }
        result = {GT: have > wanted, GTE: have >= wanted, LT: have < wanted, LTE: have <= wanted}[op]
        params = {"field": label, "seen": shown, "symbol": symbol, "value": condition.value.strip()}
        if result:
            return True, _("%(field)s %(seen)s %(symbol)s %(value)s") % params
        return False, _("%(field)s %(seen)s is not %(symbol)s %(value)s") % params

    if op == WORDS:
        return _check_words(condition, facts, seen, label=label, shown=shown)

    # Text operators. Numbers compare as numbers when both sides are numbers (company_size equals 250).
    if kind == "number" and op in (EQUALS, NOT_EQUALS, IN):
        have = to_number(seen)
        wanted_all = [to_number(v) for v in (condition.values if op == IN else (condition.value,))]
        hit = have is not None and any(w is not None and w == have for w in wanted_all)
    else:
        folded = kind == "folded" or op == CONTAINS
        have_key = _key(_as_text(seen), folded=folded)
        if op in (EQUALS, NOT_EQUALS):
            wanted_key = _key(condition.value, folded=folded)
            hit = have_key == wanted_key and (bool(wanted_key) or _is_empty(seen))
        elif op == IN:
            hit = any(have_key == _key(v, folded=folded) for v in condition.values)
        elif op == CONTAINS:
            hit = bool(have_key) and any(_key(v, folded=True) in have_key for v in condition.values if _key(v, folded=True))
        else:  # STARTS_WITH
            hit = bool(have_key) and any(have_key.startswith(_key(v, folded=folded)) for v in condition.values if _key(v, folded=folded))

    params = {"field": label, "seen": shown, "value": _shown(condition.value.strip()), "values": _listed(condition.values)}
    if op == EQUALS:
        return hit, (_("%(field)s %(seen)s equals %(value)s") if hit else _("%(field)s %(seen)s does not equal %(value)s")) % params
    if op == NOT_EQUALS:
        return (not hit), (_("%(field)s %(seen)s is not %(value)s") if not hit else _("%(field)s %(seen)s equals %(value)s")) % params
    if op == IN:
        return hit, (_("%(field)s %(seen)s is one of %(values)s") if hit else _("%(field)s %(seen)s is not one of %(values)s")) % params
    if op == CONTAINS:
        matched = _matched_keyword(seen, condition.values)
        if hit:
            return True, _("%(field)s %(seen)s contains %(keyword)s") % {**params, "keyword": _shown(matched)}
        return False, _("%(field)s %(seen)s contains none of %(values)s") % params
    # STARTS_WITH
    return hit, (_("%(field)s %(seen)s starts with %(values)s") if hit else _("%(field)s %(seen)s does not start with %(values)s")) % params


def _check_words(condition: Condition, facts: LeadFacts, seen: object, *, label: str, shown: str) -> tuple[bool, str]:
    """ "Has any of the words": the field's words (lemmatised once per lead and field, kept on the facts) against
    the condition's phrases (compiled with the rule set). The line names the form the text has."""
    text = _as_text(seen)
    cached = facts.words_cache.get(condition.field)
    if cached is not None and cached[0] == text:
        found_tokens = cached[1]
    else:
        found_tokens = words.tokens(text) if text.strip() else ()
        facts.words_cache[condition.field] = (text, found_tokens)
    phrases = condition.phrases or (words.phrases(condition.values) if found_tokens else ())
    match = words.find(phrases, text, found_tokens) if found_tokens else None
    if match is None:
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
    domain = facts.email_domain or _as_text(facts.fields.get("email_domain"))
    shown_domain = _shown(domain or None)
    if op == IN_DOMAIN_LIST:
        listed = _shown(condition.domain_list_name or condition.value or "?")
        if condition.domain_list_id is None:
            return False, _("no domain list chosen")
        if condition.domain_list_id in facts.domain_list_ids:
            return True, _("e-mail domain %(domain)s is in the list %(list)s") % {"domain": shown_domain, "list": listed}
        return False, _("e-mail domain %(domain)s is not in the list %(list)s") % {"domain": shown_domain, "list": listed}
    if op == IS_ACCOUNT:
        if facts.account is not None:
            return True, _("e-mail domain %(domain)s belongs to the account %(account)s") % {
                "domain": shown_domain,
                "account": _shown(facts.account.name),
            }
        return False, _("e-mail domain %(domain)s belongs to no account") % {"domain": shown_domain}
    if op == IS_REPEAT:
        email = _shown(facts.fields.get("email"))
        if facts.repeat is not None and facts.repeat.earlier_lead_ids:
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
        wanted = condition.values
        if wanted and not any(fold(w) == fold(territory.name) for w in wanted):
            return False, _("the lead is in the territory %(territory)s, not %(values)s") % {
                "territory": _shown(territory.name),
                "values": _listed(wanted),
            }
        return True, _("the lead is in the territory %(territory)s (%(by)s)") % {"territory": _shown(territory.name), "by": territory.matched_by}
    return False, _("unknown operator “%(operator)s”") % {"operator": op}


def check(condition: Condition, facts: LeadFacts) -> tuple[bool, str]:
    """One condition: (holds, the line saying why, with the value seen). Never raises."""
    try:
        if condition.operator in FACT_OPERATORS:
            return _check_fact(condition, facts)
        if condition.operator in FIELD_OPERATORS:
            return _check_field(condition, facts)
        return False, _("unknown operator “%(operator)s”") % {"operator": condition.operator}
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
