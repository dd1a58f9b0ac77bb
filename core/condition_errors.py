"""Validation of conditions and rule targets for the admin forms and the routing document's import: why a
condition cannot work, in words a sales manager understands. Never used at routing time (routing is total: a bad
row simply does not hold, `core.conditions`). Pure: no ORM."""

from __future__ import annotations

from core import words
from core.condition_terms import (
    _SYMBOLS,
    EQUALS,
    FACT_OPERATORS,
    FIELD_KINDS,
    IN_DOMAIN_LIST,
    LIST_OPERATORS,
    NOT_EQUALS,
    NUMBER_OPERATORS,
    OPERATORS,
    PRESENCE_OPERATORS,
    TARGET_POOL,
    TARGET_REP,
    WORDS,
    field_kind,
    split_values,
    to_number,
)
from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from core.text import postal_code_number


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
