"""Admin pages that span apps: the lead (routing, SLA state and escalation steps, activities, tasks) and
"Test a lead" on the rule table (routing preview plus the SLA terms the lead would get; stores nothing)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.scoring import breakdown_lines
from flows.selectors import lead_preview
from flows.services.leads import ActivityRefused, activity_log
from flows.services.reassign import lead_reassign, lead_reroute, lead_rescue
from reps.models import Pool, Rep
from routing import admin_rules, rule_words
from routing.models import Activity, Lead, LeadEvent, Priority, Rule, Task
from routing.selectors import event_detail, explanation_lines
from routing.services.intake import lead_normalise
from sla.admin import SlaStateFilter, StepFiringInline
from sla.selectors import lead_sla_state


class _StepFiringInline(StepFiringInline):
    template = "admin/edit_inline/tabular_no_title.html"


class LeadEventInline(admin.TabularInline):
    template = "admin/edit_inline/tabular_no_title.html"  # times shown once, in the site's time zone
    model = LeadEvent
    fields = ["at", "type", "rep", "detail_shown"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("History")

    @admin.display(description=_("detail"))
    def detail_shown(self, event: LeadEvent) -> str:
        return event_detail(event)  # in the manager's language

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ActivityInline(admin.TabularInline):
    template = "admin/edit_inline/tabular_no_title.html"  # times shown once, in the site's time zone
    model = Activity
    fields = ["at", "kind", "rep", "outcome"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class TaskInline(admin.TabularInline):
    template = "admin/edit_inline/tabular_no_title.html"  # times shown once, in the site's time zone
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

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(rule.lineage), rule.name) for rule in Rule.objects.order_by("position", "id")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            try:
                return queryset.filter(rule__lineage=self.value())
            except ValidationError:
                return queryset.none()
        return queryset


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    # Fits 1400 px: the deadline and first response are on the lead's page; the SLA state says what matters here,
    # under the priority; the company under the e-mail.
    list_display = ["id", "email_company", "status", "owner", "rule", "score", "sla_summary", "received_at"]
    list_display_links = ["id", "email_company"]
    list_filter = ["status", "priority", "needs_attention", SlaStateFilter, "owner", RuleFilter, "source", "intake_source", "tags"]
    search_fields = ["email", "company", "first_name", "last_name", "phone", "external_id"]
    date_hierarchy = "received_at"
    list_select_related = ["owner", "rule"]
    inlines = [LeadEventInline, _StepFiringInline, ActivityInline, TaskInline]
    filter_horizontal = ["tags"]
    fieldsets = [
        (_("Routing"), {"fields": ["status", "owner", "rule", "pool", "needs_attention", "why", "score", "score_why"]}),
        (
            _("SLA"),
            {"fields": ["priority", "sla_policy", "sla_state", "submitted_at", "received_at", "assigned_at", "sla_due_at", "first_response_at", "speed"]},
        ),
        (_("Person"), {"fields": ["email", "first_name", "last_name", "job_title", "phone", "company", "company_size", "industry"]}),
        (
            _("Where and how"),
            {"fields": ["city", "region", "postal_code", "country", "language", "source", "intake_source", "external_id", "message", "extra"]},
        ),
        (_("Tags"), {"fields": ["tags"]}),
    ]
    readonly_fields = [
        "status", "owner", "rule", "pool", "needs_attention", "why", "score", "score_why", "priority", "sla_policy", "sla_state", "submitted_at", "received_at", "assigned_at",
        "sla_due_at", "first_response_at", "speed", "email", "first_name", "last_name", "job_title", "phone", "company", "company_size",
        "industry", "city", "region", "postal_code", "country", "language", "source", "intake_source", "external_id", "message", "extra",
    ]  # fmt: skip

    actions = ["reassign_action", "reroute_action", "rescue_action"]
    change_form_template = "admin/routing/lead/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # leads come in through the intake API

    # The manager's hand: reassign, re-route, rescue (list actions with a form), log an activity ------

    def get_urls(self) -> list[URLPattern | URLResolver]:
        view = self.admin_site.admin_view
        return [
            path("<int:lead_id>/hand/<str:what>/", view(self.hand_view), name="routing_lead_hand"),
            path("<int:lead_id>/log-activity/", view(self.log_activity_view), name="routing_lead_log_activity"),
            *super().get_urls(),
        ]

    def _hand(self, request: HttpRequest, queryset: QuerySet[Lead], what: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        leads = list(queryset.select_related("owner").order_by("id"))
        form = HandForm(request.POST if "apply" in request.POST else None, what=what)
        if form.is_valid():
            now = timezone.now()
            done, refused = 0, []
            for lead in leads:
                try:
                    if what == "reassign":
                        lead_reassign(
                            lead=lead,
                            to_rep=form.cleaned_data.get("to_rep"),
                            to_pool=form.cleaned_data.get("to_pool"),
                            by=request.user,
                            reason=form.cleaned_data["reason"],
                            now=now,
                        )
                    elif what == "reroute":
                        lead_reroute(lead=lead, by=request.user, reason=form.cleaned_data["reason"], now=now)
                    else:
                        lead_rescue(lead=lead, to_rep=form.cleaned_data.get("to_rep"), by=request.user, reason=form.cleaned_data["reason"], now=now)
                    done += 1
                except ValidationError as exc:
                    refused.append(f"{lead}: {' '.join(exc.messages)}")
            if done:
                self.message_user(request, _("Done for %(n)d lead(s).") % {"n": done}, messages.SUCCESS)
            for line in refused:
                self.message_user(request, line, messages.ERROR)
            return None
        titles = {"reassign": _("Reassign leads"), "reroute": _("Re-route leads through the current rules"), "rescue": _("Rescue disqualified leads")}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": titles[what],
            "leads": leads,
            "form": form,
            "what": what,
            "action": request.POST.get("action", f"{what}_action"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/routing/lead/hand.html", context)

    @admin.action(description=_("Reassign to a rep or a pool…"), permissions=["change"])
    def reassign_action(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._hand(request, queryset, "reassign")

    @admin.action(description=_("Re-route through the current rules…"), permissions=["change"])
    def reroute_action(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._hand(request, queryset, "reroute")

    @admin.action(description=_("Rescue disqualified leads…"), permissions=["change"])
    def rescue_action(self, request: HttpRequest, queryset: QuerySet[Lead]) -> HttpResponse:
        return self._hand(request, queryset, "rescue")

    def hand_view(self, request: HttpRequest, lead_id: int, what: str) -> HttpResponse:
        """The same forms for one lead, from its page."""
        if what not in ("reassign", "reroute", "rescue"):
            raise PermissionDenied
        queryset = Lead.objects.filter(pk=lead_id)
        response = self._hand(request, queryset, what)
        return response or redirect("admin:routing_lead_change", lead_id)

    def log_activity_view(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        lead = get_object_or_404(Lead.objects.select_related("owner"), pk=lead_id)
        form = LogActivityForm(request.POST or None, initial={"rep": lead.owner_id, "at": timezone.localtime().replace(second=0, microsecond=0)})
        if request.method == "POST" and form.is_valid():
            rep = form.cleaned_data["rep"]
            try:
                activity_log(
                    lead=lead,
                    kind=form.cleaned_data["kind"],
                    at=form.cleaned_data["at"],
                    rep_email=rep.email if rep else None,
                    outcome=form.cleaned_data["outcome"],
                )
            except ActivityRefused as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                self.message_user(request, _("Activity logged."), messages.SUCCESS)
                return redirect("admin:routing_lead_change", lead.pk)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Log an activity"), "lead": lead, "form": form}
        return TemplateResponse(request, "admin/routing/lead/log_activity.html", context)

    @admin.display(description=_("Priority"), ordering="priority")
    def priority_badge(self, lead: Lead) -> str:
        colours = {"critical": "#c62828", "medium": "#ef6c00", "low": "#98a2b3"}
        if not lead.priority:
            return "—"
        return format_html(
            '<span style="background:{};color:#fff;padding:0 .4em;border-radius:3px">{}</span>', colours[lead.priority], lead.get_priority_display()
        )

    @admin.display(description=_("E-mail and company"), ordering="email")
    def email_company(self, lead: Lead) -> str:
        if not lead.company:
            return lead.email
        return format_html('{}<div class="company">{}</div>', lead.email, lead.company)

    @admin.display(description=_("SLA"), ordering="priority")
    def sla_summary(self, lead: Lead) -> str:
        """The priority, and the SLA state under it."""
        return format_html("{}<div>{}</div>", self.priority_badge(lead), self.sla_state(lead))

    @admin.display(description=_("SLA state"))
    def sla_state(self, lead: Lead) -> str:
        state = lead_sla_state(lead=lead, now=timezone.now())
        if not state:
            return "—"
        label, colour = SLA_STATES[state]
        return format_html('<span style="color:{};font-weight:600">{}</span>', colour, label)

    @admin.display(description=_("Why"))
    def why(self, lead: Lead) -> str:
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((line,) for line in explanation_lines(lead))))

    @admin.display(description=_("Score breakdown"))
    def score_why(self, lead: Lead) -> str:
        lines = breakdown_lines(lead.score_breakdown)
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((line,) for line in lines))) if lines else "—"

    @admin.display(description=_("Speed to lead"))
    def speed(self, lead: Lead) -> str:
        parts = []
        if lead.system_delay_seconds is not None:
            parts.append(_("system: %(s)d s") % {"s": lead.system_delay_seconds})
        if lead.rep_delay_seconds is not None:
            parts.append(_("rep: %(m)d min") % {"m": lead.rep_delay_seconds // 60})
        if lead.rep_delay_business_minutes is not None:
            parts.append(_("(%(m)d business min)") % {"m": lead.rep_delay_business_minutes})
        return " · ".join(str(p) for p in parts) or "—"


class HandForm(forms.Form):
    """Where the lead goes and why (the reason is shown to the new owner and in the history)."""

    to_rep = forms.ModelChoiceField(label=_("to rep"), queryset=Rep.objects.filter(is_active=True).order_by("name"), required=False)
    to_pool = forms.ModelChoiceField(label=_("or back into a pool (its next rep in turn)"), queryset=Pool.objects.order_by("name"), required=False)
    reason = forms.CharField(label=_("reason"), max_length=500, widget=forms.TextInput(attrs={"size": 60}))

    def __init__(self, *args: Any, what: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.what = what
        if what != "reassign":
            del self.fields["to_pool"]
        if what == "reroute":
            del self.fields["to_rep"]
        elif what == "rescue":
            self.fields["to_rep"].label = _("to rep (empty: back through routing)")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.what == "reassign" and (cleaned.get("to_rep") is None) == (cleaned.get("to_pool") is None):
            raise ValidationError(_("Choose either a rep or a pool."))
        return cleaned


class LogActivityForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=Activity.Kind.choices)
    rep = forms.ModelChoiceField(label=_("rep"), queryset=Rep.objects.order_by("name"), required=False, help_text=_("Empty: the lead's owner"))
    at = forms.DateTimeField(label=_("at"))
    outcome = forms.CharField(label=_("outcome"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


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

    def clean_extra(self) -> dict[str, Any]:
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

    def clean_country(self) -> str:
        return self.cleaned_data["country"].strip().upper()

    def clean_language(self) -> str:
        return self.cleaned_data["language"].strip().lower()

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        local, _at, domain = email.rpartition("@")
        return f"{local}@{domain.lower()}"

    def lead(self, *, now: datetime) -> Lead:
        data = {name: value for name, value in self.cleaned_data.items() if value not in (None, "") or name == "extra"}
        for name in ("first_name", "last_name", "company", "job_title", "phone", "industry", "region", "city", "postal_code", "source", "message"):
            data.setdefault(name, "")
        return lead_normalise(Lead(submitted_at=now, **data))


class RuleAdmin(admin_rules.RuleAdmin):
    """The rule table's admin with the "Test a lead" page."""

    def get_urls(self) -> list[URLPattern | URLResolver]:
        view = self.admin_site.admin_view
        return [path("test-lead/", view(self.test_lead_view), name="routing_rule_test_lead"), *super().get_urls()]

    # Test a lead ------------------------------------------------------------------------------

    def test_lead_view(self, request: HttpRequest) -> TemplateResponse:
        form = TestLeadForm(request.POST or None)
        lead = terms = None
        would_fire: list[str] = []
        if request.method == "POST" and form.is_valid():
            now = timezone.now()
            lead = form.lead(now=now)
            terms = lead_preview(lead=lead, now=now)
            would_fire = rule_words.rule_also(lead.rule) if lead.rule is not None else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Test a lead"),
            "form": form,
            "lead": lead,
            "terms": terms,
            "would_fire": would_fire,
            "score_lines": breakdown_lines(lead.score_breakdown) if lead is not None else [],
            "priority_label": Priority(terms.priority).label if terms and terms.priority in Priority.values else "",
            "changelist_url": reverse("admin:routing_rule_changelist"),
        }
        return TemplateResponse(request, "admin/routing/test_lead.html", context)


admin.site.unregister(Rule)
admin.site.register(Rule, RuleAdmin)

# Leadrouter, not "Django administration" (templates/admin/base_site.html says the same when these are unset).
admin.site.site_header = "Leadrouter"
admin.site.site_title = "Leadrouter"
admin.site.index_title = "Leadrouter"
