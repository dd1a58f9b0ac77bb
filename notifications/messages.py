"""Message text from Django templates: the subject is the template's first non-empty line, the body the rest.

Internal messages (to reps, channels, tools) live in ``notifications/templates/notifications/<name>.txt``
and are written in English with ``{% translate %}``, rendered in ``settings.LANGUAGE_CODE`` (a message to one rep:
in the rep's own language and time zone when the rep set them, `Rep.notify_language` / `notify_time_zone`). Messages to
the lead live in ``notifications/templates/notifications/lead/<name>.<language>.txt`` (pl, en, de), chosen by
``lead.language`` with the site's language (``LANGUAGE_CODE``) as the fallback, and rendered wholly in the
language of the file chosen (subject, body, signature, dates), never a mix. An unknown template name falls back
to a generic one, so a typo in an action never stops intake.
"""

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.template import Context, TemplateDoesNotExist
from django.template.loader import select_template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from routing.models import Lead, Priority
from routing.selectors import lead_language
from sla.selectors import opening_label

logger = logging.getLogger(__name__)

GENERIC_INTERNAL = "notify"
GENERIC_LEAD = "autoresponse"
# Back-office addresses: never in a message to a prospect (who would get a link to our admin).
BACK_OFFICE_KEYS = ("site_url", "lead_url")


@dataclass(frozen=True)
class Composed:
    subject: str
    body: str
    template: str  # the template file actually used


def site_url() -> str:
    return settings.SITE_URL.rstrip("/")


def lead_url(lead: Lead) -> str:
    """Absolute link to the lead in the back office."""
    try:
        path = reverse("admin:routing_lead_change", args=[lead.pk])
    except NoReverseMatch:  # the lead admin is registered by flows; keep a working link without it
        path = f"/admin/routing/lead/{lead.pk}/change/"
    return site_url() + path


def rep_lead_url(lead: Lead) -> str:
    """Absolute link to the lead on the rep's own page (/my-leads/<id>/): reps do not use the admin."""
    try:
        path = reverse("my-lead", args=[lead.pk])
    except NoReverseMatch:  # the reps' pages are flows'; keep a working link without them
        path = f"/my-leads/{lead.pk}/"
    return site_url() + path


def priority_label(priority: str | None) -> str:
    if not priority:
        return ""
    try:
        return str(Priority(priority).label)
    except ValueError:
        return priority


def lead_display_fields(lead: Lead) -> list[tuple[str, str]]:
    """The lead's main fields as (label, value) pairs to show on Slack / Teams cards; empty ones left out.
    (Not routing's `lead_facts`, what the engine knows about a lead.)"""
    facts = [
        (translation.gettext("Name"), lead.full_name),
        (translation.gettext("Company"), lead.company),
        (translation.gettext("E-mail"), lead.email),
        (translation.gettext("Phone"), lead.phone),
        (translation.gettext("Job title"), lead.job_title),
        (translation.gettext("Company size"), "" if lead.company_size is None else str(lead.company_size)),
        (translation.gettext("Industry"), lead.industry),
        (translation.gettext("Region"), ", ".join(part for part in (lead.city, lead.region, lead.postal_code) if part)),
        (translation.gettext("Source"), lead.source),
        (translation.gettext("Priority"), priority_label(lead.priority)),
        (translation.gettext("Owner"), str(lead.owner) if lead.owner_id else ""),
    ]
    return [(label, value) for label, value in facts if value]


def lead_context(lead: Lead, **extra: object) -> dict:
    """What every message template gets: the lead, its links, owner, rule and priority, plus `extra`."""
    priority = extra.pop("priority", None) or lead.priority
    return {
        "lead": lead,
        "lead_url": lead_url(lead),
        "site_url": site_url(),
        "owner": lead.owner if lead.owner_id else None,
        "rule": lead.rule if lead.rule_id else None,
        "priority": priority,
        # Called by the template engine at render time, so in the message's language, not the caller's.
        "priority_label": lambda: priority_label(priority),
        "is_critical": priority == Priority.CRITICAL,
        **extra,
    }


def _render(candidates: list[str], context: dict) -> Composed:
    template = select_template(candidates)
    # Plain text: no HTML escaping (the Slack/Teams formatters escape for their own markup).
    text = template.template.render(Context(context, autoescape=False))
    lines = text.strip().splitlines()
    subject = lines[0].strip() if lines else ""
    body = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", "\n".join(line.rstrip() for line in lines[1:])).strip()
    return Composed(subject=subject[:300], body=body, template=template.template.name)


def internal_compose(name: str, context: dict, *, language: str | None = None, time_zone: str | None = None) -> Composed:
    """A message to reps, channels or tools, in `language` (a rep's own, else the site's) with times in
    `time_zone` (else the site's)."""
    candidates = [f"notifications/{name}.txt"] if name else []
    if name and not _exists(candidates):
        logger.warning("notification template %r not found; the generic one was used", name)
    with translation.override(language or settings.LANGUAGE_CODE), timezone.override(time_zone or settings.TIME_ZONE):
        return _render(candidates + [f"notifications/{GENERIC_INTERNAL}.txt"], context)


def lead_compose(name: str, lead: Lead, context: dict) -> Composed:
    """A message to the lead, in the lead's language when we have it (else English), signed with the
    company profile (`company_profile` in the template) and without any back-office link."""
    from notifications.selectors import company_profile

    context = {key: value for key, value in context.items() if key not in BACK_OFFICE_KEYS}
    context["company_profile"] = company_profile()
    language = lead_language(lead)
    languages = list(dict.fromkeys((language, settings.LANGUAGE_CODE, "en", "pl")))
    names = [name, GENERIC_LEAD] if name else [GENERIC_LEAD]
    candidates = [f"notifications/lead/{n}.{lang}.txt" for n in names for lang in languages]
    if name and not _exists(candidates[: len(languages)]):
        logger.warning("lead template %r not found; the generic one was used", name)
    # The language of the file found (the lead's, else the site's): the whole message is written in it.
    chosen = select_template(candidates).template.name.rsplit(".", 2)[-2]
    if chosen != language and context.get("opens_at") is not None:
        context["opens_label"] = opening_label(opens_at=context["opens_at"], now=timezone.now(), language=chosen)
    with translation.override(chosen):
        return _render(candidates, context)


def _exists(candidates: list[str]) -> bool:
    try:
        select_template(candidates)
    except TemplateDoesNotExist:
        return False
    return True
