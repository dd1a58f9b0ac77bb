"""The reps CSV: username,name,email,phone,pools,weight,daily_cap,languages.

Creates missing users (never staff, no password until one is set) and the pools the file names; a rep's pool
memberships become exactly the listed pools. Only username, name and email are required columns; a column the
file leaves out keeps its current value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from reps.csv_files import list_cell_join, list_cell_split
from reps.models import Pool, PoolMembership, Rep
from reps.resources.base import BATCH, PlannedResource, PlannedRow, chunks, column, first_lines, length_check


def _whole_number(plan: PlannedRow, column: str, cell: str, *, default: int | None, maximum: int) -> int | None:
    if cell == "":
        return default
    text = cell.replace(" ", "").replace("\u00a0", "")
    if text.endswith((".0", ",0")):
        text = text[:-2]  # Excel's 5.0
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or number < 0 or number > maximum:
        plan.error(column, _("“%(value)s” is not a whole number from 0 to %(maximum)d.") % {"value": cell, "maximum": maximum})
        return default
    return number


class RepResource(PlannedResource[Rep]):
    """username,name,email,phone,pools,weight,daily_cap,languages — creates missing users (never staff) and pools.

    Only username, name and email are required columns; a column the file leaves out keeps its current value."""

    columns = ("username", "name", "email", "phone", "pools", "weight", "daily_cap", "languages")
    required_columns = ("username", "name", "email")
    kind_label = "reps"

    username = column("username")
    name = column("name")
    email = column("email")
    phone = column("phone")
    pools = column("pools")
    weight = column("weight")
    daily_cap = column("daily_cap")
    languages = column("languages")

    class Meta(PlannedResource.Meta):
        model = Rep
        fields = ("username", "name", "email", "phone", "pools", "weight", "daily_cap", "languages")
        import_id_fields = ("username",)
        name = "reps"

    def get_queryset(self) -> QuerySet[Rep]:
        return Rep.objects.select_related("user").order_by("user__username")

    def load_current(self) -> None:
        User = get_user_model()
        self.users: dict[str, Any] = {u.username: u for u in User.objects.only("id", "username")}
        self.reps_by_user: dict[int, Rep] = {r.user_id: r for r in Rep.objects.all()}
        self.username_of: dict[int, str] = {u.id: u.username for u in self.users.values()}
        self.pools_by_name: dict[str, Pool] = {p.name.casefold(): p for p in Pool.objects.only("id", "name")}
        self.pools_by_id: dict[int, Pool] = {p.id: p for p in self.pools_by_name.values()}
        self.new_pools: dict[str, Pool] = {}
        self.pools_of: defaultdict[int, list[int]] = defaultdict(list)
        self.max_position: defaultdict[int, int] = defaultdict(lambda: -1)
        for rep_id, pool_id, position in PoolMembership.objects.values_list("rep_id", "pool_id", "position"):
            self.pools_of[rep_id].append(pool_id)
            self.max_position[pool_id] = max(self.max_position[pool_id], position)

    @staticmethod
    def _pools_cell(pools: Iterable[Pool]) -> str:
        names = sorted((p.name for p in pools), key=str.casefold)
        return list_cell_join(names)

    def current_cells(self, rep: Rep) -> dict[str, str]:
        return {
            "username": self.username_of.get(rep.user_id, ""),
            "name": rep.name,
            "email": rep.email,
            "phone": rep.phone,
            "pools": self._pools_cell(self.pools_by_id[p] for p in self.pools_of.get(rep.id, [])),
            "weight": str(rep.weight),
            "daily_cap": "" if rep.daily_cap is None else str(rep.daily_cap),
            "languages": list_cell_join(rep.language_list),
        }

    def existing_instance(self, row: dict[str, Any]) -> Rep | None:
        user = self.users.get((row.get("username") or "").strip())
        return self.reps_by_user.get(user.id) if user else None

    def plan_row(self, plan: PlannedRow, raw: dict[str, str]) -> None:
        username = raw.get("username", "")
        plan.key = username
        if not username:
            plan.error("username", _("A rep needs a username (their login)."))
        else:
            try:
                UnicodeUsernameValidator()(username)
            except ValidationError:
                plan.error("username", _("“%(value)s” is not a valid username: letters, digits and @ . + - _ only.") % {"value": username})
            length_check(plan, "username", username, 150)
        name = raw.get("name", "")
        if not name:
            plan.error("name", _("A rep needs a name."))
        length_check(plan, "name", name, 150)
        email = raw.get("email", "")
        if not email:
            plan.error("email", _("A rep needs an e-mail address."))
        else:
            try:
                validate_email(email)
            except ValidationError:
                plan.error("email", _("“%(value)s” is not a valid e-mail address.") % {"value": email})
        phone = raw.get("phone", "")
        length_check(plan, "phone", phone, 32)

        pools: list[Pool] = []
        for pool_name in list_cell_split(raw.get("pools", "")):
            length_check(plan, "pools", pool_name, 100)
            key = pool_name.casefold()
            pool = self.pools_by_name.get(key) or self.new_pools.setdefault(key, Pool(name=pool_name))
            if pool not in pools:
                pools.append(pool)
        weight = _whole_number(plan, "weight", raw.get("weight", ""), default=1, maximum=32767)
        daily_cap = _whole_number(plan, "daily_cap", raw.get("daily_cap", ""), default=None, maximum=2_147_483_647)
        languages: list[str] = []
        for code in list_cell_split(raw.get("languages", ""), separators=";, "):
            code = code.lower()
            if len(code) != 2 or not code.isascii() or not code.isalpha():
                plan.error("languages", _("“%(value)s” is not a two-letter language code such as pl, en or de.") % {"value": code})
            elif code not in languages:
                languages.append(code)
        if len(",".join(languages)) > 64:
            plan.error("languages", _("Too many languages."))

        plan.values = {
            "username": username,
            "name": name,
            "email": email,
            "phone": phone,
            "pools": pools,
            "weight": weight,
            "daily_cap": daily_cap,
            "languages": ",".join(languages),
        }
        plan.cells = {
            "username": username,
            "name": name,
            "email": email,
            "phone": phone,
            "pools": self._pools_cell(pools),
            "weight": str(weight),
            "daily_cap": "" if daily_cap is None else str(daily_cap),
            "languages": list_cell_join(languages),
        }
        current = self.existing_instance({"username": username})
        plan.changed = current is None or self.current_cells(current) != plan.cells

    def plan_file(self, plans: Sequence[PlannedRow]) -> None:
        first_line = first_lines(plans, column="username", message=_("The username “%(name)s” is already on line %(line)d."))
        # E-mail addresses must stay unique among reps: those in the file and those it does not mention.
        in_file = set(first_line)
        email_owner: dict[str, str] = {}
        for rep in self.reps_by_user.values():
            username = self.username_of.get(rep.user_id, "")
            if username not in in_file:
                email_owner[rep.email.lower()] = username
        for plan in plans:
            email = plan.values.get("email", "").lower()
            if not email or plan.errors.get("email") or plan.errors.get("username"):
                continue
            if email in email_owner and email_owner[email] != plan.key:
                holder = email_owner[email]
                line = first_line.get(holder)
                if line:
                    message = _("“%(email)s” is already the e-mail of %(username)s on line %(line)d.")
                else:
                    message = _("“%(email)s” is already the e-mail of the rep %(username)s.")
                plan.error("email", message % {"email": plan.values["email"], "username": holder, "line": line or 0})
            else:
                email_owner[email] = plan.key

    def apply(self, rep: Rep, plan: PlannedRow) -> None:
        v = plan.values
        rep.name, rep.email, rep.phone = v["name"], v["email"], v["phone"]
        rep.weight, rep.daily_cap, rep.languages = v["weight"], v["daily_cap"], v["languages"]

    def write(self, created: Sequence[tuple[Rep, PlannedRow]], updated: Sequence[tuple[Rep, PlannedRow]]) -> None:
        User = get_user_model()
        new_users = []
        for rep, plan in created:
            user = self.users.get(plan.key)
            if user is None:
                first, _sep, last = plan.values["name"].partition(" ")
                # Never staff: a rep logs in to /my-leads/, not to the admin. No password until one is set.
                user = User(
                    username=plan.key,
                    email=plan.values["email"],
                    first_name=first[:150],
                    last_name=last[:150],
                    is_staff=False,
                    is_superuser=False,
                    is_active=True,
                    password=make_password(None),
                )
                new_users.append(user)
            rep.user = user
        User.objects.bulk_create(new_users, batch_size=BATCH)
        for rep, _plan in created:
            rep.user = rep.user  # picks up the primary key bulk_create just set
        Rep.objects.bulk_create([r for r, _plan in created], batch_size=BATCH)
        Rep.objects.bulk_update([r for r, _plan in updated], ["name", "email", "phone", "weight", "daily_cap", "languages"], batch_size=BATCH)

        # Pool memberships: exactly the pools listed; a rep joining a pool goes to its end. Pools the file names
        # and the database lacks are created (plain round robin), as the preview and the command's summary say.
        Pool.objects.bulk_create(list(self.new_pools.values()))
        drop: list[tuple[int, int]] = []
        add: list[PoolMembership] = []
        for rep, plan in [*created, *updated]:
            wanted = [p.id for p in plan.values["pools"]]
            current = self.pools_of.get(rep.id, [])
            drop.extend((rep.id, pool_id) for pool_id in current if pool_id not in wanted)
            for pool_id in wanted:
                if pool_id not in current:
                    self.max_position[pool_id] += 1
                    add.append(PoolMembership(pool_id=pool_id, rep=rep, position=self.max_position[pool_id]))
        by_pool: defaultdict[int, list[int]] = defaultdict(list)
        for rep_id, pool_id in drop:
            by_pool[pool_id].append(rep_id)
        for pool_id, rep_ids in by_pool.items():
            for ids in chunks(rep_ids):
                PoolMembership.objects.filter(pool_id=pool_id, rep_id__in=ids).delete()
        PoolMembership.objects.bulk_create(add, batch_size=BATCH)
