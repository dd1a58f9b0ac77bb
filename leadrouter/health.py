"""`/health/` for load balancers and monitoring: the database, the cache and the django-q2 cluster.

    GET /health/             every check; 200 {"status": "ok", ...} or 503 {"status": "fail", ...}
    GET /health/?cluster=0   database and cache only: a web pod's readiness, not failed by a stopped cluster
    GET /health/live/        liveness: the process answers; touches nothing (restart the pod only if this fails)

The middleware answers these paths before anything else runs: no ALLOWED_HOSTS check (a balancer asks by
the pod's IP address), no HTTPS redirect (it asks over plain HTTP), no session, no CSRF, no language. The
answer names no host, user or secret, only which check failed and why.

The cluster's heartbeat: a running cluster's scheduler moves every repeating schedule's next run forward
(the SLA sweep and the outbox retry run every minute), so the oldest overdue schedule tells how long no
cluster has been scheduling. That lives in the database, so it works with the ORM and the Redis broker and
any cache. django-q2's own cluster stats (`Stat.get_all()`) are shown when they are visible: with Redis, or
a cache every process shares (`CACHE_URL`); with the per-process default cache a web process cannot see them.
"""

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

HEALTH_PATH = "/health/"
LIVE_PATH = "/health/live/"


def _timed(check: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as error:  # any failure is the answer, never a 500
        result = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:300]}".strip()}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def database_check() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # Drop a broken connection now, so the next request (or check) opens a fresh one.
        connection.close()
        raise
    return {"vendor": connection.vendor}


def cache_check() -> dict:
    key, value = f"leadrouter:health:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=30)
    read = cache.get(key)
    cache.delete(key)
    if read != value:
        raise RuntimeError("a value written to the cache was not read back")
    return {}


def cluster_max_lag() -> timedelta:
    return timedelta(seconds=getattr(settings, "HEALTH_CLUSTER_MAX_LAG", 180))


def cluster_check() -> dict:
    from django_q.conf import Conf
    from django_q.models import Schedule
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception:  # stats are extra information; the schedule below decides
        stats = []
    running = [s for s in stats if s.status not in (Conf.STOPPED, Conf.STOPPING)]
    oldest = (
        Schedule.objects.exclude(repeats=0)
        .exclude(next_run__isnull=True)
        .exclude(schedule_type=Schedule.ONCE)
        .filter(cluster__isnull=True)
        .order_by("next_run")
        .values_list("next_run", flat=True)
        .first()
    )
    result: dict = {"clusters": len(running) if stats else None}
    if oldest is None:
        if running:
            return result
        raise RuntimeError("no repeating schedule to show a heartbeat, and no cluster stats: run `manage.py migrate`")
    lag = max(timezone.now() - oldest, timedelta(0))
    result["schedule_lag_s"] = round(lag.total_seconds())
    if lag > cluster_max_lag():
        raise RuntimeError(
            f"no django-q2 cluster has run the schedules for {result['schedule_lag_s']} s "
            f"(limit {round(cluster_max_lag().total_seconds())} s): is `manage.py qcluster` running?"
        )
    return result


def health_report(*, cluster: bool = True) -> tuple[bool, dict]:
    """(healthy, report): each check's outcome and timing, in a fixed order."""
    checks = {"database": _timed(database_check), "cache": _timed(cache_check)}
    if cluster:
        checks["cluster"] = _timed(cluster_check)
    healthy = all(check["ok"] for check in checks.values())
    failed = [name for name, check in checks.items() if not check["ok"]]
    return healthy, {"status": "ok" if healthy else "fail", "failed": failed, "checks": checks}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def health(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"errors": {"method": [f"{request.method} is not allowed here; use GET"]}}, status=405)
        response["Allow"] = "GET, HEAD"
        return _no_store(response)
    if request.path == LIVE_PATH:
        return _no_store(JsonResponse({"status": "ok"}))
    cluster = request.GET.get("cluster", "1").strip().lower() not in ("0", "false", "no", "off")
    healthy, report = health_report(cluster=cluster)
    return _no_store(JsonResponse(report, status=200 if healthy else 503))


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers the health paths before host checks, redirects and sessions."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in (HEALTH_PATH, LIVE_PATH):
            return health(request)
        return self.get_response(request)
