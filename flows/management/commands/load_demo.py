import logging
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError

from flows.demo import demo_load
from flows.demo_history import DEFAULT_SEED, MAX_DAYS, demo_history_load

# Per-message and per-sweep lines of the history's hundreds of leads; the command prints its own summary.
QUIET_LOGGERS = ("django-q", "flows.services.sweep", "flows.demo_history", "notifications")


@contextmanager
def _quiet():
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class Command(BaseCommand):
    help = "Load (or restore) the TechPol demo company. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="demo", help="Password of every demo user (default: demo)")
        parser.add_argument("--notify-url", default=None, help="Point every demo Slack / Teams / SMS / webhook channel at this URL")
        parser.add_argument(
            "--history",
            type=int,
            default=0,
            metavar="DAYS",
            help="Also take in realistic past leads of the last DAYS days through the real services (answers, breaches, escalations); "
            "leads already there are kept, not duplicated",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Random seed of the history (the same seed gives the same leads)")

    def handle(self, *args, password: str, notify_url: str | None, history: int, seed: int, **options):
        if history < 0 or history > MAX_DAYS:
            raise CommandError(f"--history must be between 0 and {MAX_DAYS} days")
        reps = demo_load(password=password, notify_url=notify_url)
        self.stdout.write(self.style.SUCCESS(f"TechPol demo loaded: {len(reps)} reps, manager login 'manager'."))
        if history:
            self.stdout.write(f"Taking in {history} days of demo history (the first time takes about a second per day)...")
            with _quiet():
                result = demo_history_load(days=history, seed=seed)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo history of {history} days: {result.created} leads taken in ({result.skipped} already there), "
                    f"{result.responses} first responses, {result.meetings} meetings, {result.sweeps} SLA sweeps, in {result.seconds:g} s."
                )
            )
