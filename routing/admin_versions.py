"""Versions of the rule table in the admin: start a draft, compare it with the live rules, replay it over past leads
("What if…"), publish or discard it, list every version and restore one as a new draft.

The pages hang off the rule changelist (`RuleVersionsMixin.versions_urls`, mixed into `routing.admin_rules.RuleAdmin`);
every write is routing.services.rule_tables'. The live rules are still edited in place as before; a draft is the
way to prepare a change, look at its effect and switch in one step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Count, F, When
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from routing import replay
from routing.models import Rule, RuleTable
from routing.rule_diff import rule_tables_compare
from routing.services import rule_tables

if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin
else:
    _AdminBase = object


class RuleVersionsMixin(_AdminBase):
    """The version pages of the rule admin (a ModelAdmin mixin: it uses the admin's site and permissions)."""

    def versions_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("versions/", view(self.versions_view), name="routing_rule_versions"),
            path("versions/<int:table_id>/compare/", view(self.compare_view), name="routing_rule_version_compare"),
            path("versions/<int:table_id>/restore/", view(self.restore_view), name="routing_rule_version_restore"),
            path("draft/start/", view(self.draft_start_view), name="routing_rule_draft_start"),
            path("draft/compare/", view(self.compare_view), name="routing_rule_draft_compare"),
            path("draft/publish/", view(self.draft_publish_view), name="routing_rule_draft_publish"),
            path("draft/discard/", view(self.draft_discard_view), name="routing_rule_draft_discard"),
            path("draft/what-if/", view(self.what_if_view), name="routing_rule_draft_what_if"),
        ]

    def _page(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": Rule._meta,
            "title": title,
            "changelist_url": reverse("admin:routing_rule_changelist"),
            "draft_changelist_url": reverse("admin:routing_draftrule_changelist"),
            **context,
        }
        return TemplateResponse(request, template, context)

    def _require(self, request: HttpRequest, permission: str) -> None:
        if not getattr(self, f"has_{permission}_permission")(request):
            raise PermissionDenied

    @staticmethod
    def _post_only(request: HttpRequest) -> HttpResponse | None:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return None

    def versions_view(self, request: HttpRequest) -> HttpResponse:
        self._require(request, "view")
        order = Case(When(status=RuleTable.Status.DRAFT, then=0), When(status=RuleTable.Status.LIVE, then=1), default=2)
        tables = (
            RuleTable.objects.select_related("created_by", "published_by", "based_on")
            .annotate(rule_count=Count("rules"))
            .order_by(order, F("published_at").desc(nulls_last=True), "-id")
        )
        return self._page(request, "admin/routing/rule_versions.html", _("Rule table versions"), tables=tables)

    def draft_start_view(self, request: HttpRequest) -> HttpResponse:
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

    def compare_view(self, request: HttpRequest, table_id: int | None = None) -> HttpResponse:
        self._require(request, "view")
        table = get_object_or_404(RuleTable, pk=table_id) if table_id is not None else rule_tables.rule_table_draft()
        if table is None:
            messages.info(request, _("There is no draft to compare. Start one first."))
            return redirect("admin:routing_rule_changelist")
        live = rule_tables.rule_table_live()
        is_draft = table.status == RuleTable.Status.DRAFT
        return self._page(
            request,
            "admin/routing/draft_compare.html",
            _("Compare with the live rules"),
            table=table,
            live=live,
            diff=rule_tables_compare(before=live, after=table),
            is_draft=is_draft,
            # Edits made to the live rules after the draft was copied are undone by publishing it: say so.
            live_edited=is_draft and rule_tables.live_edited_since_copy(draft=table),
            can_publish=is_draft and self.has_change_permission(request),
            can_restore=table.status == RuleTable.Status.ARCHIVED and self.has_add_permission(request),
        )

    def draft_publish_view(self, request: HttpRequest) -> HttpResponse:
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

    def draft_discard_view(self, request: HttpRequest) -> HttpResponse:
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

    def restore_view(self, request: HttpRequest, table_id: int) -> HttpResponse:
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

    def what_if_view(self, request: HttpRequest) -> HttpResponse:
        self._require(request, "view")
        table_id = request.GET.get("table")
        table = get_object_or_404(RuleTable, pk=table_id) if table_id and table_id.isdigit() else rule_tables.rule_table_draft()
        if table is None:
            messages.info(request, _("There is no draft to try. Start one first."))
            return redirect("admin:routing_rule_changelist")
        form = ReplayForm(request.GET or None)
        result = rows = None
        drill: dict[str, Any] = {}
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

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        # The page opens with the defaults already run: a GET with no parameters is a valid form.
        data = data.copy() if data is not None else None
        if data is not None:
            data.setdefault("days", "30")
            data.setdefault("limit", str(replay.DEFAULT_LIMIT))
        else:
            data = {"days": "30", "limit": str(replay.DEFAULT_LIMIT)}
        super().__init__(data, **kwargs)

    def clean_days(self) -> str:
        return self.cleaned_data.get("days") or "30"

    def clean_limit(self) -> int:
        return self.cleaned_data.get("limit") or replay.DEFAULT_LIMIT

    def period(self) -> tuple[datetime, datetime]:
        now = timezone.localtime()
        if self.cleaned_data["days"] == self.LAST_MONTH:
            until = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            return (until - timedelta(days=1)).replace(day=1), until
        return now - timedelta(days=int(self.cleaned_data["days"])), now

    def drill_down(self) -> dict[str, Any]:
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
