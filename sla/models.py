from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import ConditionBase, Match
from routing.models import Priority


class BusinessCalendar(models.Model):
    """When the SLA clock runs: weekly opening hours in a time zone, minus public holidays."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Warsaw")
    holidays_country = models.CharField(
        _("public holidays of"), max_length=2, blank=True, default="PL", help_text=_("ISO country code; empty: no public holidays")
    )
    # Moves on every save (the admin saves it with its inlines): the version of the intake's cached copy.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")

    def __str__(self) -> str:
        return self.name


class OpeningHours(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(
        _("weekday"),
        choices=[(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")), (4, _("Friday")), (5, _("Saturday")), (6, _("Sunday"))],
    )
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        constraints = [models.CheckConstraint(condition=Q(closes__gt=models.F("opens")), name="opening_closes_after_opens")]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class CalendarDay(models.Model):
    """The manager's own exceptions: a closed day, or an extra open day with its hours."""

    class Kind(models.TextChoices):
        CLOSED = "closed", _("Closed")
        OPEN = "open", _("Open")

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="days")
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    opens = models.TimeField(_("opens"), null=True, blank=True)
    closes = models.TimeField(_("closes"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("closed or extra open day")
        verbose_name_plural = _("closed and extra open days")
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="calendar_day_once")]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"


class SlaPolicy(models.Model):
    """First-response target for the leads its conditions match; first active match wins."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(_("order"), default=0, db_index=True)
    is_active = models.BooleanField(_("active"), default=True)
    match = models.CharField(_("match"), max_length=3, choices=Match.choices, default=Match.ALL)
    priority = models.CharField(_("priority"), max_length=16, choices=Priority.choices, null=True, blank=True)
    response_minutes = models.PositiveIntegerField(
        _("first response within (business minutes)"), null=True, blank=True, help_text=_("Empty: no clock, autoresponse only")
    )
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="policies", verbose_name=_("calendar"))
    autoresponse_template = models.CharField(_("autoresponse"), max_length=100, blank=True)
    # Moves on every save (the admin saves it with its inlines): the version of the intake's cached copy.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name


class PolicyCondition(ConditionBase):
    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="conditions")

    class Meta(ConditionBase.Meta):
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")


class EscalationStep(models.Model):
    class Kind(models.TextChoices):
        REMIND = "remind", _("Remind the owner")
        REASSIGN = "reassign", _("Reassign")
        ALERT_TEAM_LEAD = "alert_team_lead", _("Alert the team lead")
        NOTIFY_CHANNEL = "notify_channel", _("Notify a channel")

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="steps", verbose_name=_("SLA policy"))
    after_minutes = models.PositiveIntegerField(_("after (business minutes since submission)"))
    kind = models.CharField(_("do"), max_length=20, choices=Kind.choices)
    target_rep = models.ForeignKey(
        "reps.Rep",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rep"),
        help_text=_("Reassign to this rep instead of the pool's next / the on-duty rep"),
    )
    channel = models.ForeignKey("notifications.Channel", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("channel"))

    class Meta:
        ordering = ["after_minutes", "id"]
        verbose_name = _("escalation step")
        verbose_name_plural = _("escalation steps")

    def __str__(self) -> str:
        return f"{self.after_minutes} min: {self.get_kind_display()}"


class StepFiring(models.Model):
    """A step fired for a lead; the unique constraint makes a step fire at most once per lead."""

    lead = models.ForeignKey("routing.Lead", on_delete=models.CASCADE, related_name="step_firings", verbose_name=_("lead"))
    step = models.ForeignKey(EscalationStep, on_delete=models.CASCADE, related_name="firings", verbose_name=_("escalation step"))
    fired_at = models.DateTimeField(_("fired at"))
    due_at = models.DateTimeField(_("due at"))
    before_arrival = models.BooleanField(
        _("due before the lead arrived"), default=False, help_text=_("Passed over: folded into the one late-arrival notice or flag")
    )

    class Meta:
        ordering = ["fired_at"]
        verbose_name = _("fired step")
        verbose_name_plural = _("fired steps")
        constraints = [models.UniqueConstraint(fields=["lead", "step"], name="step_fires_once_per_lead")]
