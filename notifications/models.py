from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.Model):
    """Where a message goes: e-mail, Slack, Teams, an SMS gateway or a generic webhook."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SLACK = "slack", _("Slack incoming webhook")
        TEAMS = "teams", _("Microsoft Teams webhook")
        SMS = "sms", _("SMS gateway (HTTP)")
        WEBHOOK = "webhook", _("Generic JSON webhook")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    url = models.URLField(
        _("URL"),
        max_length=1000,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("Secret: never shown in logs. Empty: messages go out by e-mail instead"),
    )
    secret = models.CharField(_("secret"), max_length=500, blank=True, help_text=_("HMAC key or auth header value"))
    config = models.JSONField(_("options"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Moves on every save (the admin saves it with its inlines): the version of the intake's cached copy.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")

    def __str__(self) -> str:
        return self.name


class OutboxMessage(models.Model):
    """One message to send, written with the event that caused it and sent after commit."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    key = models.CharField(max_length=255, unique=True, help_text="lead:event:channel:recipient")
    template = models.CharField(_("template"), max_length=100, blank=True)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, null=True, blank=True, related_name="messages", verbose_name=_("channel"))
    lead = models.ForeignKey("routing.Lead", on_delete=models.CASCADE, null=True, blank=True, related_name="messages")
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("body"), blank=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True, db_index=True)
    retry_until = models.DateTimeField(
        _("retry until"), null=True, blank=True, help_text=_("Temporary failures are retried until then; set by the first failure")
    )
    last_error = models.TextField(_("last error"), blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    # Set when a worker claims the row (pending -> sending); the sweep recovers rows whose worker died.
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_status_next_attempt"),
            models.Index(fields=["status", "claimed_at"], name="outbox_status_claimed"),
        ]

    def __str__(self) -> str:
        return self.key


class CompanyProfile(models.Model):
    """Who the company is to its prospects: messages to leads are signed with it (one row, set in the admin).

    Never the back office's own address: a prospect gets the company's website, not a link to the admin."""

    SINGLETON_ID = 1

    name = models.CharField(_("company name"), max_length=200, blank=True, help_text=_("As prospects know it, e.g. TechPol"))
    website = models.URLField(_("website"), max_length=300, blank=True, validators=[URLValidator(schemes=["http", "https"])])
    phone = models.CharField(_("phone"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("company profile")
        verbose_name_plural = _("company profile")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="company_profile_single_row")]

    def __str__(self) -> str:
        return self.name or str(_("company profile"))
