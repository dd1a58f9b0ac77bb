"""Reading one value of a routing document: typed, checked, and resolved (flows.routing_setup.read reads the sections).

`Reader` reads one value at a time and notes each problem with where it is ("rules[3] “VIP”: ..."); it never stops
at a problem, so one pass lists them all. `Refs` resolves the names an item refers to (a rep's e-mail, a pool, a
domain list, a channel, a calendar) against the document and the database.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import time
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from notifications.models import Channel
from reps.csv_files import domain_is_valid, domain_normalise
from reps.models import DomainList, Pool, Rep
from sla.models import BusinessCalendar

Item = dict[str, Any]


def max_length(model: type[models.Model], field: str) -> int:
    return model._meta.get_field(field).max_length


class Reader:
    """Reads the document's values, noting every problem with where it is ("rules[3] “VIP”: target_rep ...")."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def items(self, document: dict[str, Any], section: str) -> list[tuple[str, Item]]:
        value = document.get(section, [])
        if not isinstance(value, list):
            self.problem(section, _("must be a list"))
            return []
        out = []
        for i, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            where = f"{section}[{i}]" + (f" “{name}”" if isinstance(name, str) and name else "")
            if not isinstance(item, dict):
                self.problem(where, _("must be an object"))
                continue
            out.append((where, item))
        return out

    def sub_items(self, item: Item, key: str, where: str) -> list[tuple[str, Item]]:
        value = item.get(key, [])
        if not isinstance(value, list):
            self.problem(f"{where}.{key}", _("must be a list"))
            return []
        out = []
        for i, sub in enumerate(value):
            if isinstance(sub, dict):
                out.append((f"{where}.{key}[{i}]", sub))
            else:
                self.problem(f"{where}.{key}[{i}]", _("must be an object"))
        return out

    def text(self, item: Item, key: str, where: str, *, required: bool = False, max_length: int | None = None, null: bool = False) -> str | None:
        value = item.get(key)
        if value is None:
            if required:
                self.problem(where, _("“%(key)s” is required") % {"key": key})
            return None if null else ""
        if not isinstance(value, str):
            self.problem(where, _("“%(key)s” must be text") % {"key": key})
            return None if null else ""
        value = value.strip() if key == "name" else value
        if required and not value:
            self.problem(where, _("“%(key)s” must not be empty") % {"key": key})
        if max_length and len(value) > max_length:
            self.problem(where, _("“%(key)s” is longer than %(max)d characters") % {"key": key, "max": max_length})
        return value

    def number(self, item: Item, key: str, where: str, *, null: bool = False, default: int | None = None, maximum: int = 2_147_483_647) -> int | None:
        value = item.get(key, default)
        if value is None:
            if not null:
                self.problem(where, _("“%(key)s” is required") % {"key": key})
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.problem(where, _("“%(key)s” must be a whole number from 0 to %(max)d") % {"key": key, "max": maximum})
            return default
        return value

    def flag(self, item: Item, key: str, where: str, *, default: bool) -> bool:
        value = item.get(key, default)
        if not isinstance(value, bool):
            self.problem(where, _("“%(key)s” must be true or false") % {"key": key})
            return default
        return value

    def choice(self, item: Item, key: str, where: str, choices: Collection[str], *, null: bool = False, blank: bool = False, default: Any = None) -> Any:
        value = item.get(key, default)
        if value is None and null:
            return None
        if value == "" and blank:
            return ""
        if value not in choices:
            self.problem(where, _("“%(key)s” must be one of %(choices)s, not %(value)r") % {"key": key, "choices": ", ".join(choices), "value": value})
            return None
        return value

    def mapping(self, item: Item, key: str, where: str) -> dict[str, Any]:
        value = item.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, _("“%(key)s” must be an object") % {"key": key})
            return {}
        return value

    def strings(self, item: Item, key: str, where: str) -> list[str]:
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(where, _("“%(key)s” must be a list of text") % {"key": key})
            return []
        return [v.strip() for v in value if v.strip()]

    def clock(self, item: Item, key: str, where: str, *, null: bool = False) -> time | None:
        value = item.get(key)
        if value is None and null:
            return None
        try:
            return time.fromisoformat(value)
        except (TypeError, ValueError):
            self.problem(where, _("“%(key)s” must be a time such as 08:00") % {"key": key})
            return None

    def domains(self, item: Item, key: str, where: str) -> list[str]:
        """Normalised domains, in order; a value that is not a domain is a problem."""
        out = []
        for text in self.strings(item, key, where):
            domain = domain_normalise(text)
            if domain_is_valid(domain):
                out.append(domain)
            else:
                self.problem(where, _("“%(value)s” is not a domain") % {"value": text})
        return out


class Refs:
    """Names the document may refer to: what it defines, plus what the database already has."""

    def __init__(self, document: dict[str, Any], reader: Reader) -> None:
        self.reader = reader
        self.reps = {r.email.lower(): r for r in Rep.objects.all()}

        def names(section: str, model: type[models.Model]) -> set[str]:
            in_doc = {i.get("name") for i in document.get(section, []) or [] if isinstance(i, dict)}
            return in_doc | set(model.objects.values_list("name", flat=True))

        self.pools = names("pools", Pool)
        self.lists = names("domain_lists", DomainList)
        self.channels = names("channels", Channel)
        self.calendars = names("calendars", BusinessCalendar)

    def rep(self, item: Item, key: str, where: str, *, required: bool = False) -> str | None:
        email = item.get(key)
        if email in (None, ""):
            if required:
                self.reader.problem(where, _("“%(key)s” (a rep's e-mail) is required") % {"key": key})
            return None
        if not isinstance(email, str) or email.lower() not in self.reps:
            self.reader.problem(
                where,
                _("no rep has the e-mail “%(email)s” in this database (create the reps first: manage.py import_csv reps FILE)") % {"email": email},
            )
            return None
        return email.lower()

    def named(self, item: Item, key: str, where: str, known: set[str], what: str, *, required: bool = False) -> str | None:
        name = item.get(key)
        if name in (None, ""):
            if required:
                self.reader.problem(where, _("“%(key)s” is required") % {"key": key})
            return None
        if name not in known:
            self.reader.problem(where, _("there is no %(what)s named “%(name)s”") % {"what": what, "name": name})
            return None
        return name
