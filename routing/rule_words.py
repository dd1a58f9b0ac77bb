"""The rule table in words, as the seed's table reads: "when → assign to → also do", with field labels, not names.

    Job title has any of the words: student, praktykant, stażysta, intern
    Company size > 250
    Notify the owner (E-mail), template “account_lead”: New lead from your account: …

Display only (the admin's list and forms, "Test a lead"); the engine's own explanation lines are core.engine's.
Names of people, pools and lists are shown after a colon so they stay in the nominative in Polish.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from core import engine
from routing.models import Lead, Rule, RuleAction, RuleCondition

_SYMBOLS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def field_words(name: str) -> str:
    """A condition field as a person reads it: "Job title", "Extra field: budget"."""
    if name.startswith(engine.EXTRA_PREFIX):
        return _("Extra field: %(key)s") % {"key": name[len(engine.EXTRA_PREFIX) :]}
    return capfirst(engine.field_label(name)) if name else ""


def field_choices(*, recent_leads: int = 500, current: Iterable[str] = ()) -> list[tuple[str, object]]:
    """The condition editor's field select: the lead fields by label, then the `extra.<key>` keys seen on recent
    leads (and any key a condition already uses), then the empty choice for tests that need no field."""
    lead_fields = sorted(((name, field_words(name)) for name in engine.FIELD_KINDS), key=lambda item: str(item[1]).casefold())
    keys: set[str] = set()
    for extra in Lead.objects.order_by("-id").values_list("extra", flat=True)[:recent_leads]:
        if isinstance(extra, dict):
            keys.update(str(key) for key in extra if str(key).strip())
    keys.update(name[len(engine.EXTRA_PREFIX) :] for name in current if name and name.startswith(engine.EXTRA_PREFIX))
    extras = [(f"{engine.EXTRA_PREFIX}{key}", key) for key in sorted(keys, key=str.casefold)]
    choices: list[tuple[str, object]] = [("", _("— no field (list, account, repeat or territory test) —")), (_("Lead fields"), lead_fields)]
    if extras:
        choices.append((_("Extra fields (seen on recent leads)"), extras))
    return choices


def field_options(*, recent_leads: int = 500) -> list[tuple[str, str]]:
    """The same choices flat, as (value, label) for the editor's datalist."""
    options: list[tuple[str, str]] = []
    for _group, label in field_choices(recent_leads=recent_leads):
        if isinstance(label, list):
            options.extend((v, str(field_words(v))) for v, _label in label)
    options.append((engine.EXTRA_PREFIX, _("Extra field: <key>")))
    return options


def condition_words(condition: RuleCondition) -> str:
    """One condition: "Job title has any of the words: student, praktykant", "Company size > 250"."""
    op = condition.operator
    Op = RuleCondition.Operator
    if op == Op.IN_DOMAIN_LIST:
        return _("E-mail domain is in the list: %(list)s") % {"list": condition.domain_list or "—"}
    if op == Op.IS_ACCOUNT:
        return _("E-mail domain belongs to an account")
    if op == Op.IS_REPEAT:
        return _("Repeat lead (the same e-mail or domain came before)")
    if op == Op.IN_TERRITORY:
        return _("In a territory")
    field = field_words(condition.field)
    if op in _SYMBOLS:
        return f"{field} {_SYMBOLS[op]} {condition.value.strip()}"
    if op in (Op.EMPTY, Op.NOT_EMPTY):
        return f"{field} {condition.get_operator_display()}"
    values = engine.split_values(condition.value)
    shown = ", ".join(values) if op in (Op.IN, Op.CONTAINS, Op.WORDS, Op.STARTS_WITH) else condition.value.strip()
    return f"{field} {condition.get_operator_display()}: {shown}"


def rule_when(rule: Rule) -> str:
    conditions = list(rule.conditions.all())
    if not conditions:
        return _("Every lead")
    joiner = " " + (_("and") if rule.match == "all" else _("or")) + " "
    return joiner.join(condition_words(c) for c in conditions)


def rule_target(rule: Rule) -> str:
    """ "Rep: Tomek Wiśniewski", "Pool: Demo", "Disqualify (nobody)"…: the name after a colon, never declined."""
    T = Rule.Target
    if rule.target == T.REP:
        return _("Rep: %(name)s") % {"name": rule.target_rep or "—"}
    if rule.target == T.POOL:
        return _("Pool: %(name)s") % {"name": rule.target_pool or "—"}
    return str(rule.get_target_display())


def _template_text(action: RuleAction) -> str:
    """The first line (the subject) of the action's message template, its tags taken out: what the person gets."""
    if not action.template:
        return ""
    if action.kind == RuleAction.Kind.EMAIL_LEAD:
        language = (get_language() or "en")[:2]
        names = [f"notifications/lead/{action.template}.{lang}.txt" for lang in dict.fromkeys((language, "en", "pl"))]
    else:
        names = [f"notifications/{action.template}.txt"]
    for name in names:
        try:
            source = get_template(name).template.source
        except (TemplateDoesNotExist, AttributeError):
            continue
        block = re.search(r"{%\s*blocktranslate[^%]*%}(.*?){%\s*endblocktranslate\s*%}", source, re.S)
        if block:  # the subject as the reader gets it: in the current language, placeholders shown as ‹name›
            msgid = re.sub(r"{{\s*(\w+)\s*}}", r"%(\1)s", block.group(1))
            return " ".join(re.sub(r"%\((\w+)\)s", r"‹\1›", _(msgid)).split())
        lines = [re.sub(r"{%\s*load [^%]*%}", "", line).strip() for line in source.splitlines()]
        first = next((line for line in lines if line), "")
        first = re.sub(r"{%\s*if is_critical\s*%}.*?{%\s*endif\s*%}", "", first)
        first = re.sub(r"{%.*?%}", "", first)
        first = re.sub(r"{{\s*([\w.]+)[^}]*}}", lambda m: "‹" + m.group(1).split(".")[-1] + "›", first)
        return " ".join(first.split())
    return ""


def action_words(action: RuleAction) -> str:
    """One action: "Notify — the owner (E-mail), template “account_lead”: New lead from your account: ‹who›"."""
    K = RuleAction.Kind
    kind = str(action.get_kind_display())
    parts: list[str] = []
    if action.kind == K.NOTIFY:
        who = action.recipient_rep.name if action.recipient == RuleAction.Recipient.REP and action.recipient_rep else action.get_recipient_display()
        parts.append(str(who or "—").lower() if who else "—")
        if action.channel:
            parts[-1] += f" ({action.channel})"
    elif action.kind == K.WEBHOOK and action.channel:
        parts.append(str(action.channel))
    if action.kind in (K.TASK, K.NOTE, K.TAG) and action.text:
        parts.append(_("“%(text)s”") % {"text": action.text})
    words = f"{kind}: {', '.join(parts)}" if parts else kind
    if action.template:
        text = _template_text(action)
        words += " — " + (
            _("template %(name)s: %(text)s") % {"name": action.template, "text": text} if text else _("template %(name)s") % {"name": action.template}
        )
    if (action.config or {}).get("priority"):
        words += " · " + _("priority: %(p)s") % {"p": action.config["priority"]}
    return words


def rule_also(rule: Rule) -> list[str]:
    return [action_words(action) for action in rule.actions.all()]
