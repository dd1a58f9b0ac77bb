"""The manager's dashboard (charts, tables, CSV exports) and the wall screen for the office TV.

Views stay thin: the figures come from `flows.metrics` (database aggregates) and `flows.dashboard_figures`
(tables and chart geometry); the pages are server-rendered and complete without JavaScript.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from flows.dashboard_figures import csv_rows, duration_text, figure_by_key, figures
from flows.metrics import LEAD_CSV_FIELDS, PRESETS, Scope, dashboard, leads_for_export, scope_for, wall
from reps.models import Pool

WALL_REFRESH_SECONDS = 45
LEGACY_DAYS = {"1": "today", "7": "7", "30": "30", "90": "90"}


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(
        label=gettext_lazy("Period"),
        required=False,
        choices=[
            ("today", gettext_lazy("Today")),
            ("7", gettext_lazy("Last 7 days")),
            ("30", gettext_lazy("Last 30 days")),
            ("90", gettext_lazy("Last 90 days")),
            ("custom", gettext_lazy("From – to")),
        ],
    )
    first = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    pool = forms.ModelChoiceField(label=gettext_lazy("Team"), queryset=Pool.objects.order_by("name"), required=False, empty_label=gettext_lazy("All teams"))
    source = forms.SlugField(label=gettext_lazy("Source"), required=False, max_length=64)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") == "custom" and not (cleaned.get("first") and cleaned.get("last")):
            self.add_error("first", _("Choose the first and the last day."))
        return cleaned


def _filter_data(request) -> dict:
    data = request.GET.copy()
    if "period" not in data and data.get("days") in LEGACY_DAYS:  # the old ?days=7 links
        data["period"] = LEGACY_DAYS[data["days"]]
    if data.get("first") and data.get("last"):  # both days given: a custom range, whatever preset was on
        data["period"] = "custom"
    return data


def _scope(request) -> tuple[DashboardFilterForm, Scope]:
    form = DashboardFilterForm(_filter_data(request))
    now = timezone.now()
    if not form.is_valid():
        return form, scope_for(now=now, preset="30")
    data = form.cleaned_data
    preset = data.get("period") or "30"
    scope = scope_for(
        now=now,
        preset=preset if preset in (*PRESETS, "custom") else "30",
        first=data.get("first"),
        last=data.get("last"),
        pool_id=data["pool"].pk if data.get("pool") else None,
        source=data.get("source") or "",
    )
    return form, scope


def _query(scope: Scope) -> str:
    """The scope as a query string, for the CSV links (same filters as the page)."""
    from urllib.parse import urlencode

    params = {"period": scope.preset}
    if scope.preset == "custom":
        params.update(first=scope.first_day.isoformat(), last=scope.last_day.isoformat())
    if scope.pool_id:
        params["pool"] = scope.pool_id
    if scope.source:
        params["source"] = scope.source
    return urlencode(params)


def _require_lead_view(request) -> None:
    if not request.user.has_perm("routing.view_lead"):
        raise PermissionDenied


def dashboard_page(request):
    """The manager's dashboard (wrapped by admin_view in leadrouter/urls.py: staff only)."""
    from django.contrib import admin

    _require_lead_view(request)
    form, scope = _scope(request)
    d = dashboard(now=timezone.now(), scope=scope)
    for lead in d.overdue:
        lead.late_text = duration_text(lead.minutes_late)
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "d": d,
        "figures": figures(d),
        "form": form,
        "scope": scope,
        "query": _query(scope),
        "presets": [("today", _("Today")), ("7", _("7 days")), ("30", _("30 days")), ("90", _("90 days"))],
    }
    return render(request, "admin/routing/dashboard.html", context)


def _csv_response(*, name: str, scope: Scope, headers: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_rows(headers, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leadrouter-{name}-{scope.first_day:%Y-%m-%d}-{scope.last_day:%Y-%m-%d}.csv"'
    return response


def dashboard_csv(request, key: str):
    """One figure of the dashboard as CSV (UTF-8 with a BOM), with the page's filters."""
    _require_lead_view(request)
    _form, scope = _scope(request)
    figure = figure_by_key(dashboard(now=timezone.now(), scope=scope), key)
    if figure is None:
        raise Http404
    return _csv_response(name=key, scope=scope, headers=figure.headers, rows=figure.rows)


LEAD_CSV_HEADERS = {
    "id": gettext_lazy("ID"),
    "received_at": gettext_lazy("Received"),
    "submitted_at": gettext_lazy("Submitted"),
    "status": gettext_lazy("Status"),
    "source": gettext_lazy("Source"),
    "email": gettext_lazy("E-mail"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "company": gettext_lazy("Company"),
    "job_title": gettext_lazy("Job title"),
    "phone": gettext_lazy("Phone"),
    "city": gettext_lazy("City"),
    "region": gettext_lazy("Region"),
    "postal_code": gettext_lazy("Postal code"),
    "company_size": gettext_lazy("Company size"),
    "industry": gettext_lazy("Industry"),
    "language": gettext_lazy("Language"),
    "owner__name": gettext_lazy("Owner"),
    "pool__name": gettext_lazy("Pool"),
    "rule__name": gettext_lazy("Rule"),
    "priority": gettext_lazy("Priority"),
    "sla_policy__name": gettext_lazy("SLA policy"),
    "sla_due_at": gettext_lazy("SLA due"),
    "first_response_at": gettext_lazy("First response"),
    "system_delay_seconds": gettext_lazy("System delay (s)"),
    "rep_delay_seconds": gettext_lazy("Rep delay (s)"),
    "rep_delay_business_minutes": gettext_lazy("Rep delay (business min)"),
}


def dashboard_leads_csv(request):
    """The period's leads (same filters as the dashboard) as CSV, streamed: memory stays flat for any number."""
    _require_lead_view(request)
    _form, scope = _scope(request)
    headers = [str(LEAD_CSV_HEADERS[name]) for name in LEAD_CSV_FIELDS]
    return _csv_response(name="leads", scope=scope, headers=headers, rows=leads_for_export(scope).iterator(chunk_size=2000))


@login_required
def wall_page(request):
    """The office TV: leads past their SLA (red), due within 15 minutes (amber), unassigned, today's speed to lead,
    each rep's load and status. Staff or whoever may view leads; refreshes itself."""
    user = request.user
    if not (user.is_staff or user.has_perm("routing.view_lead")):
        raise PermissionDenied
    w = wall(now=timezone.now())
    for lead in w.breached:
        lead.late_text = duration_text(lead.minutes_late)
    for lead in w.due_soon:
        lead.left_text = duration_text(lead.minutes_left)
    for lead in w.unassigned:
        lead.waiting_text = duration_text(lead.minutes_waiting)
    return render(request, "dashboard/wall.html", {"w": w, "refresh": WALL_REFRESH_SECONDS})
