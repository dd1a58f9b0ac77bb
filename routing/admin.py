from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from routing import admin_rules  # noqa: F401  (rules, conditions, actions, "Test a lead")
from routing.models import Activity, IntakeSource, Lead, LeadEvent, Tag, Task
from routing.services.intake import intake_source_create, intake_source_revoke, intake_source_rotate
from sla.admin import SlaStateFilter, StepFiringInline
from sla.selectors import lead_sla_state


@admin.register(IntakeSource)
class IntakeSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "token_prefix", "reads_all_leads", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke", "rotate"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "reads_all_leads", "honeypot_field"]
        return ["name", "reads_all_leads", "honeypot_field", "token_prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "reads_all_leads", "honeypot_field"])
            return
        source, token = intake_source_create(name=obj.name, reads_all_leads=obj.reads_all_leads, honeypot_field=obj.honeypot_field)
        obj.pk, obj.token_hash, obj.token_prefix = source.pk, source.token_hash, source.token_prefix
        obj._state.adding = False
        messages.warning(request, format_html(_("Token for {}: <code>{}</code> — copy it now, it is shown only once."), source.name, token))

    @admin.action(description=_("Revoke the token of the selected sources"))
    def revoke(self, request, queryset):
        for source in queryset:
            intake_source_revoke(source=source)
        self.message_user(request, _("Revoked."), messages.SUCCESS)

    @admin.action(description=_("Issue a new token (the old one stops working)"))
    def rotate(self, request, queryset):
        for source in queryset:
            token = intake_source_rotate(source=source)
            messages.warning(request, format_html(_("New token for {}: <code>{}</code> — shown only once."), source.name, token))


class LeadEventInline(admin.TabularInline):
    model = LeadEvent
    fields = ["at", "type", "rep", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("History")

    def has_add_permission(self, request, obj=None):
        return False


class ActivityInline(admin.TabularInline):
    model = Activity
    fields = ["at", "kind", "rep", "outcome"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class TaskInline(admin.TabularInline):
    model = Task
    fields = ["title", "assignee", "due_at", "done_at"]
    extra = 0


SLA_STATES = {
    "breached": (_("Breached"), "#c62828"),
    "due_soon": (_("Due within 15 minutes"), "#ef6c00"),
    "running": (_("Running"), "#2e7d32"),
    "met": (_("Met"), "#2e7d32"),
}


class RuleFilter(admin.SimpleListFilter):
    """Leads by the rule that routed them, across published versions (the same rule shares a lineage)."""

    title = _("rule")
    parameter_name = "rule_lineage"

    def lookups(self, request, model_admin):
        from routing.models import Rule

        return [(str(rule.lineage), rule.name) for rule in Rule.objects.order_by("position", "id")]

    def queryset(self, request, queryset):
        if self.value():
            try:
                return queryset.filter(rule__lineage=self.value())
            except ValidationError:
                return queryset.none()
        return queryset


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "company", "status", "owner", "rule", "priority_badge", "sla_due_at", "sla_state", "first_response_at", "received_at"]
    list_display_links = ["id", "email"]
    list_filter = ["status", "priority", "needs_attention", SlaStateFilter, "owner", RuleFilter, "source", "intake_source", "tags"]
    search_fields = ["email", "company", "first_name", "last_name", "phone", "external_id"]
    date_hierarchy = "received_at"
    list_select_related = ["owner", "rule"]
    inlines = [LeadEventInline, StepFiringInline, ActivityInline, TaskInline]
    filter_horizontal = ["tags"]
    fieldsets = [
        (_("Routing"), {"fields": ["status", "owner", "rule", "pool", "needs_attention", "why"]}),
        (_("SLA"), {"fields": ["priority", "sla_policy", "sla_state", "submitted_at", "received_at", "assigned_at", "sla_due_at", "first_response_at", "speed"]}),
        (_("Person"), {"fields": ["email", "first_name", "last_name", "job_title", "phone", "company", "company_size", "industry"]}),
        (_("Where and how"), {"fields": ["city", "region", "postal_code", "country", "language", "source", "intake_source", "external_id", "message", "extra"]}),
        (_("Tags"), {"fields": ["tags"]}),
    ]
    readonly_fields = [
        "status", "owner", "rule", "pool", "needs_attention", "why", "priority", "sla_policy", "sla_state", "submitted_at", "received_at", "assigned_at",
        "sla_due_at", "first_response_at", "speed", "email", "first_name", "last_name", "job_title", "phone", "company", "company_size",
        "industry", "city", "region", "postal_code", "country", "language", "source", "intake_source", "external_id", "message", "extra",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False  # leads come in through the intake API

    @admin.display(description=_("Priority"), ordering="priority")
    def priority_badge(self, lead):
        colours = {"critical": "#c62828", "medium": "#ef6c00", "low": "#98a2b3"}
        if not lead.priority:
            return "—"
        return format_html('<span style="background:{};color:#fff;padding:0 .4em;border-radius:3px">{}</span>', colours[lead.priority], lead.get_priority_display())

    @admin.display(description=_("SLA state"))
    def sla_state(self, lead):
        state = lead_sla_state(lead=lead, now=timezone.now())
        if not state:
            return "—"
        label, colour = SLA_STATES[state]
        return format_html('<span style="color:{};font-weight:600">{}</span>', colour, label)

    @admin.display(description=_("Why"))
    def why(self, lead):
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((line,) for line in lead.explanation or [])))

    @admin.display(description=_("Speed to lead"))
    def speed(self, lead):
        parts = []
        if lead.system_delay_seconds is not None:
            parts.append(_("system: %(s)d s") % {"s": lead.system_delay_seconds})
        if lead.rep_delay_seconds is not None:
            parts.append(_("rep: %(m)d min") % {"m": lead.rep_delay_seconds // 60})
        if lead.rep_delay_business_minutes is not None:
            parts.append(_("(%(m)d business min)") % {"m": lead.rep_delay_business_minutes})
        return " · ".join(str(p) for p in parts) or "—"


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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
