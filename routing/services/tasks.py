"""The rep's day on a lead: tick a task off, and what came of a contact (the activity's outcome).

An activity's outcome is one of `Outcome` (conversation held, meeting booked, no answer, not interested,
disqualified), stored as its code at the start of `Activity.outcome` ("meeting_booked: Thursday 10:00") so that
reports can count it; `outcome_split` reads it back. "Disqualified" takes the lead out of the rep's open list:
`lead_disqualify_by_rep` sets its status and writes the event.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core.messages import message as _  # codes: rendered in the reader's language (docs/architecture.md)
from reps.models import Rep
from routing.models import Lead, LeadEvent, Task


class Outcome(models.TextChoices):
    CONVERSATION = "conversation", gettext_lazy("Conversation held")
    MEETING_BOOKED = "meeting_booked", gettext_lazy("Meeting booked")
    NO_ANSWER = "no_answer", gettext_lazy("No answer")
    NOT_INTERESTED = "not_interested", gettext_lazy("Not interested")
    DISQUALIFIED = "disqualified", gettext_lazy("Disqualified")


def outcome_text(*, outcome: str, note: str = "") -> str:
    """What goes into `Activity.outcome`: the code, then the rep's note ("no_answer: voicemail")."""
    note = (note or "").strip()
    if outcome and outcome not in Outcome.values:
        raise ValidationError({"outcome": _("Unknown outcome.")})
    text = f"{outcome}: {note}" if outcome and note else (outcome or note)
    return text[:2000]


def outcome_split(text: str) -> tuple[str, str]:
    """(outcome code or "", the note) of a stored `Activity.outcome`."""
    text = text or ""
    code, sep, rest = text.partition(":")
    if code in Outcome.values:
        return code, rest.strip()
    if text in Outcome.values:
        return text, ""
    return "", text


@transaction.atomic
def task_done(*, task: Task, by: Rep, now: datetime | None = None) -> Task:
    """Tick the task off (once: a second tick keeps the first time) and note it in the lead's history."""
    now = now or timezone.now()
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.done_at is None:
        task.done_at = now
        task.save(update_fields=["done_at"])
        LeadEvent.objects.create(lead_id=task.lead_id, type=LeadEvent.Type.ACTION, at=now, rep=by, detail=_("Task done: %(title)s") % {"title": task.title}, data={"task_id": task.pk, "done": True})
    return task


@transaction.atomic
def lead_disqualify_by_rep(*, lead: Lead, by: Rep, now: datetime, note: str = "") -> Lead:
    """The rep found the lead is not a fit: disqualified (off the open list, no more SLA steps), with an event."""
    lead = Lead.objects.select_for_update(of=("self",)).get(pk=lead.pk)
    if lead.status == Lead.Status.DISQUALIFIED:
        return lead
    lead.status = Lead.Status.DISQUALIFIED
    lead.sla_next_step_at = None
    lead.save(update_fields=["status", "sla_next_step_at"])
    detail = _("Disqualified by %(rep)s") % {"rep": by.name}
    if note.strip():
        detail += f": {note.strip()[:500]}"
    LeadEvent.objects.create(lead=lead, type=LeadEvent.Type.DISQUALIFIED, at=now, rep=by, detail=detail, data={"by_rep_id": by.pk, "outcome": Outcome.DISQUALIFIED})
    return lead
