"""The score rules in the admin: drag-and-drop order, conditions inline (the same fields and checks as a rule's),
points. Every write goes through routing.services.scoring, which also tells the compiled score rules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from core import engine
from core.scoring import SCORE_FIELD
from routing import rule_words
from routing.admin_rules import RuleConditionForm, _formset_rows
from routing.models import ScoreCondition, ScoreRule
from routing.services.scoring import score_rule_save, score_rules_delete, score_rules_reorder


class ScoreConditionForm(RuleConditionForm):
    class Meta(RuleConditionForm.Meta):
        model = ScoreCondition

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("DELETE") and (cleaned.get("field") or "").strip() == SCORE_FIELD:
            raise ValidationError(_("A score rule cannot test the score: the score is what the score rules add up."))
        return cleaned


class ScoreConditionInline(admin.TabularInline):
    model = ScoreCondition
    form = ScoreConditionForm
    extra = 0
    verbose_name_plural = _("Conditions")


class ScoreRuleForm(forms.ModelForm):
    class Meta:
        model = ScoreRule
        fields = ["name", "points", "is_active", "match"]


@admin.register(ScoreRule)
class ScoreRuleAdmin(SortableAdminMixin, admin.ModelAdmin):
    form = ScoreRuleForm
    inlines = [ScoreConditionInline]
    change_form_template = "admin/routing/rule_change_form.html"  # the condition field list and operator filter
    list_display = ["position", "name", "points_shown", "is_active", "conditions_summary", "updated_at"]
    list_display_links = ["name"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    list_per_page = 500  # the whole list on one page: drag and drop works across all of it
    readonly_fields = ["updated_at"]
    fields = ["name", "points", "is_active", "match", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScoreRule]:
        return super().get_queryset(request).prefetch_related(Prefetch("conditions", queryset=ScoreCondition.objects.select_related("domain_list")))

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> TemplateResponse:
        context["condition_fields"] = [(name, label) for name, label in rule_words.field_options() if name != SCORE_FIELD]
        context["condition_field_kinds"] = {**engine.FIELD_KINDS, "": "fact"}
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description=_("points"), ordering="points")
    def points_shown(self, rule: ScoreRule) -> str:
        return f"+{rule.points}" if rule.points > 0 else f"−{-rule.points}" if rule.points < 0 else "0"

    @admin.display(description=_("when"))
    def conditions_summary(self, rule: ScoreRule) -> str:
        return rule_words.rule_when(rule)

    # Writes, all through routing.services.scoring -------------------------------------------------

    def save_model(self, request: HttpRequest, obj: ScoreRule, form: forms.ModelForm, change: bool) -> None:
        """Writes nothing yet: `save_related` stores the rule with its conditions in one service call."""
        if not change:
            obj.position = self.get_max_order(request, obj) + 1

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Sequence[BaseInlineFormSet], change: bool) -> None:
        rows = {formset.model: _formset_rows(formset) for formset in formsets}
        score_rule_save(rule=form.instance, conditions=rows.get(ScoreCondition))

    def delete_model(self, request: HttpRequest, obj: ScoreRule) -> None:
        score_rules_delete(rules=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ScoreRule]) -> None:
        score_rules_delete(rules=queryset)

    def update_order(self, request: HttpRequest) -> HttpResponse:
        """Drag and drop on the changelist (adminsortable2's endpoint): `{"updatedItems": [[id, position], ...]}`."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            return HttpResponseForbidden("Missing permissions to perform this request")
        try:
            positions = {int(pk): int(position) for pk, position in json.loads(request.body).get("updatedItems")}
        except (ValueError, TypeError, AttributeError) as exc:
            return HttpResponseBadRequest(f"Invalid POST request: {exc}")
        score_rules_reorder(positions=positions)
        return HttpResponse(f"Updated {len(positions)} items")
