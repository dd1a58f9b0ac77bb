from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("Leads and routing")

    def ready(self):
        from django.db.models.signals import post_migrate

        from routing.roles import sync_roles_after_migrate

        # Once per migrate run, after every app's permissions exist (dispatch_uid: connected once).
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="leadrouter-sync-roles")
