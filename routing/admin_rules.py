"""The rule table in the admin: drag-and-drop order, conditions and actions, validation, statistics, an audit
trail of every edit, and the "Test a lead" page (a preview that stores nothing)."""

from __future__ import annotations

import json
from datetime import timedelta

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from routing import engine
from routing.models import Lead, Rule, RuleAction, RuleChange, RuleCondition
from routing.services.assignment import lead_preview
from routing.services.intake import lead_normalise

# --------------------------------------------------------------------------------------------------
# Audit trail


def _shown(value) -> str | int | bool | None:
    if value is None or isinstance(value, bool | int):
        return value
    if hasattr(value, "pk"):
        return str(value)
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value)
    return str(value)


def _snapshot(rule: Rule) -> dict:
    return {
        "conditions": [str(c) for c in rule.conditions.all()],
        "target": rule.get_target_display(),
        "active": rule.is_active,
        "position": rule.position,
    }


def rule_change_record(*, rule: Rule | None, rule_name: str, user, action: str, changes: dict) -> RuleChange:
    """One row of the rule audit trail: who changed which rule, when, and what."""
    return RuleChange.objects.create(
        rule=rule, rule_name=rule_name[:150], user=user if getattr(user, "is_authenticated", False) else None, action=action, changes=changes
    )


def _formset_changes(formset) -> dict:
    changes: dict = {}
    if getattr(formset, "new_objects", None):
        changes["added"] = [str(obj) for obj in formset.new_objects]
    if getattr(formset, "changed_objects", None):
        changes["changed"] = [
            {"item": str(obj), "fields": {name: _shown(getattr(obj, name, None)) for name in fields}} for obj, fields in formset.changed_objects
        ]
    if getattr(formset, "deleted_objects", None):
        changes["deleted"] = [str(obj) for obj in formset.deleted_objects]
    return changes


def _positions() -> dict[int, int]:
    return dict(Rule.objects.values_list("pk", "position"))


def _record_reorder(*, before: dict[int, int], user) -> int:
    """Rules whose position moved: bump updated_at (the compiled rule set is keyed on it) and record the move."""
    after = _positions()
    moved = [pk for pk, position in after.items() if before.get(pk) is not None and before[pk] != position]
    if not moved:
        return 0
    Rule.objects.filter(pk__in=moved).update(updated_at=timezone.now())
    for rule in Rule.objects.filter(pk__in=moved):
        rule_change_record(rule=rule, rule_name=rule.name, user=user, action="reorder", changes={"position": [before[rule.pk], after[rule.pk]]})
    return len(moved)


# --------------------------------------------------------------------------------------------------
# Forms


class RuleConditionForm(forms.ModelForm):
    class Meta:
        model = RuleCondition
        fields = ["field", "operator", "value", "domain_list"]
        widgets = {"value": forms.TextInput(attrs={"size": 40}), "field": forms.TextInput(attrs={"size": 16, "list": "rule-condition-fields"})}

    def clean(self):
        cleaned = super().clean()
        if self.cleaned_data.get("DELETE"):
            return cleaned
        operator = cleaned.get("operator")
        if not operator:
            return cleaned
        errors = engine.condition_errors(
            field=cleaned.get("field") or "",
            operator=operator,
            value=cleaned.get("value") or "",
            has_domain_list=cleaned.get("domain_list") is not None,
        )
        if errors:
            raise ValidationError(errors)
        if operator in engine.FACT_OPERATORS:
            cleaned["field"] = ""  # not used by these tests; keep the row tidy
        return cleaned


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["name", "is_active", "match", "target", "target_rep", "target_pool"]

    def clean(self):
        cleaned = super().clean()
        target = cleaned.get("target")
        if target:
            for name, message in engine.rule_target_errors(
                target=target, has_rep=cleaned.get("target_rep") is not None, has_pool=cleaned.get("target_pool") is not None
            ).items():
                self.add_error(name, message)
        return cleaned


class RuleConditionInline(admin.TabularInline):
    model = RuleCondition
    form = RuleConditionForm
    extra = 0
    autocomplete_fields = []
    verbose_name_plural = _("Conditions (field: a lead field such as job_title, region, company_size, or extra.<key>)")


class RuleActionInline(admin.StackedInline):
    model = RuleAction
    extra = 0
    fields = [("kind", "position"), ("channel", "recipient", "recipient_rep"), "template", "text", "config"]


# --------------------------------------------------------------------------------------------------
# Rule admin


class StaleRuleFilter(admin.SimpleListFilter):
    """For the quarterly review: rules that have not matched a lead for a while."""

    title = _("last hit")
    parameter_name = "stale"

    def lookups(self, request, model_admin):
        return [("90", _("No hit in 90 days")), ("never", _("Never hit"))]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(last_hit_at__isnull=True)
        if self.value() == "90":
            cutoff = timezone.now() - timedelta(days=90)
            return queryset.filter(Q(last_hit_at__isnull=True) | Q(last_hit_at__lt=cutoff))
        return queryset


class _RuleAdminBase(admin.ModelAdmin):
    # adminsortable2's change list extends this one (its `base_change_list_template` is ours).
    change_list_template = "admin/routing/rule_change_list.html"
    change_form_template = "admin/routing/rule_change_form.html"

    def render_change_form(self, request, context, *args, **kwargs):
        context["condition_fields"] = sorted(engine.FIELD_KINDS)
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(Rule)
class RuleAdmin(SortableAdminMixin, _RuleAdminBase):
    form = RuleForm
    inlines = [RuleConditionInline, RuleActionInline]
    list_display = ["position", "name", "is_active", "conditions_summary", "target_summary", "hits", "last_hit_at", "updated_at"]
    list_display_links = ["name"]
    list_filter = ["is_active", "target", StaleRuleFilter]
    search_fields = ["name"]
    list_per_page = 500  # the whole table on one page: drag and drop works across all of it
    readonly_fields = ["hits", "last_hit_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "match"]}),
        (_("Assign to"), {"fields": ["target", "target_rep", "target_pool"]}),
        (_("Statistics"), {"fields": ["hits", "last_hit_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("target_rep", "target_pool")
            .prefetch_related(Prefetch("conditions", queryset=RuleCondition.objects.select_related("domain_list")))
        )

    @admin.display(description=_("when"))
    def conditions_summary(self, rule: Rule):
        conditions = list(rule.conditions.all())
        if not conditions:
            return _("every lead")
        joiner = " " + str(_("and") if rule.match == "all" else _("or")) + " "
        return joiner.join(str(c) for c in conditions)

    @admin.display(description=_("assign to"), ordering="target")
    def target_summary(self, rule: Rule):
        who = rule.target_rep or rule.target_pool
        return f"{rule.get_target_display()}: {who}" if who else rule.get_target_display()

    def get_urls(self):
        urls = [path("test-lead/", self.admin_site.admin_view(self.test_lead_view), name="routing_rule_test_lead")]
        return urls + super().get_urls()

    # Audit ------------------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        before = {}
        if change:
            old = Rule.objects.filter(pk=obj.pk).first()
            if old is not None:
                before = {name: _shown(getattr(old, name)) for name in form.changed_data}
        super().save_model(request, obj, form, change)
        obj._audit = {
            "action": "change" if change else "add",
            "fields": {name: [before.get(name), _shown(getattr(obj, name))] for name in form.changed_data},
        }

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        rule = form.instance
        audit = getattr(rule, "_audit", {"action": "change" if change else "add", "fields": {}})
        changes: dict = {}
        if audit["fields"]:
            changes["fields"] = audit["fields"]
        for formset in formsets:
            inline = _formset_changes(formset)
            if inline:
                changes["conditions" if formset.model is RuleCondition else "actions"] = inline
        if audit["action"] == "add":
            changes["now"] = _snapshot(rule)
        if changes or audit["action"] == "add":
            # Saving conditions alone does not move the rule's updated_at on every database: make sure it does.
            Rule.objects.filter(pk=rule.pk).update(updated_at=timezone.now())
            rule_change_record(rule=rule, rule_name=rule.name, user=request.user, action=audit["action"], changes=changes)

    def delete_model(self, request, obj):
        with transaction.atomic():
            rule_change_record(rule=obj, rule_name=obj.name, user=request.user, action="delete", changes={"was": _snapshot(obj)})
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for rule in queryset:
                rule_change_record(rule=rule, rule_name=rule.name, user=request.user, action="delete", changes={"was": _snapshot(rule)})
            super().delete_queryset(request, queryset)

    @transaction.atomic
    def update_order(self, request):
        before = _positions()
        response = super().update_order(request)
        if response.status_code == 200:
            _record_reorder(before=before, user=request.user)
        return response

    @transaction.atomic
    def _bulk_move(self, request, queryset, method):
        before = _positions()
        super()._bulk_move(request, queryset, method)
        _record_reorder(before=before, user=request.user)

    # Test a lead ------------------------------------------------------------------------------

    def test_lead_view(self, request):
        form = TestLeadForm(request.POST or None)
        lead = terms = None
        if request.method == "POST" and form.is_valid():
            now = timezone.now()
            lead = form.lead(now=now)
            lead_preview(lead=lead, now=now)
            terms = _sla_terms(lead=lead, now=now)
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


def _sla_terms(*, lead: Lead, now):
    """The SLA the lead would get (the SLA app's preview), when that app provides it."""
    try:
        from sla.selectors import lead_sla_terms
    except ImportError:  # pragma: no cover - the SLA app is built alongside
        return None
    return lead_sla_terms(lead=lead, now=now)


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
        except ValueError as exc:
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


# --------------------------------------------------------------------------------------------------
# The audit trail, read-only


@admin.register(RuleChange)
class RuleChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "rule_name", "action", "user", "summary"]
    list_filter = ["action", "at"]
    search_fields = ["rule_name", "user__username"]
    date_hierarchy = "at"
    fields = ["at", "rule", "rule_name", "action", "user", "changes_shown"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "rule")

    @admin.display(description=_("what changed"))
    def summary(self, change: RuleChange) -> str:
        parts = []
        for key, value in (change.changes or {}).items():
            if key == "fields" and isinstance(value, dict):
                parts.extend(str(name) for name in value)
            elif isinstance(value, dict):
                parts.extend(f"{key} {kind}" for kind in value)
            else:
                parts.append(str(key))
        return ", ".join(parts)

    @admin.display(description=_("changes"))
    def changes_shown(self, change: RuleChange):
        rows = []
        for key, value in (change.changes or {}).items():
            rows.append((key, json.dumps(value, ensure_ascii=False, indent=1, default=str)))
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd><pre>{}</pre></dd>", rows)) if rows else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
