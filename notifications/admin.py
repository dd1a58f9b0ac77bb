"""Back office for channels and the outbox. Thin: forms and lists here, the work in services."""

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from notifications.delivery import SECRET_OPTION, DeliveryError, sms_request
from notifications.models import Channel, CompanyProfile, OutboxMessage
from notifications.services import channel_test_send, outbox_resend


def url_masked(url: str) -> str:
    """Scheme and host only: webhook URLs carry their secret in the path."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


class ChannelForm(forms.ModelForm):
    """The URL and the secret are write-only: the form never sends them back to the browser.
    Leaving a field empty keeps the stored value; tick "clear" to remove it."""

    url = forms.CharField(
        label=_("URL"),
        required=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
        help_text=_("Webhook or gateway URL (http or https). Leave empty to keep the current one; no URL: messages go out by e-mail."),
    )
    secret = forms.CharField(
        label=_("secret"),
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Webhooks: the HMAC key for the X-Leadrouter-Signature header. SMS: the auth header value. Leave empty to keep it."),
    )
    url_clear = forms.BooleanField(label=_("Remove the URL"), required=False)
    secret_clear = forms.BooleanField(label=_("Remove the secret"), required=False)

    class Meta:
        model = Channel
        fields = ["name", "kind", "url", "url_clear", "secret", "secret_clear", "config", "is_active"]
        help_texts = {
            "config": _(
                'Options as JSON. E-mail: {"from_email": ...}. Any channel without a URL: {"email": "where to send instead"}. '
                'Teams: {"card": "adaptive" or "messagecard"}. SMS: {"method": "POST", "body_template": "{\\"to\\": \\"{{ to }}\\", '
                '\\"text\\": \\"{{ text }}\\"}", "auth_header": "Authorization", "content_type": ..., "test_to": "+48..."}. '
                'Reps\' default channel of a kind: {"default": true}.'
            )
        }

    MASK = "••••••"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Secret-named options (api_key, token, ...) are shown masked, like the URL and the secret.
        stored = self.instance.config if self.instance.pk else None
        if isinstance(stored, dict) and not self.is_bound:
            self.initial["config"] = {k: (self.MASK if SECRET_OPTION.search(k) and v else v) for k, v in stored.items()}

    def clean_config(self) -> Any:  # any JSON; clean() refuses what is not an object
        config = self.cleaned_data.get("config")
        stored = self.instance.config if self.instance.pk and isinstance(self.instance.config, dict) else {}
        if isinstance(config, dict):
            config = {k: (stored.get(k, "") if v == self.MASK else v) for k, v in config.items()}  # unchanged mask: keep
        return config

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "").strip()
        if url:
            URLValidator(schemes=["http", "https"], message=_("Enter an http:// or https:// URL."))(url)
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in ("url", "secret"):
            if cleaned.get(f"{name}_clear"):
                cleaned[name] = ""
            elif not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)  # empty field: keep what is stored
        config = cleaned.get("config")
        if config is not None and not isinstance(config, dict):
            self.add_error("config", _("Options must be a JSON object, e.g. {}."))
        elif cleaned.get("kind") == Channel.Kind.SMS and config is not None:
            # Try the gateway request on a sample message, so a broken template fails here, not at 3 a.m.
            sample = Channel(name="sample", kind=Channel.Kind.SMS, url=cleaned.get("url") or "https://gateway.example/", config=config)
            try:
                sms_request(OutboxMessage(key="sample", channel=sample, recipient="+48600100100", payload={"title": 'Sample "text"'}))
            except DeliveryError as error:
                self.add_error("config", error.reason)
        return cleaned


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "destination", "has_secret", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    actions = ["test_message_send"]

    @admin.display(description=_("sends to"))
    def destination(self, channel: Channel) -> str:
        if channel.kind == Channel.Kind.EMAIL:
            return _("Django e-mail backend")
        return url_masked(channel.url) or _("no URL: by e-mail instead")

    @admin.display(description=_("secret set"), boolean=True)
    def has_secret(self, channel: Channel) -> bool:
        return bool(channel.secret)

    @admin.action(description=_("Send a test message"))
    def test_message_send(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        sent, skipped = 0, []
        for channel in queryset:
            if channel_test_send(channel=channel, requested_by=request.user.email or request.user.get_username()):
                sent += 1
            else:
                skipped.append(channel.name)
        if sent:
            self.message_user(
                request,
                ngettext("%(n)d test message queued: see the outbox.", "%(n)d test messages queued: see the outbox.", sent) % {"n": sent},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                _('No test for %(names)s: set "test_to" (a phone number) in the SMS channel\'s options.') % {"names": ", ".join(skipped)},
                messages.WARNING,
            )


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "status_badge", "channel", "recipient", "subject_short", "lead_link", "attempts", "next_attempt_at", "error_short"]
    list_filter = ["status", "channel__kind", "channel", "template", "created_at"]
    search_fields = ["key", "recipient", "subject", "lead__email"]
    date_hierarchy = "created_at"
    list_select_related = ["channel", "lead"]
    actions = ["send_again"]
    readonly_fields = [
        "key",
        "status",
        "channel",
        "lead_link",
        "recipient",
        "template",
        "subject",
        "body",
        "payload",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "retry_until",
        "claimed_at",
        "created_at",
        "sent_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages come from events, not from hand

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, message: OutboxMessage) -> SafeString:
        colour = {"sent": "#2e7d32", "failed": "#c62828", "sending": "#1565c0"}.get(message.status, "#6d6d6d")
        return format_html('<strong style="color:{}">{}</strong>', colour, message.get_status_display())

    @admin.display(description=_("subject"))
    def subject_short(self, message: OutboxMessage) -> str:
        return Truncator(message.subject).chars(60)

    @admin.display(description=_("last error"))
    def error_short(self, message: OutboxMessage) -> str:
        return Truncator(message.last_error).chars(80)

    @admin.display(description=_("lead"))
    def lead_link(self, message: OutboxMessage) -> str:
        if message.lead_id is None:
            return "—"
        try:
            url = reverse("admin:routing_lead_change", args=[message.lead_id])
        except NoReverseMatch:
            return f"#{message.lead_id}"
        return format_html('<a href="{}">#{}</a>', url, message.lead_id)

    @admin.action(description=_("Send again (failed and waiting messages)"), permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox_resend(messages=queryset)
        skipped = queryset.count() - count
        self.message_user(
            request,
            ngettext("%(n)d message queued again.", "%(n)d messages queued again.", count) % {"n": count}
            + (" " + _("%(n)d already sent or being sent: left alone, so nobody gets a message twice.") % {"n": skipped} if skipped else ""),
            messages.SUCCESS if count else messages.WARNING,
        )


class CompanyProfileForm(forms.ModelForm):
    website = forms.URLField(
        label=_("website"), required=False, max_length=300, assume_scheme="https", validators=[URLValidator(schemes=["http", "https"])]
    )

    class Meta:
        model = CompanyProfile
        fields = ["name", "website", "phone"]


@admin.register(CompanyProfile)
class CompanyProfileAdmin(admin.ModelAdmin):
    """One row: it can be added while there is none, and never deleted."""

    form = CompanyProfileForm
    fields = ["name", "website", "phone"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not CompanyProfile.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: CompanyProfile | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CompanyProfile, form: forms.ModelForm, change: bool) -> None:
        obj.pk = CompanyProfile.SINGLETON_ID  # the single row, whatever the form was opened as
        super().save_model(request, obj, form, change)
