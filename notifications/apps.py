import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from notifications.delivery import UrlRedactingFilter

        # Webhook URLs carry their secret in the path; urllib3's DEBUG lines would print it.
        logger = logging.getLogger("urllib3.connectionpool")
        if not any(isinstance(f, UrlRedactingFilter) for f in logger.filters):
            logger.addFilter(UrlRedactingFilter())
