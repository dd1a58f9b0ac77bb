"""The rule table in the admin: drag-and-drop order, conditions and actions, validation, statistics, an audit
trail of every edit. ("Test a lead", which also shows the SLA terms, is flows.admin's.)

Versions: the live rules are edited in place as before; a change can also be prepared as a draft (the "Draft rules"
page, same form and inlines), compared with the live table, replayed over past leads ("What if…") and published
in one step; earlier versions can be restored as a new draft. The pages hang off the Rule changelist."""

from __future__ import annotations

import json
from datetime import timedelta

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, Count, F, Prefetch, Q, When
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core import engine
from routing import replay, rule_words
from routing.models import DraftRule, Rule, RuleAction, RuleChange, RuleCondition, RuleTable
from routing.rule_diff import rule_tables_compare
from routing.services import rule_tables

# --------------------------------------------------------------------------------------------------
# Audit trail


# RuleChange actions about whole versions (routing.services.rule_tables), not about one rule.
VERSION_ACTIONS = ("draft", "publish", "discard", "restore")


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
        rule=rule,
        table_id=rule.table_id if rule is not None else None,
        rule_name=rule_name[:150],
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        changes=changes,
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


def _positions(model=Rule) -> dict[int, int]:
    """Positions of the rules of one table: `Rule` (live) or `DraftRule` (the draft); their managers say which."""
    return dict(model.objects.values_list("pk", "position"))


def _record_reorder(*, before: dict[int, int], user, model=Rule) -> int:
    """Rules whose position moved: bump updated_at (the compiled rule set is keyed on it) and record the move."""
    after = _positions(model)
    moved = [pk for pk, position in after.items() if before.get(pk) is not None and before[pk] != position]
    if not moved:
        return 0
    Rule.all_tables.filter(pk__in=moved).update(updated_at=timezone.now())
    for rule in Rule.all_tables.filter(pk__in=moved):
        rule_change_record(rule=rule, rule_name=rule.name, user=user, action="reorder", changes={"position": [before[rule.pk], after[rule.pk]]})
    return len(moved)


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
    verbose_name_plural = _("Conditions")


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
        context["condition_fields"] = rule_words.field_options()
        context["condition_field_kinds"] = {**engine.FIELD_KINDS, "": "fact"}
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(Rule)
class RuleAdmin(SortableAdminMixin, _RuleAdminBase):
    form = RuleForm
    inlines = [RuleConditionInline, RuleActionInline]
    list_display = ["position", "name", "is_active", "conditions_summary", "target_summary", "actions_summary", "hits", "last_hit_at"]
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
            .prefetch_related(
                Prefetch("conditions", queryset=RuleCondition.objects.select_related("domain_list")),
                Prefetch("actions", queryset=RuleAction.objects.select_related("channel", "recipient_rep")),
            )
        )

    @admin.display(description=_("when"))
    def conditions_summary(self, rule: Rule):
        return rule_words.rule_when(rule)

    @admin.display(description=_("assign to"), ordering="target")
    def target_summary(self, rule: Rule):
        return rule_words.rule_target(rule)

    @admin.display(description=_("also do"))
    def actions_summary(self, rule: Rule):
        lines = rule_words.rule_also(rule)
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines)) if lines else "—"

    def get_urls(self):
        view = self.admin_site.admin_view
        urls = [
            path("versions/", view(self.versions_view), name="routing_rule_versions"),
            path("versions/<int:table_id>/compare/", view(self.compare_view), name="routing_rule_version_compare"),
            path("versions/<int:table_id>/restore/", view(self.restore_view), name="routing_rule_version_restore"),
            path("draft/start/", view(self.draft_start_view), name="routing_rule_draft_start"),
            path("draft/compare/", view(self.compare_view), name="routing_rule_draft_compare"),
            path("draft/publish/", view(self.draft_publish_view), name="routing_rule_draft_publish"),
            path("draft/discard/", view(self.draft_discard_view), name="routing_rule_draft_discard"),
            path("draft/what-if/", view(self.what_if_view), name="routing_rule_draft_what_if"),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "draft": rule_tables.rule_table_draft()}
        return super().changelist_view(request, extra_context=extra_context)

    # Audit ------------------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        before = {}
        if change:
            old = Rule.all_tables.filter(pk=obj.pk).first()
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
            Rule.all_tables.filter(pk=rule.pk).update(updated_at=timezone.now())
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
        before = _positions(self.model)
        response = super().update_order(request)
        if response.status_code == 200:
            _record_reorder(before=before, user=request.user, model=self.model)
        return response

    @transaction.atomic
    def _bulk_move(self, request, queryset, method):
        before = _positions(self.model)
        super()._bulk_move(request, queryset, method)
        _record_reorder(before=before, user=request.user, model=self.model)

    # Versions: draft, compare, publish, discard, restore, what if --------------------------------

    def _page(self, request, template: str, title: str, **context):
        context = {
            **self.admin_site.each_context(request),
            "opts": Rule._meta,
            "title": title,
            "changelist_url": reverse("admin:routing_rule_changelist"),
            "draft_changelist_url": reverse("admin:routing_draftrule_changelist"),
            **context,
        }
        return TemplateResponse(request, template, context)

    def _require(self, request, permission: str) -> None:
        if not getattr(self, f"has_{permission}_permission")(request):
            raise PermissionDenied

    def versions_view(self, request):
        self._require(request, "view")
        order = Case(When(status=RuleTable.Status.DRAFT, then=0), When(status=RuleTable.Status.LIVE, then=1), default=2)
        tables = (
            RuleTable.objects.select_related("created_by", "published_by", "based_on")
            .annotate(rule_count=Count("rules"))
            .order_by(order, F("published_at").desc(nulls_last=True), "-id")
        )
        return self._page(request, "admin/routing/rule_versions.html", _("Rule table versions"), tables=tables)

    def draft_start_view(self, request):
        self._require(request, "add")
        if rule_tables.rule_table_draft() is not None:
            messages.info(request, _("There is already a draft; here it is."))
            return redirect("admin:routing_draftrule_changelist")
        form = DraftStartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            rule_tables.draft_start(user=request.user, name=form.cleaned_data["name"], note=form.cleaned_data["note"])
            messages.success(request, _("Draft started: a copy of the live rules. Routing keeps using the live rules until you publish."))
            return redirect("admin:routing_draftrule_changelist")
        return self._page(request, "admin/routing/draft_start.html", _("Start a draft"), form=form)

    def compare_view(self, request, table_id: int | None = None):
        self._require(request, "view")
        table = get_object_or_404(RuleTable, pk=table_id) if table_id is not None else rule_tables.rule_table_draft()
        if table is None:
            messages.info(request, _("There is no draft to compare. Start one first."))
            return redirect("admin:routing_rule_changelist")
        live = rule_tables.rule_table_live()
        diff = rule_tables_compare(before=live, after=table)
        is_draft = table.status == RuleTable.Status.DRAFT
        # Edits made to the live rules after the draft was copied are undone by publishing it: say so.
        live_edited = is_draft and (
            Rule.objects.filter(updated_at__gt=table.created_at).exists()
            or RuleChange.objects.filter(table=live, at__gt=table.created_at).exclude(action__in=VERSION_ACTIONS).exists()  # deletions too
        )
        return self._page(
            request,
            "admin/routing/draft_compare.html",
            _("Compare with the live rules"),
            table=table,
            live=live,
            diff=diff,
            is_draft=is_draft,
            live_edited=live_edited,
            can_publish=is_draft and self.has_change_permission(request),
            can_restore=table.status == RuleTable.Status.ARCHIVED and self.has_add_permission(request),
        )

    def _post_only(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return None

    def draft_publish_view(self, request):
        refused = self._post_only(request)
        if refused:
            return refused
        self._require(request, "change")
        draft = rule_tables.rule_table_draft()
        if draft is None:
            messages.error(request, _("There is no draft to publish."))
            return redirect("admin:routing_rule_changelist")
        try:
            published = rule_tables.draft_publish(draft=draft, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("admin:routing_rule_draft_compare")
        messages.success(
            request,
            _("Published “%(name)s”: these are now the live rules, from the next lead on. The previous version is kept under Versions.")
            % {"name": published.name or published.pk},
        )
        return redirect("admin:routing_rule_changelist")

    def draft_discard_view(self, request):
        refused = self._post_only(request)
        if refused:
            return refused
        self._require(request, "delete")
        draft = rule_tables.rule_table_draft()
        if draft is not None:
            try:
                rule_tables.draft_discard(draft=draft, user=request.user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                return redirect("admin:routing_rule_changelist")
            messages.success(request, _("The draft was discarded. The live rules did not change."))
        return redirect("admin:routing_rule_changelist")

    def restore_view(self, request, table_id: int):
        refused = self._post_only(request)
        if refused:
            return refused
        self._require(request, "add")
        table = get_object_or_404(RuleTable, pk=table_id)
        try:
            rule_tables.version_restore(table=table, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("admin:routing_rule_versions")
        messages.success(request, _("The version was copied into a new draft. Check the comparison and the what-if, then publish it."))
        return redirect("admin:routing_rule_draft_compare")

    def what_if_view(self, request):
        self._require(request, "view")
        table_id = request.GET.get("table")
        table = get_object_or_404(RuleTable, pk=table_id) if table_id and table_id.isdigit() else rule_tables.rule_table_draft()
        if table is None:
            messages.info(request, _("There is no draft to try. Start one first."))
            return redirect("admin:routing_rule_changelist")
        form = ReplayForm(request.GET or None)
        result = rows = None
        drill = {}
        if form.is_valid():
            since, until = form.period()
            result = replay.replay_run(table=table, since=since, until=until, limit=form.cleaned_data["limit"])
            drill = form.drill_down()
            if drill:
                rows = result.leads_for(**drill)
        return self._page(
            request,
            "admin/routing/replay_results.html",
            _("What if these rules had routed past leads?"),
            table=table,
            form=form,
            result=result,
            rows=result.rows(rows[: ReplayForm.ROWS_SHOWN]) if rows is not None else None,
            row_count=len(rows) if rows is not None else 0,
            rows_shown=ReplayForm.ROWS_SHOWN,
            drill=drill,
            query=form.query_string(),
        )


class DraftStartForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=150, required=False, help_text=_("e.g. “Webinars to Kasia”"))
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text=_("What this change is for"))


class ReplayForm(forms.Form):
    """The leads a what-if runs over (the newest `limit` of the period) and, optionally, one number to drill into."""

    ROWS_SHOWN = 500
    LAST_MONTH = "last_month"
    PERIODS = [
        ("7", _("last 7 days")),
        ("30", _("last 30 days")),
        (LAST_MONTH, _("last calendar month")),
        ("90", _("last 90 days")),
        ("365", _("last 12 months")),
    ]

    days = forms.ChoiceField(label=_("period"), choices=PERIODS, initial="30", required=False)
    limit = forms.IntegerField(
        label=_("at most this many leads (the newest)"), min_value=1, max_value=replay.MAX_LIMIT, initial=replay.DEFAULT_LIMIT, required=False
    )
    rep = forms.IntegerField(required=False, widget=forms.HiddenInput)
    pool = forms.IntegerField(required=False, widget=forms.HiddenInput)
    rule = forms.UUIDField(required=False, widget=forms.HiddenInput)
    dir = forms.ChoiceField(choices=[("", ""), ("in", "in"), ("out", "out")], required=False, widget=forms.HiddenInput)
    unassigned = forms.BooleanField(required=False, widget=forms.HiddenInput)
    moved = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, **kwargs):
        # The page opens with the defaults already run: a GET with no parameters is a valid form.
        data = data.copy() if data is not None else None
        if data is not None:
            data.setdefault("days", "30")
            data.setdefault("limit", str(replay.DEFAULT_LIMIT))
        else:
            data = {"days": "30", "limit": str(replay.DEFAULT_LIMIT)}
        super().__init__(data, **kwargs)

    def clean_days(self):
        return self.cleaned_data.get("days") or "30"

    def clean_limit(self):
        return self.cleaned_data.get("limit") or replay.DEFAULT_LIMIT

    def period(self):
        now = timezone.localtime()
        if self.cleaned_data["days"] == self.LAST_MONTH:
            until = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            return (until - timedelta(days=1)).replace(day=1), until
        return now - timedelta(days=int(self.cleaned_data["days"])), now

    def drill_down(self) -> dict:
        data = self.cleaned_data
        direction = data.get("dir") or ""
        if data.get("unassigned"):
            return {"unassigned": True}
        if data.get("rep") is not None:
            return {"rep": data["rep"], "direction": direction}
        if data.get("pool") is not None:
            return {"pool": data["pool"], "direction": direction}
        if data.get("rule") is not None:
            return {"rule": str(data["rule"]), "direction": direction}
        if data.get("moved"):
            return {"direction": ""}
        return {}

    def query_string(self) -> str:
        if not self.is_valid():
            return ""
        return f"days={self.cleaned_data['days']}&limit={self.cleaned_data['limit']}"


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

    def get_urls(self):
        # The version pages live under the live rules' URLs; only the model's own pages here.
        return super(RuleAdmin, self).get_urls()

    def has_add_permission(self, request):
        return super().has_add_permission(request) and rule_tables.rule_table_draft() is not None

    def save_model(self, request, obj, form, change):
        if not change:
            draft = rule_tables.rule_table_draft()
            if draft is None:
                raise PermissionDenied
            obj.table = draft
        super().save_model(request, obj, form, change)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "is_draft_page": True}
        return super().changelist_view(request, extra_context=extra_context)


# --------------------------------------------------------------------------------------------------
# The audit trail, read-only


@admin.register(RuleChange)
class RuleChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "rule_name", "action", "table", "user", "summary"]
    list_filter = ["action", "at"]
    search_fields = ["rule_name", "user__username"]
    date_hierarchy = "at"
    fields = ["at", "rule", "rule_name", "table", "action", "user", "changes_shown"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "rule", "table")

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
