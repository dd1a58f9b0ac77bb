"""Admin of the SLA app: business calendars, SLA policies with their conditions and escalation chain, the on-duty
rota, and the (read-only) record of fired steps. `SlaStateFilter` and `StepFiringInline` are for the lead admin."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from core import business_time
from core.engine import condition_errors
from reps.models import OnDutyOverride, OnDutyRota
from sla.models import BusinessCalendar, CalendarDay, EscalationStep, OpeningHours, PolicyCondition, SlaPolicy, StepFiring
from sla.selectors import calendar_build, sla_state_q

# ---------------------------------------------------------------------------------------------- the lead list


class SlaStateFilter(admin.SimpleListFilter):
    """Leads whose SLA is breached (no first response by the deadline, or a late one) or due within 15 minutes."""

    title = _("SLA")
    parameter_name = "sla"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("breached", _("Breached")), ("due_soon", _("Due within 15 minutes"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("breached", "due_soon"):
            return queryset.filter(sla_state_q(self.value(), now=timezone.now()))
        return queryset


class StepFiringInline(admin.TabularInline):
    """The escalation steps fired for a lead (for the lead admin's change page)."""

    model = StepFiring
    fields = ["step", "due_at", "fired_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = _("escalation step fired")
    verbose_name_plural = _("Escalation steps fired")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# ---------------------------------------------------------------------------------------------- calendars


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    fields = ["weekday", "opens", "closes"]
    extra = 0


class CalendarDayForm(forms.ModelForm):
    class Meta:
        model = CalendarDay
        fields = ["date", "kind", "opens", "closes", "note"]

    def clean(self) -> dict:
        data = super().clean()
        opens, closes, kind = data.get("opens"), data.get("closes"), data.get("kind")
        if kind == CalendarDay.Kind.CLOSED and (opens or closes):
            raise ValidationError(_("A closed day has no hours: leave “opens” and “closes” empty."))
        if (opens is None) != (closes is None):
            raise ValidationError(_("Give both “opens” and “closes”, or neither (then the weekday's usual hours apply)."))
        if opens is not None and closes <= opens:
            raise ValidationError(_("“closes” must be later than “opens”."))
        return data


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    form = CalendarDayForm
    fields = ["date", "kind", "opens", "closes", "note"]
    extra = 0


class BusinessCalendarForm(forms.ModelForm):
    class Meta:
        model = BusinessCalendar
        fields = ["name", "time_zone", "holidays_country"]

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"].strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(_("Unknown time zone; use an IANA name such as Europe/Warsaw.")) from None
        return value

    def clean_holidays_country(self) -> str:
        value = self.cleaned_data["holidays_country"].strip().upper()
        if value and value not in holidays_lib.list_supported_countries():
            raise ValidationError(_("No public holidays are known for this country code."))
        return value


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    form = BusinessCalendarForm
    list_display = ["name", "time_zone", "holidays_country", "week", "open_now"]
    search_fields = ["name"]
    inlines = [OpeningHoursInline, CalendarDayInline]
    readonly_fields = ["coming_closures"]
    fields = ["name", "time_zone", "holidays_country", "coming_closures"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("opening_hours", "days")

    @admin.display(description=_("Opening hours"))
    def week(self, calendar: BusinessCalendar) -> str:
        return "; ".join(str(hours) for hours in calendar.opening_hours.all()) or "—"

    @admin.display(description=_("Open now"), boolean=True)
    def open_now(self, calendar: BusinessCalendar) -> bool | None:
        try:
            return business_time.is_open(calendar_build(calendar), timezone.now())
        except ValueError:
            return None

    @admin.display(description=_("Closed days in the next 60 days"))
    def coming_closures(self, calendar: BusinessCalendar) -> str:
        if calendar.pk is None:
            return "—"
        try:
            cal = calendar_build(calendar)
        except ValueError as exc:
            return str(exc)
        today = timezone.localdate(timezone.now(), cal.zone)
        rows = []
        for offset in range(60):
            day = today + timedelta(days=offset)
            if cal.weekly[day.weekday()] and not cal.ranges_on(day):
                rows.append((day.isoformat(), _holiday_name(cal, day) or _("closed")))
        return format_html_join("", "<div>{}: {}</div>", rows) or "—"


def _holiday_name(cal: business_time.Calendar, day: date) -> str:
    holidays = cal.holidays
    return holidays.name(day) if isinstance(holidays, business_time.CountryHolidays) else ""


# ---------------------------------------------------------------------------------------------- policies


class PolicyConditionForm(forms.ModelForm):
    class Meta:
        model = PolicyCondition
        fields = ["field", "operator", "value", "domain_list"]

    def clean(self) -> dict:
        data = super().clean()
        if "operator" in data:
            errors = condition_errors(
                field=data.get("field") or "", operator=data["operator"], value=data.get("value") or "", has_domain_list=bool(data.get("domain_list"))
            )
            if errors:
                raise ValidationError(errors)
        return data


class PolicyConditionInline(admin.TabularInline):
    model = PolicyCondition
    form = PolicyConditionForm
    fields = ["field", "operator", "value", "domain_list"]
    extra = 0


class EscalationStepForm(forms.ModelForm):
    class Meta:
        model = EscalationStep
        fields = ["after_minutes", "kind", "target_rep", "channel"]

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind == EscalationStep.Kind.NOTIFY_CHANNEL and not data.get("channel"):
            self.add_error("channel", _("Choose the channel to notify."))
        if data.get("target_rep") and kind != EscalationStep.Kind.REASSIGN:
            self.add_error("target_rep", _("A rep is only used by “Reassign”."))
        return data


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    form = EscalationStepForm
    fields = ["after_minutes", "kind", "target_rep", "channel"]
    extra = 0


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = ["name", "position", "is_active", "match", "priority", "calendar", "response_minutes", "autoresponse_template"]

    def clean_response_minutes(self) -> int | None:
        value = self.cleaned_data.get("response_minutes")
        if value == 0:
            raise ValidationError(_("Give at least one minute, or leave it empty for no clock."))
        return value


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyForm
    list_display = ["name", "position", "is_active", "priority", "response", "calendar", "chain"]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "priority", "calendar"]
    search_fields = ["name"]
    inlines = [PolicyConditionInline, EscalationStepInline]
    fieldsets = [
        (None, {"fields": ["name", "position", "is_active", "priority"]}),
        (_("When"), {"fields": ["match"], "description": _("The first active policy (by order) whose conditions hold applies; no conditions: every lead.")}),
        (_("Clock"), {"fields": ["calendar", "response_minutes", "autoresponse_template"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("calendar").prefetch_related("steps")

    @admin.display(description=_("First response within"), ordering="response_minutes")
    def response(self, policy: SlaPolicy) -> str:
        if policy.response_minutes is None:
            return _("no clock")
        return _("%(minutes)d business min") % {"minutes": policy.response_minutes}

    @admin.display(description=_("Escalation"))
    def chain(self, policy: SlaPolicy) -> str:
        return " · ".join(str(step) for step in policy.steps.all()) or "—"


# ---------------------------------------------------------------------------------------------- on duty


@admin.register(OnDutyRota)
class OnDutyRotaAdmin(admin.ModelAdmin):
    list_display = ["weekday", "rep"]
    list_editable = ["rep"]
    list_display_links = ["weekday"]
    list_select_related = ["rep"]
    ordering = ["weekday"]


@admin.register(OnDutyOverride)
class OnDutyOverrideAdmin(admin.ModelAdmin):
    list_display = ["date", "rep"]
    list_select_related = ["rep"]
    date_hierarchy = "date"
    list_filter = ["rep"]


# ---------------------------------------------------------------------------------------------- the record


@admin.register(StepFiring)
class StepFiringAdmin(admin.ModelAdmin):
    """What the sweep did: read-only (a fired step is history)."""

    list_display = ["lead", "step", "policy", "due_at", "fired_at"]
    list_filter = ["step__policy", "step__kind"]
    list_select_related = ["lead", "step", "step__policy"]
    search_fields = ["lead__email"]
    date_hierarchy = "fired_at"

    @admin.display(description=_("SLA policy"), ordering="step__policy__name")
    def policy(self, firing: StepFiring) -> SlaPolicy:
        return firing.step.policy

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
