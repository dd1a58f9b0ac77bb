"""Reads of the notifications app: which channel reaches whom, what is due in the outbox.

What the messages say about a lead is read where it lives: the account and the team leads in `reps.selectors`,
the earlier leads and the lead's language in `routing.selectors` (routing's facts carry the first two).
"""

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from notifications.models import Channel, CompanyProfile, OutboxMessage
from reps.models import Rep
from routing.config_version import config_version, table_fingerprint, version_register

# A rep can be reached personally on these kinds; a generic webhook is a tool, not a person's inbox.
PERSONAL_KINDS = (Channel.Kind.EMAIL, Channel.Kind.SMS, Channel.Kind.SLACK, Channel.Kind.TEAMS)


@dataclass(frozen=True)
class Route:
    """One way to reach one recipient: the channel (None: Django's e-mail backend) and the address on it."""

    channel: Channel | None
    address: str
    rep: Rep | None = None


def phone_normalise(phone: str) -> str:
    """+48 600 100 001 -> +48600100001 (what SMS gateways expect)."""
    return re.sub(r"[^\d+]", "", phone or "")


def _channels_version_part(q: Callable[[str], str]) -> tuple[list[str], list]:
    profile = CompanyProfile._meta.db_table
    # The company profile is one small row: its content is its version.
    content = f"(SELECT {q('name')} || '|' || {q('website')} || '|' || {q('phone')} FROM {q(profile)} WHERE id = %s)"
    return [*table_fingerprint(q, Channel._meta.db_table, updated_at="updated_at"), content], [CompanyProfile.SINGLETON_ID]


version_register("channels", _channels_version_part)
CHANNELS_MAX_AGE_SECONDS = 300.0
_channels_lock = threading.Lock()
_channels_cached: tuple[tuple, float, list[Channel], CompanyProfile] | None = None


def _channels_config() -> tuple[list[Channel], CompanyProfile]:
    """Every channel by name and the company profile, read once per process and kept while their version holds
    (`routing.config_version`: one query per lead for every cache, none inside an intake's snapshot after the first
    cache asked). The instances are shared: read them, never change them."""
    global _channels_cached
    version = config_version("channels")
    cached = _channels_cached
    if cached is not None and cached[0] == version and time.monotonic() - cached[1] < CHANNELS_MAX_AGE_SECONDS:
        return cached[2], cached[3]
    channels = list(Channel.objects.order_by("name", "id"))
    profile = CompanyProfile.objects.filter(pk=CompanyProfile.SINGLETON_ID).first() or CompanyProfile(pk=CompanyProfile.SINGLETON_ID)
    with _channels_lock:
        _channels_cached = (version, time.monotonic(), channels, profile)
    return channels, profile


def channels_invalidate() -> None:
    global _channels_cached
    with _channels_lock:
        _channels_cached = None


def channel_default(*, kind: str) -> Channel | None:
    """The active channel of a kind reps are reached on: the one marked "default" in its options, else the first by name."""
    return channel_defaults(kinds=[kind]).get(kind)


def channel_defaults(*, kinds: list[str] | tuple[str, ...] = PERSONAL_KINDS) -> dict[str, Channel]:
    """`channel_default` of each kind, from the cached channels (no query of its own): {kind: channel} (a kind
    without an active channel left out); the one marked default wins, else the first by name."""
    found: dict[str, Channel] = {}
    for channel in _channels_config()[0]:  # ordered by name
        if channel.kind not in kinds or not channel.is_active:
            continue
        if channel.kind not in found or (channel.config.get("default") and not found[channel.kind].config.get("default")):
            found[channel.kind] = channel
    return found


def rep_address(*, rep: Rep, channel: Channel | None) -> str | None:
    """The rep's address on the channel, or None when the rep cannot be reached there (an SMS without a phone)."""
    kind = channel.kind if channel else Channel.Kind.EMAIL
    if kind == Channel.Kind.SMS:
        return phone_normalise(rep.phone) or None
    return rep.email or None


def rep_routes(*, rep: Rep, channel: Channel | None = None, every: bool = False, defaults: dict[str, Channel] | None = None) -> list[Route]:
    """How to reach the rep, respecting the rep's own "notify me via" list, with e-mail as the floor.

    With `channel` (a rule's action chose one): that channel if the rep accepts its kind and can be reached
    on it, else the first of the rep's own kinds that works, else e-mail. With `every` (SLA reminders):
    every kind the rep asked for that works, else e-mail. `defaults`: `channel_defaults()` read once by the
    caller (else each kind is looked up).
    """

    def default_of(kind: str) -> Channel | None:
        return defaults.get(kind) if defaults is not None else channel_default(kind=kind)

    wanted = [kind for kind in (rep.notify_via or []) if kind in PERSONAL_KINDS]
    candidates: list[Channel | None] = []
    if channel is not None and channel.is_active and (not wanted or channel.kind in wanted):
        candidates.append(channel)
    for kind in wanted:
        if kind == Channel.Kind.EMAIL:
            candidates.append(default_of(kind))  # None: Django's e-mail backend, no channel needed
        elif default := default_of(kind):
            candidates.append(default)

    routes: list[Route] = []
    seen: set[tuple[int | None, str]] = set()
    for candidate in candidates:
        address = rep_address(rep=rep, channel=candidate)
        if not address or (candidate.pk if candidate else None, address) in seen:
            continue
        seen.add((candidate.pk if candidate else None, address))
        routes.append(Route(channel=candidate, address=address, rep=rep))
        if not every:
            break
    if not routes and rep.email:
        routes.append(Route(channel=default_of(Channel.Kind.EMAIL), address=rep.email, rep=rep))
    return routes


def outbox_due_ids(*, now: datetime, grace: timedelta, limit: int = 500) -> list[int]:
    """Pending messages the sweep should hand to a worker: retries whose time has come, and fresh rows
    whose after-commit task never ran (older than `grace`)."""
    return list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=now - grace))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def company_profile() -> CompanyProfile:
    """The company's profile for signing messages to leads; an empty one (not saved) until the manager sets it."""
    return _channels_config()[1]
