"""Shared condition fields: one test on a lead, as rule and SLA policy conditions store it (abstract).

The values of `ConditionBase.Operator` are the operators of `core.engine`; the engine repeats them as plain
constants so it stays free of the ORM.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Match(models.TextChoices):
    ALL = "all", _("All conditions")
    ANY = "any", _("Any condition")


class ConditionBase(models.Model):
    """One test on a lead; shared by routing rules and SLA policies. Evaluated by core.engine."""

    class Operator(models.TextChoices):
        EQUALS = "equals", _("equals")
        NOT_EQUALS = "not_equals", _("does not equal")
        IN = "in", _("is one of")
        WORDS = "words", _("has any of the words")
        CONTAINS = "contains", _("contains any of the texts")
        STARTS_WITH = "starts_with", _("starts with")
        GT = "gt", ">"
        GTE = "gte", "≥"
        LT = "lt", "<"
        LTE = "lte", "≤"
        EMPTY = "empty", _("is empty")
        NOT_EMPTY = "not_empty", _("is not empty")
        IN_DOMAIN_LIST = "in_domain_list", _("e-mail domain is in list")
        IS_ACCOUNT = "is_account", _("e-mail domain belongs to an account")
        IS_REPEAT = "is_repeat", _("is a repeat lead")
        IN_TERRITORY = "in_territory", _("is in a territory")

    field = models.CharField(
        _("field"),
        max_length=100,
        blank=True,
        help_text=_('A lead field (e.g. "job_title") or "extra.<key>"; not needed for list/account/repeat/territory tests'),
    )
    operator = models.CharField(_("operator"), max_length=20, choices=Operator.choices)
    value = models.TextField(_("value"), blank=True, help_text=_('For lists and keywords: values separated by ";"'))
    domain_list = models.ForeignKey("reps.DomainList", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("domain list"))

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.field} {self.get_operator_display()} {self.value or self.domain_list or ''}".strip()
