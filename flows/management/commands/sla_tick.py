"""`python manage.py sla_tick [--now DATETIME]`: one SLA / escalation sweep, the same one django-q2 runs every minute."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from flows.services.sweep import sla_tick


def _instant(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"--now: {value!r} is not an ISO 8601 date and time (e.g. 2026-11-17T10:15:00+01:00)") from None
    if timezone.is_naive(at):
        raise CommandError(f"--now: {value!r} has no UTC offset; add one, e.g. +01:00 or Z")
    return at


class Command(BaseCommand):
    help = "Fire the SLA escalation steps that are due (reminders, reassignments, team-lead alerts) as of now or --now."

    def add_arguments(self, parser):
        parser.add_argument("--now", metavar="DATETIME", help="Sweep as of this moment: ISO 8601 with an offset. Default: the real now.")

    def handle(self, *args, now: str | None = None, **options):
        at = _instant(now) if now else timezone.now()
        fired = sla_tick(now=at)
        self.stdout.write(f"SLA sweep as of {at.isoformat()}: {fired} step(s) fired.")
