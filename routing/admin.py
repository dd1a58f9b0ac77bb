from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from routing import admin_audit, admin_rules, admin_score  # noqa: F401  (rules, conditions, actions, versions; the audit trail; score rules)
from routing.models import Activity, IntakeSource, LeadEvent, Tag, Task
from routing.services.intake import intake_source_create, intake_source_revoke, intake_source_rotate


@admin.register(IntakeSource)
class IntakeSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "token_prefix", "reads_all_leads", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke", "rotate"]

    def get_fields(self, request: HttpRequest, obj: IntakeSource | None = None) -> list[str]:
        if obj is None:
            return ["name", "reads_all_leads", "honeypot_field"]
        return ["name", "reads_all_leads", "honeypot_field", "token_prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: IntakeSource, form: forms.ModelForm, change: bool) -> None:
        if change:
            obj.save(update_fields=["name", "reads_all_leads", "honeypot_field"])
            return
        source, token = intake_source_create(name=obj.name, reads_all_leads=obj.reads_all_leads, honeypot_field=obj.honeypot_field)
        obj.pk, obj.token_hash, obj.token_prefix = source.pk, source.token_hash, source.token_prefix
        obj._state.adding = False
        messages.warning(request, format_html(_("Token for {}: <code>{}</code> — copy it now, it is shown only once."), source.name, token))

    @admin.action(description=_("Revoke the token of the selected sources"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[IntakeSource]) -> None:
        for source in queryset:
            intake_source_revoke(source=source)
        self.message_user(request, _("Revoked."), messages.SUCCESS)

    @admin.action(description=_("Issue a new token (the old one stops working)"))
    def rotate(self, request: HttpRequest, queryset: QuerySet[IntakeSource]) -> None:
        for source in queryset:
            token = intake_source_rotate(source=source)
            messages.warning(request, format_html(_("New token for {}: <code>{}</code> — shown only once."), source.name, token))


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "lead", "assignee", "due_at", "done_at"]
    list_filter = ["assignee", ("done_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "lead__email"]
    raw_id_fields = ["lead"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["at", "kind", "lead", "rep", "outcome"]
    list_filter = ["kind", "rep"]
    search_fields = ["lead__email", "outcome"]
    raw_id_fields = ["lead"]


@admin.register(LeadEvent)
class LeadEventAdmin(admin.ModelAdmin):
    """The whole history across leads, read-only: the event log is append-only."""

    list_display = ["at", "type", "lead", "rep", "detail"]
    list_filter = ["type", "rep"]
    search_fields = ["lead__email", "detail"]
    date_hierarchy = "at"
    list_select_related = ["lead", "rep"]
    raw_id_fields = ["lead"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LeadEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LeadEvent | None = None) -> bool:
        return False
