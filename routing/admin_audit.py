"""The rule audit trail in the admin, read-only: who changed which rule or version, when, and what.

The rows are written by routing.services.rules (`rule_change_record`) and routing.services.rule_tables, for edits
in the admin and for rules imported from a routing document alike.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from routing.models import RuleChange
from routing.services.rules import VIA_IMPORT


@admin.register(RuleChange)
class RuleChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "rule_name", "action", "table", "by", "summary"]
    list_filter = ["action", "at"]
    search_fields = ["rule_name", "user__username"]
    date_hierarchy = "at"
    fields = ["at", "rule", "rule_name", "table", "action", "user", "changes_shown"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RuleChange]:
        return super().get_queryset(request).select_related("user", "rule", "table")

    @admin.display(description=_("by"), ordering="user")
    def by(self, change: RuleChange) -> str:
        """The user; a change that came from a routing document says so (the command line has no user)."""
        imported = (change.changes or {}).get("via") == VIA_IMPORT
        if change.user is None:
            return str(_("routing document import")) if imported else "—"
        return f"{change.user} ({_('routing document import')})" if imported else str(change.user)

    @admin.display(description=_("what changed"))
    def summary(self, change: RuleChange) -> str:
        parts = []
        for key, value in (change.changes or {}).items():
            if key == "via":
                continue
            if key == "fields" and isinstance(value, dict):
                parts.extend(str(name) for name in value)
            elif isinstance(value, dict):
                parts.extend(f"{key} {kind}" for kind in value)
            else:
                parts.append(str(key))
        return ", ".join(parts)

    @admin.display(description=_("changes"))
    def changes_shown(self, change: RuleChange) -> SafeString | str:
        rows = []
        for key, value in (change.changes or {}).items():
            rows.append((key, json.dumps(value, ensure_ascii=False, indent=1, default=str)))
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd><pre>{}</pre></dd>", rows)) if rows else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RuleChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RuleChange | None = None) -> bool:
        return False
