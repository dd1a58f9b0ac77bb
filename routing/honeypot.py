"""A honeypot for web forms: a hidden field that people leave empty and form-filling bots fill in.

An intake source may name one (IntakeSource.honeypot_field). A submission with that field filled in gets the
same kind of answer as a real one (201 and a lead's representation, status "unassigned") but nothing is
stored, routed, counted or notified, so a bot cannot tell it was caught. An empty honeypot field is dropped
before the lead is stored (it does not end up in `extra`).
"""

import logging

from django.utils import timezone
from django.utils.translation import gettext as _

from routing.models import IntakeSource, Lead

logger = logging.getLogger(__name__)


def honeypot_name_problem(name: str) -> str | None:
    """Why `name` cannot be a honeypot field (it is a real intake field), or None."""
    if name and name in {field.name for field in Lead._meta.get_fields()}:  # every intake field is a Lead field
        return _("%(name)s is a real lead field; choose a name the form does not otherwise send.") % {"name": name}
    return None


def honeypot_filled(source: IntakeSource, raw: dict) -> bool:
    name = source.honeypot_field
    if not name or name not in raw:
        return False
    value = raw[name]
    if isinstance(value, str):
        return bool(value.strip())
    return value not in (None, False, [], {})


def without_honeypot(source: IntakeSource, fields: dict) -> dict:
    if source.honeypot_field and isinstance(fields.get("extra"), dict):
        fields["extra"].pop(source.honeypot_field, None)
    return fields


def decoy_representation(source: IntakeSource, fields: dict) -> dict:
    """What a caught bot is shown: a plausible new lead, nobody's name in it, nothing stored."""
    from routing.selectors import lead_representation

    now = timezone.now()
    lead = Lead(status=Lead.Status.UNASSIGNED, submitted_at=fields.get("submitted_at") or now, received_at=now, score=0)
    logger.info("honeypot field filled: submission dropped")
    data = lead_representation(lead, preview=True)
    data["events"] = [{"type": "received", "at": now.isoformat(), "rep": None, "detail": _("via %(source)s") % {"source": source.name}}]  # as a real lead's
    return data
