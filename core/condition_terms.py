"""The terms conditions are written in: operators, targets, the lead fields a condition may test and how each
compares, and how a value reads (a number as people type it, the key a text compare compares, the quoted form an
explanation line shows). Pure: plain data in, plain data out, no ORM. Evaluation is `core.conditions`', validation
for the admin `core.condition_errors`; `core.conditions` and `core.engine` re-export all of this."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext_noop

from core.messages import concat, join
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from core.text import fold

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
