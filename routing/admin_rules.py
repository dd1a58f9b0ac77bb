"""The rule table in the admin: drag-and-drop order, conditions and actions, validation, statistics; the draft's rules
on a page of their own with the same form. ("Test a lead", which also shows the SLA terms, is flows.admin's.)

Every write goes through routing.services.rules (`rule_save`, `rules_reorder`, `rule_delete`), which also keeps
the audit trail (read-only page: routing/admin_audit.py) and tells the compiled rule set. The version pages (draft,
compare, what if, publish, discard, restore) are routing/admin_versions.py's, hung off this changelist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core import engine
from routing import rule_words
from routing.admin_versions import RuleVersionsMixin
from routing.models import DraftRule, Rule, RuleAction, RuleCondition, RuleTable
from routing.services import rule_tables
from routing.services.rules import rule_delete, rule_save, rules_reorder

# --------------------------------------------------------------------------------------------------
# Forms


class RuleConditionForm(forms.ModelForm):
    class Meta:
        model = RuleCondition
        fields = ["field", "operator", "value", "domain_list"]
        # The field offers its choices by label (the lead fields, then extra.<key> seen on recent leads: the
        # "rule-condition-fields" datalist of rule_change_form.html); a new extra.<key> can still be typed.
        widgets = {
            "value": forms.TextInput(attrs={"size": 40}),
            "field": forms.TextInput(attrs={"size": 18, "list": "rule-condition-fields", "class": "rule-condition-field", "autocomplete": "off"}),
        }

    def clean(self) -> dict[str, Any]:
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

    def clean(self) -> dict[str, Any]:
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
    verbose_name_plural = _("Conditions")


class RuleActionInline(admin.StackedInline):
    model = RuleAction
    extra = 0
    fields = [("kind", "position"), ("channel", "recipient", "recipient_rep"), "template", "text", "config"]


def _formset_rows(formset: BaseInlineFormSet) -> list[RuleCondition | RuleAction]:
    """The rule's whole new list of conditions (or actions) from a valid inline formset, without writing anything.

    `save(commit=False)` also fills the formset's new/changed/deleted lists, which the admin's history message reads.
    """
    formset.save(commit=False)
    deleted = {obj.pk for obj in formset.deleted_objects}
    kept = [form.instance for form in formset.initial_forms if form.instance.pk is not None and form.instance.pk not in deleted]
    return kept + list(formset.new_objects)


# --------------------------------------------------------------------------------------------------
# Moving rules between pages: adminsortable2 works the moves out, `rules_reorder` writes them


# The positions a "move to page" action is planning ({rule id: position}), while `_bulk_move` runs.
_planned_positions: ContextVar[dict[int, int] | None] = ContextVar("planned_rule_positions", default=None)


def _position_move(positions: dict[int, int], *, start: int, end: int) -> dict[int, int]:
    """adminsortable2's `_move_item` on a plan: the rule at `start` goes to `end`, the ones between shift by one."""
    if start == end:
        return {}
    at_start = [pk for pk, position in positions.items() if position == start]
    if len(at_start) != 1:
        raise (Rule.MultipleObjectsReturned if at_start else Rule.DoesNotExist)(f"{len(at_start)} rules at position {start}")
    if end < start:
        shifted = {pk: position + 1 for pk, position in positions.items() if end <= position <= start - 1}
    else:
        shifted = {pk: position - 1 for pk, position in positions.items() if start + 1 <= position <= end}
    shifted[at_start[0]] = end
    positions.update(shifted)
    return shifted


# --------------------------------------------------------------------------------------------------
# Rule admin


class StaleRuleFilter(admin.SimpleListFilter):
    """For the quarterly review: rules that have not matched a lead for a while."""

    title = _("last hit")
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("90", _("No hit in 90 days")), ("never", _("Never hit"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Rule]) -> QuerySet[Rule]:
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

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> TemplateResponse:
        context["condition_fields"] = rule_words.field_options()
        context["condition_field_kinds"] = {**engine.FIELD_KINDS, "": "fact"}
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(Rule)
class RuleAdmin(SortableAdminMixin, RuleVersionsMixin, _RuleAdminBase):
    form = RuleForm
    inlines = [RuleConditionInline, RuleActionInline]
    # Fits 1400 px with the admin's side bars: the hits and the last hit share a column, long cells wrap.
    list_display = ["position", "name", "is_active", "conditions_summary", "target_summary", "actions_summary", "hits_summary"]
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rule]:
        return (
            super()
            .get_queryset(request)
            .select_related("target_rep", "target_pool")
            .prefetch_related(
                Prefetch("conditions", queryset=RuleCondition.objects.select_related("domain_list")),
                Prefetch("actions", queryset=RuleAction.objects.select_related("channel", "recipient_rep")),
            )
        )

    @admin.display(description=_("when"))
    def conditions_summary(self, rule: Rule) -> str:
        return rule_words.rule_when(rule)

    @admin.display(description=_("assign to"), ordering="target")
    def target_summary(self, rule: Rule) -> str:
        return rule_words.rule_target(rule)

    @admin.display(description=_("also do"))
    def actions_summary(self, rule: Rule) -> str:
        lines = rule_words.rule_also(rule)
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines)) if lines else "—"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reorder_.__func__.short_description = "#"  # the drag handles' column (adminsortable2's): narrow

    @admin.display(description=_("hits"), ordering="hits")
    def hits_summary(self, rule: Rule) -> str:
        if rule.last_hit_at is None:
            return format_html('<span class="hits">{}</span>', rule.hits)
        when = formats.date_format(timezone.localtime(rule.last_hit_at), "SHORT_DATETIME_FORMAT")
        return format_html('<span class="hits">{}</span><div class="last-hit">{}</div>', rule.hits, _("last %(when)s") % {"when": when})

    def get_urls(self) -> list[URLPattern | URLResolver]:
        return self.versions_urls() + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "draft": rule_tables.rule_table_draft()}
        return super().changelist_view(request, extra_context=extra_context)

    def rule_table(self) -> RuleTable | None:
        """The table whose rules this page edits: the live one here, the draft (if any) on the draft's page."""
        return rule_tables.rule_table_live()

    # Writes, all through routing.services.rules -----------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Rule, form: forms.ModelForm, change: bool) -> None:
        """Writes nothing yet: `save_related` stores the rule with its conditions and actions in one service call."""
        if not change:
            obj.position = self.get_max_order(request, obj) + 1  # a new rule goes to the bottom of its table

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Sequence[BaseInlineFormSet], change: bool) -> None:
        rows = {formset.model: _formset_rows(formset) for formset in formsets}
        rule_save(rule=form.instance, user=request.user, conditions=rows.get(RuleCondition), actions=rows.get(RuleAction))

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        rule_delete(rules=[obj], user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        rule_delete(rules=queryset, user=request.user)

    def update_order(self, request: HttpRequest) -> HttpResponse:
        """Drag and drop on the changelist (adminsortable2's endpoint): `{"updatedItems": [[id, position], ...]}`."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            return HttpResponseForbidden("Missing permissions to perform this request")
        try:
            positions = {int(pk): int(position) for pk, position in json.loads(request.body).get("updatedItems")}
            table = self.rule_table()
            if table is None:
                raise Rule.DoesNotExist("there is no draft")
            rules_reorder(table=table, positions=positions, user=request.user)
        except (ValueError, TypeError, AttributeError, Rule.DoesNotExist) as exc:
            return HttpResponseBadRequest(f"Invalid POST request: {exc}")
        return HttpResponse(f"Updated {len(positions)} items")

    def _bulk_move(self, request: HttpRequest, queryset: QuerySet[Rule], method: int) -> None:
        """The "move to page" actions: adminsortable2 plans the moves on a copy of the positions, then one write."""
        table = self.rule_table()
        if table is None:
            return
        plan = dict(self.model.objects.values_list("pk", "position"))
        token = _planned_positions.set(plan)
        try:
            super()._bulk_move(request, queryset, method)
        finally:
            _planned_positions.reset(token)
        rules_reorder(table=table, positions=plan, user=request.user)

    def _move_item(self, startorder: int, endorder: int, extra_model_filters: dict[str, Any] | None) -> dict[int, int]:
        plan = _planned_positions.get()
        if plan is None:  # adminsortable2 moves items only from `_bulk_move`
            raise RuntimeError("rules are moved through rules_reorder")
        return _position_move(plan, start=startorder, end=endorder)


# --------------------------------------------------------------------------------------------------
# The draft's rules: the same form, inlines, validation, audit and drag-and-drop as the live ones


@admin.register(DraftRule)
class DraftRuleAdmin(RuleAdmin):
    list_display = ["position", "name", "is_active", "conditions_summary", "target_summary", "actions_summary", "updated_at"]
    list_filter = ["is_active", "target"]
    readonly_fields = ["updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "match"]}),
        (_("Assign to"), {"fields": ["target", "target_rep", "target_pool"]}),
    ]

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # The version pages live under the live rules' URLs; only the model's own pages here.
        return super(RuleAdmin, self).get_urls()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and rule_tables.rule_table_draft() is not None

    def rule_table(self) -> RuleTable | None:
        return rule_tables.rule_table_draft()

    def save_model(self, request: HttpRequest, obj: Rule, form: forms.ModelForm, change: bool) -> None:
        if not change:
            draft = rule_tables.rule_table_draft()
            if draft is None:
                raise PermissionDenied
            obj.table = draft
        super().save_model(request, obj, form, change)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "is_draft_page": True}
        return super().changelist_view(request, extra_context=extra_context)
