from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from routing.services.intake import intake_source_create


class Command(BaseCommand):
    help = "Create an intake source and print its API token (shown once, as the last line)."

    def add_arguments(self, parser):
        parser.add_argument("name", help='The source\'s name, e.g. "Website form" or "Zapier"')
        parser.add_argument(
            "--reads-all-leads", action="store_true", help="Let this token read and log activities on every source's leads (a CRM sync)"
        )

    def handle(self, *args, name: str, reads_all_leads: bool, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("The name must be 1 to 100 characters.")
        try:
            source, token = intake_source_create(name=name, reads_all_leads=reads_all_leads)
        except IntegrityError as exc:
            raise CommandError(f'An intake source named "{name}" already exists; revoke it in the admin or choose another name.') from exc
        self.stdout.write(f'Intake source "{source.name}" created. Its token is shown once; keep it safe:')
        self.stdout.write(token)
