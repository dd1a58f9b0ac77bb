"""Admin pages that span apps: the lead (routing, SLA state and escalation steps, activities, tasks) and
"Test a lead" on the rule table (routing preview plus the SLA terms the lead would get; stores nothing)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from flows.selectors import lead_preview
from routing import admin_rules
from routing.models import Activity, Lead, LeadEvent, Rule, Task
from routing.services.intake import lead_normalise
from sla.admin import SlaStateFilter, StepFiringInline
from sla.selectors import lead_sla_state


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

# --------------------------------------------------------------------------------------------------
# Test a lead: the rule table's preview with the SLA terms (routing + sla)


class TestLeadForm(forms.Form):
    """The lead fields of the intake API; nothing is stored."""

    email = forms.EmailField(label=_("e-mail"), max_length=254)
    first_name = forms.CharField(label=_("first name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("last name"), max_length=100, required=False)
    company = forms.CharField(label=_("company"), max_length=200, required=False)
    job_title = forms.CharField(label=_("job title"), max_length=200, required=False)
    phone = forms.CharField(label=_("phone"), max_length=32, required=False)
    company_size = forms.IntegerField(label=_("company size"), min_value=0, required=False)
    industry = forms.CharField(label=_("industry"), max_length=100, required=False)
    region = forms.CharField(label=_("region"), max_length=100, required=False)
    city = forms.CharField(label=_("city"), max_length=100, required=False)
    postal_code = forms.CharField(label=_("postal code"), max_length=16, required=False)
    country = forms.CharField(label=_("country"), max_length=2, initial="PL")
    language = forms.CharField(label=_("language"), max_length=2, initial="pl")
    source = forms.SlugField(label=_("source"), max_length=64, required=False, help_text="demo_request, webinar, report_download, newsletter, contact_form…")
    message = forms.CharField(label=_("message"), max_length=10_000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    extra = forms.CharField(
        label=_("extra fields"), required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text=_('A JSON object, e.g. {"budget": 50000}')
    )

    def clean_extra(self):
        raw = (self.cleaned_data.get("extra") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise ValidationError(_('Give a JSON object, e.g. {"budget": 50000}.'))
        return value

    def clean_country(self):
        return self.cleaned_data["country"].strip().upper()

    def clean_language(self):
        return self.cleaned_data["language"].strip().lower()

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        local, _at, domain = email.rpartition("@")
        return f"{local}@{domain.lower()}"

    def lead(self, *, now) -> Lead:
        data = {name: value for name, value in self.cleaned_data.items() if value not in (None, "") or name == "extra"}
        for name in ("first_name", "last_name", "company", "job_title", "phone", "industry", "region", "city", "postal_code", "source", "message"):
            data.setdefault(name, "")
        return lead_normalise(Lead(submitted_at=now, **data))


class RuleAdmin(admin_rules.RuleAdmin):
    """The rule table's admin with the "Test a lead" page."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("test-lead/", view(self.test_lead_view), name="routing_rule_test_lead"), *super().get_urls()]

    # Test a lead ------------------------------------------------------------------------------

    def test_lead_view(self, request):
        form = TestLeadForm(request.POST or None)
        lead = terms = None
        if request.method == "POST" and form.is_valid():
            now = timezone.now()
            lead = form.lead(now=now)
            terms = lead_preview(lead=lead, now=now)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Test a lead"),
            "form": form,
            "lead": lead,
            "terms": terms,
            "changelist_url": reverse("admin:routing_rule_changelist"),
        }
        return TemplateResponse(request, "admin/routing/test_lead.html", context)


admin.site.unregister(Rule)
admin.site.register(Rule, RuleAdmin)
