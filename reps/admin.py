"""Admin of the reps app: reps and their absences, pools with ordered members, territories, accounts, domain lists;
vocabularies (regions and industries with their spellings) in reps/admin_vocabularies.py.

Territories, reps, accounts and domain lists have CSV import (upload -> preview with the diff -> confirm) and
export with the same resources as `manage.py import_csv` / `export_csv` (reps/resources/). The on-duty rota
is registered by the SLA app's admin.

Writes beyond a plain form save go through reps/services.py: the status edited on the reps list
(`rep_status_set`) and the routing-fallback flag of a pool (`pool_fallback_set`). A postal range is checked
against other owners' territories by `reps.selectors.postal_range_conflicts` (the rule: reps/postal_ranges.py).
"""

from __future__ import annotations

from typing import Any

from adminsortable2.admin import SortableAdminBase, SortableTabularInline
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, URLField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from import_export.admin import ImportExportModelAdmin
from import_export.results import Result

from core.text import fold, format_postal_code, postal_code_number
from reps.csv_files import CsvFileError, SpreadsheetCsv, domain_is_valid, domain_normalise
from reps.domain_packages import builtin_domains, builtin_source
from reps.models import (
    NOTIFY_EXTRA_KINDS,
    Absence,
    Account,
    AccountDomain,
    DomainList,
    DomainListEntry,
    Pool,
    PoolMembership,
    PostalRange,
    Rep,
    RepDayLoad,
    Territory,
    TerritoryCity,
    TerritoryRegion,
)
from reps.pool_overview import pool_loads_today, pool_next_rep
from reps.postal_ranges import postal_range_format
from reps.resources import AccountResource, DomainResource, RepResource, TerritoryResource, import_result_lines
from reps.selectors import postal_range_conflicts
from reps.services import pool_fallback_set, rep_status_set

# ---------------------------------------------------------------------------------------------- CSV import/export


class CsvImportExportAdmin(ImportExportModelAdmin):
    """CSV only (UTF-8 or Windows-1250, `;` or `,`), all or nothing, errors by spreadsheet line."""

    formats = [SpreadsheetCsv]
    import_template_name = "admin/reps/csv_import.html"
    skip_admin_log = True  # one log entry per row of a 30 000-row file is noise, not an audit trail

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def add_data_read_fail_error_to_form(self, form: forms.Form, e: Exception) -> None:
        if isinstance(e, CsvFileError):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def process_result(self, result: Result, request: HttpRequest) -> HttpResponse:
        # The confirm step imports again; if the data changed meanwhile and a row now fails, nothing was saved.
        if result.has_errors() or result.has_validation_errors():
            for line in import_result_lines(result)[:50]:
                messages.error(request, line)
            messages.error(request, _("Nothing was imported: fix the rows above and upload the file again."))
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import", current_app=self.admin_site.name))
        return super().process_result(result, request)


# ---------------------------------------------------------------------------------------------- reps


class AbsenceInline(admin.TabularInline):
    model = Absence
    extra = 0
    fields = ["starts_on", "ends_on", "reason", "source"]
    readonly_fields = ["source"]


class PoolMembershipOfRepInline(admin.TabularInline):
    model = PoolMembership
    extra = 0
    fields = ["pool", "position", "weight"]
    verbose_name = _("pool")
    verbose_name_plural = _("pools")


class RepStatusListForm(forms.ModelForm):
    """The status column edited on the reps list: saved through `rep_status_set`, nothing else of the rep."""

    class Meta:
        model = Rep
        fields = ["status"]


@admin.register(Rep)
class RepAdmin(CsvImportExportAdmin):
    resource_classes = [RepResource]
    list_display = ["name", "email", "status", "pool_list", "daily_cap", "is_team_lead", "is_active"]  # fits 1400 px
    list_filter = ["status", "is_active", "is_team_lead", "memberships__pool"]
    search_fields = ["name", "email", "user__username", "phone"]
    list_editable = ["status"]
    raw_id_fields = ["user"]
    formfield_overrides = {URLField: {"assume_scheme": "https"}}  # the calendar address
    inlines = [AbsenceInline, PoolMembershipOfRepInline]
    fieldsets = [
        (None, {"fields": ["user", "name", "email", "phone", "slack_member_id", "languages", "calendar_url"]}),
        (_("Routing"), {"fields": ["status", "status_until", "is_active", "weight", "daily_cap", "is_team_lead", "notify_via"]}),
        (_("Notifications"), {"fields": ["notify_noncritical", "notify_language", "notify_time_zone"]}),
    ]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> forms.Field | None:
        if db_field.name == "notify_noncritical":  # a list of channel kinds: ticked boxes, not JSON typed by hand
            return forms.MultipleChoiceField(
                label=db_field.verbose_name, help_text=db_field.help_text, choices=NOTIFY_EXTRA_KINDS, required=False, widget=forms.CheckboxSelectMultiple
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rep]:
        return super().get_queryset(request).prefetch_related("memberships__pool")

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> type[forms.ModelForm]:
        kwargs.setdefault("form", RepStatusListForm)
        return super().get_changelist_form(request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Rep, form: forms.ModelForm, change: bool) -> None:
        if isinstance(form, RepStatusListForm):
            rep_status_set(rep=obj, status=form.cleaned_data["status"])
            return
        super().save_model(request, obj, form, change)

    @admin.display(description=_("pools"))
    def pool_list(self, rep: Rep) -> str:
        return ", ".join(m.pool.name for m in rep.memberships.all())


@admin.register(Absence)
class AbsenceAdmin(admin.ModelAdmin):
    list_display = ["rep", "starts_on", "ends_on", "reason", "source"]
    list_filter = ["source", "rep", "starts_on"]
    search_fields = ["rep__name", "rep__email", "reason"]
    date_hierarchy = "starts_on"
    autocomplete_fields = ["rep"]


# ---------------------------------------------------------------------------------------------- pools


class PoolMembershipInline(SortableTabularInline):
    """Members in round-robin order: drag to reorder."""

    model = PoolMembership
    extra = 0
    fields = ["rep", "weight"]
    autocomplete_fields = ["rep"]


class PoolForm(forms.ModelForm):
    """The routing-fallback tick box is a plain form field: ticking it on a second pool moves the flag there
    (`pool_fallback_set`) instead of failing the model's one-fallback-pool check, as a model field would."""

    is_fallback = forms.BooleanField(
        required=False, label=Pool._meta.get_field("is_fallback").verbose_name, help_text=Pool._meta.get_field("is_fallback").help_text
    )

    class Meta:
        model = Pool
        fields = ["name", "strategy", "fallback_rep"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("is_fallback", self.instance.is_fallback)
        if "strategy" in self.fields:
            self.fields["strategy"].required = False  # not sent (an older form, a script): the pool keeps its own

    def clean_strategy(self) -> str:
        return self.cleaned_data.get("strategy") or self.instance.strategy or Pool.Strategy.ROUND_ROBIN


@admin.register(Pool)
class PoolAdmin(SortableAdminBase, admin.ModelAdmin):
    form = PoolForm
    list_display = ["name", "strategy", "member_count", "next_in_turn", "fallback_rep", "is_fallback"]
    list_filter = ["is_fallback", "strategy"]
    search_fields = ["name", "memberships__rep__name"]
    autocomplete_fields = ["fallback_rep"]
    fields = ["name", "strategy", "fallback_rep", "is_fallback", "next_in_turn", "loads_today"]
    readonly_fields = ["next_in_turn", "loads_today"]
    exclude = ["is_fallback"]  # not as the model's field: PoolForm's own tick box of that name (see PoolForm)
    inlines = [PoolMembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pool]:
        return super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, pool: Pool) -> int:
        return pool.member_count

    @admin.display(description=_("next in turn"))
    def next_in_turn(self, pool: Pool) -> str:
        if pool.pk is None:
            return "—"
        name, _lines = pool_next_rep(pool=pool)
        return name or str(_("nobody can take a lead now"))

    @admin.display(description=_("load today"))
    def loads_today(self, pool: Pool) -> str:
        if pool.pk is None:
            return "—"
        rows = pool_loads_today(pool=pool)
        if not rows:
            return "—"
        least_open = pool.strategy == Pool.Strategy.LEAST_OPEN
        return format_html_join(
            "",
            "<div>{}: {}{}{}</div>",
            (
                (
                    row.name,
                    f"{row.assigned} / {row.daily_cap}" if row.daily_cap is not None else row.assigned,
                    ", " + str(_("open leads: %(count)s") % {"count": row.open_leads}) if least_open else "",
                    f" ({row.unavailable})" if row.unavailable else "",
                )
                for row in rows
            ),
        )

    def save_model(self, request: HttpRequest, obj: Pool, form: forms.ModelForm, change: bool) -> None:
        # Only one pool can be the fallback: the service moves the flag here, under a lock, once the pool is saved.
        obj.is_fallback = False
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("is_fallback"):
            pool_fallback_set(pool=obj)


# ---------------------------------------------------------------------------------------------- territories


class KeyedNameForm(forms.ModelForm):
    """Regions and cities: the routing matches on fold(name), filled here."""

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("name"):
            key = fold(cleaned["name"])
            if len(key) > TerritoryRegion._meta.get_field("key").max_length:
                raise forms.ValidationError(_("The name is too long."))
            self.instance.key = key
        return cleaned


class TerritoryRegionInline(admin.TabularInline):
    model = TerritoryRegion
    form = KeyedNameForm
    fields = ["name"]
    extra = 0


class TerritoryCityInline(admin.TabularInline):
    model = TerritoryCity
    form = KeyedNameForm
    fields = ["name"]
    extra = 0


class PostalCodeField(forms.CharField):
    """A Polish postal code typed as 40-000 (or 40000), stored as the number 40000."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int):
            return format_postal_code(value)
        return value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]  # a number, not the text
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        number = postal_code_number(value)
        if number is None:
            raise ValidationError(_("Write a postal code as 40-000."), code="invalid")
        return number


class PostalRangeForm(forms.ModelForm):
    start = PostalCodeField(label=_("from"), widget=forms.TextInput(attrs={"size": 8}))
    end = PostalCodeField(label=_("to"), widget=forms.TextInput(attrs={"size": 8}), required=False, help_text=_("Empty: just the one code"))

    class Meta:
        model = PostalRange
        fields = ["start", "end"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is not None and end is None:
            cleaned["end"] = end = start
            self.instance.end = start
        if start is not None and end is not None and end < start:
            raise ValidationError(_("The range ends before it starts."))
        return cleaned


class PostalRangeFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """A postal code must lead to one owner: no overlap with another owner's territory."""
        super().clean()
        kept = [
            form
            for form in self.forms
            if hasattr(form, "cleaned_data") and not form.errors and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("start") is not None
        ]
        ranges = [(form.cleaned_data["start"], form.cleaned_data["end"]) for form in kept]
        conflicts = postal_range_conflicts(territory=self.instance, ranges=ranges)
        for i, form in enumerate(kept):
            start, end = ranges[i]
            for clash in conflicts.get(i, []):
                form.add_error(
                    None,
                    _("%(range)s overlaps %(other)s of the territory “%(territory)s”, which has another owner (%(owner)s).")
                    % {
                        "range": postal_range_format(start, end),
                        "other": postal_range_format(clash.start, clash.end),
                        "territory": clash.territory.name,
                        "owner": clash.territory.owner_label,
                    },
                )


class PostalRangeInline(admin.TabularInline):
    model = PostalRange
    form = PostalRangeForm
    formset = PostalRangeFormSet
    extra = 0


class TerritoryForm(forms.ModelForm):
    class Meta:
        model = Territory
        fields = ["name", "owner_rep", "owner_pool"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if bool(cleaned.get("owner_rep")) == bool(cleaned.get("owner_pool")):
            raise ValidationError(_("Choose one owner: a rep or a pool."))
        return cleaned


@admin.register(Territory)
class TerritoryAdmin(CsvImportExportAdmin):
    resource_classes = [TerritoryResource]
    form = TerritoryForm
    list_display = ["name", "owner_label", "region_list", "postal_code_list"]
    list_filter = ["owner_rep", "owner_pool"]
    search_fields = ["name", "regions__name", "cities__name"]
    autocomplete_fields = ["owner_rep", "owner_pool"]
    inlines = [TerritoryRegionInline, TerritoryCityInline, PostalRangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Territory]:
        return super().get_queryset(request).select_related("owner_rep", "owner_pool").prefetch_related("regions", "postal_ranges")

    @admin.display(description=_("owner"))
    def owner_label(self, territory: Territory) -> str:
        return territory.owner_label

    @admin.display(description=_("regions"))
    def region_list(self, territory: Territory) -> str:
        return ", ".join(r.name for r in territory.regions.all())

    @admin.display(description=_("postal codes"))
    def postal_code_list(self, territory: Territory) -> str:
        return ", ".join(str(p) for p in sorted(territory.postal_ranges.all(), key=lambda p: p.start))


# ---------------------------------------------------------------------------------------------- accounts


class DomainForm(forms.ModelForm):
    """Domains as the routing compares them: lower-case, no "@"."""

    def clean_domain(self) -> str:
        domain = domain_normalise(self.cleaned_data["domain"])
        if not domain_is_valid(domain):
            raise ValidationError(_("Write a domain such as firma.pl."))
        return domain


class AccountDomainInline(admin.TabularInline):
    model = AccountDomain
    form = DomainForm
    extra = 0


@admin.register(Account)
class AccountAdmin(CsvImportExportAdmin):
    resource_classes = [AccountResource]
    list_display = ["name", "manager", "domain_list"]
    list_filter = ["manager"]
    search_fields = ["name", "domains__domain", "manager__name"]
    autocomplete_fields = ["manager"]
    inlines = [AccountDomainInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).select_related("manager").prefetch_related("domains")

    @admin.display(description=_("domains"))
    def domain_list(self, account: Account) -> str:
        return ", ".join(d.domain for d in account.domains.all())


# ---------------------------------------------------------------------------------------------- domain lists


class DomainListEntryInline(admin.TabularInline):
    model = DomainListEntry
    form = DomainForm
    fields = ["domain", "is_exception"]
    extra = 0


@admin.register(DomainList)
class DomainListAdmin(CsvImportExportAdmin):
    """The CSV has one row per domain (list,domain); importing adds domains, and creates unknown lists as custom.

    A list built on a package (`builtin`) shows how many domains the package gives it; the manager adds domains of
    their own below and removes a package's domain with an entry marked as an exception."""

    resource_classes = [DomainResource]
    list_display = ["name", "kind", "builtin_size", "entry_count", "exception_count"]
    list_filter = ["kind", "builtin"]
    search_fields = ["name", "entries__domain"]
    fields = ["name", "kind", "builtin", "builtin_size"]
    readonly_fields = ["builtin_size"]
    inlines = [DomainListEntryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DomainList]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                entry_count=Count("entries", filter=Q(entries__is_exception=False), distinct=True),
                exception_count=Count("entries", filter=Q(entries__is_exception=True), distinct=True),
            )
        )

    @admin.display(description=_("own domains"), ordering="entry_count")
    def entry_count(self, domain_list: DomainList) -> int:
        return domain_list.entry_count

    @admin.display(description=_("exceptions"), ordering="exception_count")
    def exception_count(self, domain_list: DomainList) -> int:
        return domain_list.exception_count

    @admin.display(description=_("built-in domains"))
    def builtin_size(self, domain_list: DomainList) -> str:
        if not domain_list.pk or not domain_list.builtin:
            return "—"
        count = len(builtin_domains(domain_list.builtin))
        return ngettext("%(count)s domain from %(source)s", "%(count)s domains from %(source)s", count) % {
            "count": f"{count:,}".replace(",", "\u00a0"),
            "source": builtin_source(domain_list.builtin),
        }


@admin.register(RepDayLoad)
class RepDayLoadAdmin(admin.ModelAdmin):
    """Pool leads per rep and day: the counter the daily cap is checked against (read-only)."""

    list_display = ["day", "rep", "assigned"]
    list_filter = ["rep", "day"]
    date_hierarchy = "day"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RepDayLoad | None = None) -> bool:
        return False


from reps import admin_vocabularies  # noqa: E402, F401  (registers the vocabularies' admin)
