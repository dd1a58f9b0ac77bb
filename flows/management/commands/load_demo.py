from django.core.management.base import BaseCommand

from flows.demo import demo_load


class Command(BaseCommand):
    help = "Load (or restore) the TechPol demo company. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="demo", help="Password of every demo user (default: demo)")
        parser.add_argument("--notify-url", default=None, help="Point every demo Slack / Teams / SMS / webhook channel at this URL")

    def handle(self, *args, password: str, notify_url: str | None, **options):
        reps = demo_load(password=password, notify_url=notify_url)
        self.stdout.write(self.style.SUCCESS(f"TechPol demo loaded: {len(reps)} reps, manager login 'manager'."))
