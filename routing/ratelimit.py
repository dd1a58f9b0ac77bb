"""Per-token rate limit of the API: a fixed-window counter in Django's cache, shared by every worker.

INTAKE_RATE_LIMIT is "<requests>/<period>" with the period s, min, h (or second, minute, hour); "0" or "off"
turns it off. Each token (intake source) gets its own budget per window: the first request of a window
adds the counter (`cache.add`, atomic: only one worker creates it), every request increments it
(`cache.incr`, atomic on Redis and on leadrouter.cache.AtomicDatabaseCache). Over the limit the API answers
429 with Retry-After = seconds to the next window. A fixed window lets a burst of up to twice the limit
straddle a window boundary; for a generous limit meant to stop floods, not to meter, that is the right
trade for one cache operation per request.

The limiter fails open: if the cache is unreachable the request is served (and logged), because a rate
limiter must not turn a cache outage into an API outage.
"""

import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds}s"


def parse_rate(text: str) -> Rate | None:
    """ "600/min" -> Rate(600, 60); "100/10s" -> Rate(100, 10); "0" or "off" -> None (no limit)."""
    text = (text or "").strip().lower()
    if text in ("", "0", "off", "none"):
        return None
    match = _RATE.match(text)
    if not match or match.group(3) not in PERIODS:
        raise ImproperlyConfigured(f'INTAKE_RATE_LIMIT must look like "600/min", "10/s" or "off", not {text!r}')
    requests, multiple, unit = int(match.group(1)), int(match.group(2) or 1), PERIODS[match.group(3)]
    if requests == 0:
        return None
    return Rate(requests=requests, seconds=max(1, multiple * unit))


def intake_rate() -> Rate | None:
    return parse_rate(getattr(settings, "INTAKE_RATE_LIMIT", "600/min"))


def _clock() -> float:
    """The wall clock of the windows (its own name so tests can hold it still at a window's start)."""
    return time.time()


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int = 0
    retry_after: int = 0


def rate_limit_hit(*, key: str, rate: Rate | None = None, now: float | None = None) -> Verdict:
    """Count one request for `key` in the current window; allowed, or when to try again."""
    rate = rate if rate is not None else intake_rate()
    if rate is None:
        return Verdict(allowed=True)
    now = _clock() if now is None else now
    window = int(now // rate.seconds)
    cache_key = f"ratelimit:{key}:{rate.seconds}:{window}"
    cache = caches[getattr(settings, "RATE_LIMIT_CACHE", "default")]
    try:
        try:
            count = cache.incr(cache_key)  # the window's counter exists but for its first request: one operation
        except ValueError:  # the window's first request (or the counter expired or was culled): start it
            if cache.add(cache_key, 1, timeout=rate.seconds + 60):
                count = 1
            else:  # another worker started it meanwhile
                count = cache.incr(cache_key)
    except Exception:  # fail open, see the module docstring
        logger.warning("rate limit not checked: the cache is unavailable", exc_info=True)
        return Verdict(allowed=True, limit=rate.requests)
    if count <= rate.requests:
        return Verdict(allowed=True, limit=rate.requests)
    retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
    return Verdict(allowed=False, limit=rate.requests, retry_after=retry_after)


def token_rate_limited(source) -> JsonResponse | None:
    """The API's 429 for this intake source's token when it is over its budget, else None (the request counts)."""
    from routing.door import json_error

    verdict = rate_limit_hit(key=f"intake-source:{source.pk}")
    if verdict.allowed:
        return None
    rate = intake_rate()
    message = _("Too many requests: at most %(n)d per %(s)d s for this token. Try again in %(wait)d s.") % {
        "n": rate.requests,
        "s": rate.seconds,
        "wait": verdict.retry_after,
    }
    response = json_error(429, message)
    response["Retry-After"] = str(verdict.retry_after)
    return response
