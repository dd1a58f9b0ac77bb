from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FlowsConfig(AppConfig):
    """The top layer: flows that span apps (intake, activities, the SLA sweep, the routing setup, the API and pages)."""

    name = "flows"
    verbose_name = _("Lead flows")
