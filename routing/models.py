import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.messages import Message
from core.models import ConditionBase, Match
from routing.fields import MessagesField


class IntakeSource(models.Model):
    """Where leads come from ("Website form", "Zapier"); owns one API token, stored only as a hash."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(_("token starts with"), max_length=12, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    reads_all_leads = models.BooleanField(
        _("reads every source's leads"),
        default=False,
        help_text=_("For a CRM sync: read and log activities on leads from every source. Otherwise only on its own leads."),
    )
    honeypot_field = models.CharField(
        _("honeypot field"),
        max_length=64,
        blank=True,
        validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_.-]*$", _("Letters, digits, _ . - only, starting with a letter or _."))],
        help_text=_(
            "For a web form: the name of a hidden field that people leave empty (e.g. website_url). A submission with it "
            "filled in is answered as a success, but nothing is stored, routed or notified, so bots learn nothing."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("intake source")
        verbose_name_plural = _("intake sources")

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from routing.honeypot import honeypot_name_problem

        if problem := honeypot_name_problem(self.honeypot_field):
            raise ValidationError({"honeypot_field": problem})

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Priority(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class Lead(models.Model):
    class Status(models.TextChoices):
        ASSIGNED = "assigned", _("Assigned")
        DISQUALIFIED = "disqualified", _("Disqualified")
        UNASSIGNED = "unassigned", _("Unassigned")
        CONTACTED = "contacted", _("Contacted")

    intake_source = models.ForeignKey(IntakeSource, on_delete=models.PROTECT, related_name="leads", verbose_name=_("intake source"))
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, editable=False)
    external_id = models.CharField(_("external ID"), max_length=200, null=True, blank=True)

    # Contract fields, as given (trimmed).
    email = models.EmailField(_("e-mail"), max_length=254, db_index=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    job_title = models.CharField(_("job title"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    company_size = models.PositiveIntegerField(_("company size"), null=True, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=16, blank=True)
    country = models.CharField(_("country"), max_length=2, default="PL")
    language = models.CharField(_("language"), max_length=2, default="pl")
    source = models.SlugField(_("source"), max_length=64, blank=True)
    message = models.TextField(_("message"), max_length=10_000, blank=True)
    submitted_at = models.DateTimeField(_("submitted"))
    received_at = models.DateTimeField(_("received"), default=timezone.now, editable=False)
    extra = models.JSONField(_("extra fields"), default=dict, blank=True)

    # Normalised copies for matching (see core.text).
    email_domain = models.CharField(max_length=253, db_index=True, editable=False)
    # The whole address lower-cased: "Jan@Firma.pl" and "jan@firma.pl" are the same person for repeat leads.
    email_key = models.CharField(max_length=254, db_index=True, editable=False, default="")
    region_key = models.CharField(max_length=100, blank=True, db_index=True, editable=False)
    city_key = models.CharField(max_length=100, blank=True, db_index=True, editable=False)
    postal_code_num = models.PositiveIntegerField(null=True, blank=True, db_index=True, editable=False)

    # Routing outcome.
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.UNASSIGNED, db_index=True)
    owner = models.ForeignKey(
        "reps.Rep", on_delete=models.SET_NULL, null=True, blank=True, related_name="leads", verbose_name=_("owner")
    )
    rule = models.ForeignKey(
        "routing.Rule", on_delete=models.SET_NULL, null=True, blank=True, related_name="leads", verbose_name=_("rule")
    )
    pool = models.ForeignKey(
        "reps.Pool",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("pool"),
        help_text=_("The pool the lead came through, if any"),
    )
    explanation = MessagesField(_("explanation"), default=list, blank=True)  # lines: message codes or old plain text
    # The lead's score (core.scoring over the score rules), computed once before the routing decision.
    score = models.IntegerField(_("score"), null=True, blank=True, help_text=_("Points of the score rules the lead met"))
    score_breakdown = MessagesField(_("score breakdown"), default=list, blank=True)  # {"points", "why": a message code}
    needs_attention = models.BooleanField(
        _("needs the manager"), default=False, db_index=True, help_text=_("Nobody could be assigned, not even by the fallback")
    )
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="leads", verbose_name=_("tags"))

    # SLA clock.
    priority = models.CharField(_("priority"), max_length=16, choices=Priority.choices, null=True, blank=True)
    sla_policy = models.ForeignKey(
        "sla.SlaPolicy", on_delete=models.SET_NULL, null=True, blank=True, related_name="leads", verbose_name=_("SLA policy")
    )
    sla_due_at = models.DateTimeField(_("SLA due"), null=True, blank=True)
    sla_next_step_at = models.DateTimeField(_("next escalation step"), null=True, blank=True, editable=False)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    # Speed to lead in parts: system delay (submitted -> assigned), rep delay (assigned -> first response).
    system_delay_seconds = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    rep_delay_seconds = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    rep_delay_business_minutes = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.UniqueConstraint(
                fields=["intake_source", "idempotency_key"], condition=Q(idempotency_key__isnull=False), name="lead_idempotency_key_once"
            ),
            models.UniqueConstraint(
                fields=["intake_source", "external_id"], condition=Q(external_id__isnull=False), name="lead_external_id_once"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["sla_next_step_at"], condition=Q(sla_next_step_at__isnull=False), name="lead_sla_next_step"),
            models.Index(fields=["email", "received_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.email}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class LeadEvent(models.Model):
    """Append-only history of a lead."""

    class Type(models.TextChoices):
        RECEIVED = "received", _("Received")
        ASSIGNED = "assigned", _("Assigned")
        DISQUALIFIED = "disqualified", _("Disqualified")
        UNASSIGNED = "unassigned", _("Left unassigned")
        REMINDER = "reminder", _("Reminder")
        REASSIGNED = "reassigned", _("Reassigned")
        ESCALATED = "escalated", _("Escalated")
        FIRST_RESPONSE = "first_response", _("First response")
        ACTIVITY = "activity", _("Activity")
        NOTIFICATION = "notification", _("Notification")
        ACTION = "action", _("Action")
        AUTORESPONSE = "autoresponse", _("Autoresponse")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(_("type"), max_length=32, choices=Type.choices)
    at = models.DateTimeField(_("at"))
    rep = models.ForeignKey("reps.Rep", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("rep"))
    detail = models.TextField(_("detail"), blank=True)  # as written, in the writer's language (search, old rows)
    detail_message = MessagesField(null=True, blank=True, editable=False)  # the same as a message code, for the reader
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("lead event")
        verbose_name_plural = _("lead events")
        indexes = [models.Index(fields=["lead", "at"])]

    def __str__(self) -> str:
        return f"{self.type} @ {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        self.detail_keep_code()
        super().save(*args, **kwargs)

    def detail_keep_code(self) -> None:
        """A detail written with core.messages keeps its code for the reader's language (save() does this; call it
        before a bulk_create, which does not call save())."""
        if isinstance(self.detail, Message):
            self.detail_message = self.detail


class Activity(models.Model):
    """A rep's contact with the lead (call, e-mail, meeting) or a note."""

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        EMAIL = "email", _("E-mail")
        MEETING = "meeting", _("Meeting")
        NOTE = "note", _("Note")

    RESPONSE_KINDS = (Kind.CALL, Kind.EMAIL, Kind.MEETING)

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    at = models.DateTimeField(_("at"))
    rep = models.ForeignKey("reps.Rep", on_delete=models.SET_NULL, null=True, blank=True, related_name="activities")
    outcome = models.TextField(_("outcome"), blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"


class Task(models.Model):
    """A to-do for a rep about a lead (e.g. "Propose an in-person meeting")."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    assignee = models.ForeignKey("reps.Rep", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks")
    title = models.CharField(_("title"), max_length=200)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")

    def __str__(self) -> str:
        return self.title


class RuleTable(models.Model):
    """One version of the rule table: the live one routes leads, a draft is being edited, archived ones were live once.

    Exactly one table is live (a partial unique constraint) and at most one is a draft. Publishing a draft archives
    the live table and makes the draft live in one transaction (routing.services.rule_tables).
    """

    class Status(models.TextChoices):
        LIVE = "live", _("Live")
        DRAFT = "draft", _("Draft")
        ARCHIVED = "archived", _("Archived")

    status = models.CharField(_("status"), max_length=8, choices=Status.choices, db_index=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    note = models.TextField(_("note"), blank=True, help_text=_("What this change is for, in a sentence"))
    based_on = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("copied from"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("published by")
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        verbose_name = _("rule table version")
        verbose_name_plural = _("rule table versions")
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="live"), name="one_live_rule_table"),
            models.UniqueConstraint(fields=["status"], condition=Q(status="draft"), name="one_draft_rule_table"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_status_display()})"

    @property
    def label(self) -> str:
        return self.name or str(_("version %(id)s") % {"id": self.pk})


def rule_table_live_id() -> int:
    """The live table's id, creating it when there is none (a database flushed by tests, or built without migrations).

    The default of `Rule.table`: rules created by code that knows nothing of versions land in the live table.
    """
    table = RuleTable.objects.filter(status=RuleTable.Status.LIVE).only("pk").first()
    if table is not None:
        return table.pk
    try:
        with transaction.atomic():
            return RuleTable.objects.create(status=RuleTable.Status.LIVE).pk
    except IntegrityError:  # created meanwhile by another transaction
        return RuleTable.objects.get(status=RuleTable.Status.LIVE).pk


class LiveRuleManager(models.Manager):
    """Rules of the live table: what every existing caller of `Rule.objects` means by "the rules"."""

    def get_queryset(self):
        return super().get_queryset().filter(table__status=RuleTable.Status.LIVE)


class DraftRuleManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(table__status=RuleTable.Status.DRAFT)


class Rule(models.Model):
    """One row of the ordered routing table; the first active rule whose conditions hold wins.

    `Rule.objects` holds the live table's rules only; `Rule.all_tables` every version's. Leads keep pointing at
    the row that matched them, also after its table is archived (the base manager is unfiltered).
    """

    class Target(models.TextChoices):
        REP = "rep", _("A rep")
        POOL = "pool", _("A pool (round robin)")
        TERRITORY = "territory", _("The territory's owner")
        ACCOUNT_MANAGER = "account_manager", _("The account's manager")
        PREVIOUS_OWNER = "previous_owner", _("The previous owner (repeat lead)")
        NOBODY = "nobody", _("Nobody (disqualify)")

    table = models.ForeignKey(RuleTable, on_delete=models.PROTECT, default=rule_table_live_id, related_name="rules", verbose_name=_("table version"))
    lineage = models.UUIDField(
        _("lineage"), default=uuid.uuid4, editable=False, help_text=_("The same rule in every version of the table carries the same value")
    )
    name = models.CharField(_("name"), max_length=150)
    position = models.PositiveIntegerField(_("order"), default=0, db_index=True)
    is_active = models.BooleanField(_("active"), default=True)
    match = models.CharField(_("match"), max_length=3, choices=Match.choices, default=Match.ALL)
    target = models.CharField(_("assign to"), max_length=20, choices=Target.choices)
    target_rep = models.ForeignKey("reps.Rep", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("rep"))
    target_pool = models.ForeignKey("reps.Pool", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("pool"))
    hits = models.PositiveIntegerField(_("hits"), default=0, editable=False)
    last_hit_at = models.DateTimeField(_("last hit"), null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = LiveRuleManager()
    all_tables = models.Manager()  # noqa: DJ012 - a manager, not a field (every version's rules)

    class Meta:
        ordering = ["position", "id"]
        base_manager_name = "all_tables"
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        constraints = [models.UniqueConstraint(fields=["table", "lineage"], name="rule_lineage_once_per_table")]

    def __str__(self) -> str:
        return self.name


class DraftRule(Rule):
    """The draft table's rules, for their own admin page (same form, inlines and drag-and-drop as the live ones)."""

    objects = DraftRuleManager()

    class Meta:
        proxy = True
        verbose_name = _("draft rule")
        verbose_name_plural = _("draft rules")


class RuleCondition(ConditionBase):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="conditions")

    class Meta(ConditionBase.Meta):
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")


class RuleAction(models.Model):
    """Something done when the rule matches, carried out through the notifications outbox."""

    class Kind(models.TextChoices):
        NOTIFY = "notify", _("Notify")
        EMAIL_LEAD = "email_lead", _("E-mail the lead")
        TASK = "task", _("Create a task for the owner")
        NOTE = "note", _("Add a note")
        TAG = "tag", _("Add a tag")
        WEBHOOK = "webhook", _("Call a webhook")
        CLOSE = "close", _("Close the lead")

    class Recipient(models.TextChoices):
        OWNER = "owner", _("The owner")
        TEAM_LEAD = "team_lead", _("The team lead")
        MANAGEMENT = "management", _("Management")
        REP = "rep", _("A named rep")
        CHANNEL = "channel", _("The channel itself")

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveIntegerField(_("order"), default=0)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    channel = models.ForeignKey("notifications.Channel", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("channel"))
    recipient = models.CharField(_("recipient"), max_length=16, choices=Recipient.choices, blank=True)
    recipient_rep = models.ForeignKey("reps.Rep", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("rep"))
    template = models.CharField(_("template"), max_length=100, blank=True, help_text=_("Message template name"))
    text = models.TextField(_("text"), blank=True, help_text=_("Task title, note text, tag name or message"))
    config = models.JSONField(_("options"), default=dict, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("action")
        verbose_name_plural = _("actions")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.text or self.template}".strip()


class RuleChange(models.Model):
    """Who changed which rule, when, and what changed."""

    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes")
    table = models.ForeignKey(RuleTable, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes")
    rule_name = models.CharField(max_length=150)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=16)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("rule change")
        verbose_name_plural = _("rule changes")

    def __str__(self) -> str:
        return f"{self.rule_name} {self.action} {self.at:%Y-%m-%d %H:%M}"


class ScoreRule(models.Model):
    """Points a lead gets when the conditions hold (negative points take some away); the points of every active
    score rule that holds are summed into the lead's score (core.scoring), which routing rules can test.

    Score rules are one list, not versioned with the rule table: live and draft rules both see the same score.
    """

    name = models.CharField(_("name"), max_length=150)
    points = models.IntegerField(_("points"), help_text=_("Added to the score when the conditions hold; negative points take some away"))
    position = models.PositiveIntegerField(_("order"), default=0, db_index=True)
    is_active = models.BooleanField(_("active"), default=True)
    match = models.CharField(_("match"), max_length=3, choices=Match.choices, default=Match.ALL)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("score rule")
        verbose_name_plural = _("score rules")

    def __str__(self) -> str:
        return self.name


class ScoreCondition(ConditionBase):
    score_rule = models.ForeignKey(ScoreRule, on_delete=models.CASCADE, related_name="conditions", verbose_name=_("score rule"))

    class Meta(ConditionBase.Meta):
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
