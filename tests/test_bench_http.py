"""The HTTP intake benchmark (issue 11; `make bench`): intake over HTTP against a floor view, in the same run.

The set-up is the documented production one (docs/deployment.md, deploy/production.env): gunicorn with
deploy/gunicorn.conf.py, 2 sync workers, DEBUG=0, the HTTPS settings behind a proxy (every request says
`X-Forwarded-Proto: https` and the production host, as nginx would), persistent connections, JSON logs. Deviations,
each for a reason:

- `INTAKE_RATE_LIMIT=1000000/min`: the limiter still counts every request, but never answers 429;
- the cache is Redis at 127.0.0.1:6379 when it answers (with a key prefix of this run's own), else the database
  cache table (the rate limiter then costs a small transaction per request): the figures say which;
- `--max-requests 0`: production replaces a worker after 2000±200 requests; at the floor's rate that is a new
  worker (a second of CPU to import Django) every few seconds, a cost per request that would land on the floor
  and intake alike and so shrink the ratio being measured;
- no django-q2 cluster runs: the notifications intake queues (outbox rows, one task row) wait in the database,
  so this is the web path only.

16 clients (wrk when installed, else benchmarks/load.py's Python client; `BENCH_HTTP_CLIENT=python|wrk`) load
the floor view (`POST /bench/floor/`, benchmarks/floor.py: one INSERT of a lead row), then intake
(`POST /api/v1/leads/`), then the floor again, `BENCH_HTTP_SECONDS` each (default 15), after a short warm-up.
Every request is a distinct lead. Recorded (benchmarks.report): cost per lead vs the floor (the floor's req/s, the
mean of both runs, over intake's), intake's p99, errors, both rates, and the CPU per request of the gunicorn
workers and of the PostgreSQL backends (sampled from /proc: steadier than rates on a shared machine). Asserted,
never times: no errors, every lead answered 201 is in the database once, and the count of leads matches.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from benchmarks import load
from benchmarks.local import REDIS, redis_answers
from benchmarks.report import record
from flows.demo import demo_load
from routing.models import Lead, LeadEvent
from routing.services.intake import intake_source_create
from tests.conftest import migration_rows_restore
from tests.test_deployment import HOST, production_env

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(18100, 18200)
CLIENTS = 16
WORKERS = 2
SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "15"))
WARM_UP_SECONDS = 3
RATE_LIMIT = "1000000/min"
PROXY_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https"}  # what nginx in front sends (deploy/nginx)

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the HTTP benchmark measures gunicorn on PostgreSQL (issue 11): make bench DATABASE_URL=postgres://...",
    ),
    # gunicorn is another process: it sees only committed rows (the demo, the token), hence a transactional test.
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _migration_rows_put_back():
    """The transactional test's flush empties what the data migrations made; put it back for the tests after."""
    yield
    migration_rows_restore()


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def database_url_of_tests() -> str:
    db = connection.settings_dict
    login = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Server:
    """gunicorn with the project's config, 2 sync workers, the benchmark's settings (the floor view's URL)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", "deploy/gunicorn.conf.py", "--max-requests", "0"],
            cwd=ROOT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health/live/", timeout=5) as answer:
                    if answer.status == 200 and len(self.workers()) == WORKERS:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"gunicorn did not answer in 30 s: {self.log_tail()}")

    def workers(self) -> list[int]:
        return load.children_of(self.process.pid)

    def wait_idle(self, *, quiet: float = 0.75, timeout: float = 60) -> None:
        """Until the workers have used no CPU for `quiet` s: wrk stops with a request in flight on each connection,
        which the workers still serve; the next run must not pay for them."""

        def cpu() -> float:
            return sum(load.CpuSampler.cpu_of(pid) or 0.0 for pid in self.workers())

        deadline, still, last = time.monotonic() + timeout, 0.0, cpu()
        while time.monotonic() < deadline and still < quiet:
            time.sleep(0.25)
            now = cpu()
            still = still + 0.25 if now - last <= 0.011 else 0.0  # a clock tick is 10 ms
            last = now

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def per_request_ms(cpu_seconds: float, result: load.Result) -> float:
    return round(1000 * cpu_seconds / result.requests, 3) if result.requests else 0.0


def test_bench_http_intake_against_the_floor_view(tmp_path):
    demo_load(password="demo")
    _source, token = intake_source_create(name="HTTP benchmark")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_backend = cursor.fetchone()[0]
    database = connection.settings_dict["NAME"]
    run = secrets.token_hex(3)  # in every e-mail: no lead of this run repeats one of another's
    if redis_answers():
        cache, cache_url = "Redis at 127.0.0.1:6379", f"redis://{REDIS[0]}:{REDIS[1]}/1"
    else:
        cache, cache_url = "the database cache table (no Redis at 127.0.0.1:6379)", "dbcache://django_cache"
    env = production_env(
        tmp_path,
        DATABASE_URL=database_url_of_tests(),
        DJANGO_SETTINGS_MODULE="benchmarks.settings",
        WEB_CONCURRENCY=str(WORKERS),
        GUNICORN_THREADS="1",
        INTAKE_RATE_LIMIT=RATE_LIMIT,
        CACHE_URL=cache_url,
        BENCH_CACHE_KEY_PREFIX=f"bench-http-{run}",
    )
    server = Server(env, tmp_path / "gunicorn.log")
    try:
        floor_url, intake_url = server.url + "/bench/floor/", server.url + "/api/v1/leads/"

        def phase(name: str, url: str, seconds: float, **options) -> tuple[load.Result, float, float]:
            def backends() -> list[int]:
                return [pid for pid in load.postgres_backends(database) if pid != own_backend]

            server.wait_idle()
            with load.CpuSampler(server.workers) as web_cpu, load.CpuSampler(backends) as db_cpu:
                result = load.run(url=url, token=token, tag=f"{name}{run}", seconds=seconds, headers=PROXY_HEADERS, **{"clients": CLIENTS, **options})
            print(
                f"\n{name}: {result.per_second:.0f} req/s, p50 {result.latency_ms['p50']} ms, p99 {result.latency_ms['p99']} ms, "
                f"{result.errors} errors {result.statuses} {result.transport_errors}; CPU per request: workers "
                f"{per_request_ms(web_cpu.seconds, result)} ms, PostgreSQL {per_request_ms(db_cpu.seconds, result)} ms, "
                f"client {per_request_ms(result.client_cpu_s, result)} ms ({result.tool}, {result.seconds:.1f} s)"
            )
            return result, web_cpu.seconds, db_cpu.seconds

        # Warm both workers (connections open, rule set compiled, dictionaries mapped) with the Python client: each of
        # its clients reads the answer to its last request, however slow a cold worker is.
        phase("warmfloor", floor_url, WARM_UP_SECONDS, tool="python", clients=2 * WORKERS)
        phase("warmintake", intake_url, WARM_UP_SECONDS, tool="python", clients=2 * WORKERS)
        floor1, floor1_web, floor1_db = phase("floor", floor_url, SECONDS)
        intake, intake_web, intake_db = phase("intake", intake_url, SECONDS)
        floor2, floor2_web, floor2_db = phase("floorafter", floor_url, SECONDS)
        # One client per worker: nobody waits behind another lead, so this p99 is one lead's own time on the server.
        alone, _alone_web, _alone_db = phase("alone", intake_url, SECONDS, clients=WORKERS)
        server.wait_idle()  # the leads of wrk's last requests in flight are stored before they are counted below
        assert server.process.poll() is None, server.log_tail()
    finally:
        server.stop()

    floor_rate = (floor1.per_second + floor2.per_second) / 2
    ratio = floor_rate / intake.per_second if intake.per_second else float("inf")
    floor_requests = floor1.requests + floor2.requests
    floor_web_ms = round(1000 * (floor1_web + floor2_web) / floor_requests, 3) if floor_requests else 0.0
    floor_db_ms = round(1000 * (floor1_db + floor2_db) / floor_requests, 3) if floor_requests else 0.0
    intake_web_ms, intake_db_ms = per_request_ms(intake_web, intake), per_request_ms(intake_db, intake)
    common = {
        "database": "postgresql",
        "client": intake.tool,
        "clients": CLIENTS,
        "workers": f"{WORKERS} sync",
        "seconds": SECONDS,
        "cache": cache,
        "rate_limit": RATE_LIMIT,
    }
    record(
        "HTTP intake: cost per lead vs the floor view (floor req/s ÷ intake req/s)",
        ratio,
        "×",
        goal="≤ 3×",
        met=ratio <= 3,
        floor_per_second=[round(floor1.per_second, 1), round(floor2.per_second, 1)],
        intake_per_second=round(intake.per_second, 1),
        # The two floor runs bracket intake's: far apart, the machine's load changed and so may intake's rate have.
        floor_spread=round(abs(floor1.per_second - floor2.per_second) / floor_rate, 3) if floor_rate else None,
        load_average=os.getloadavg()[0],
        **common,
    )
    record(
        "HTTP intake: p99 latency, 16 clients",
        intake.latency_ms["p99"],
        "ms",
        goal="≤ 50 ms",
        met=intake.latency_ms["p99"] <= 50,
        p50_ms=intake.latency_ms["p50"],
        p90_ms=intake.latency_ms["p90"],
        max_ms=intake.latency_ms["max"],
        floor_p99_ms=[floor1.latency_ms["p99"], floor2.latency_ms["p99"]],
        # Little's law: 16 clients kept busy wait on average 16 ÷ throughput; a p99 of 50 ms needs ≥ 320 leads/s.
        mean_latency_by_littles_law_ms=round(1000 * CLIENTS / intake.per_second, 1) if intake.per_second else None,
        **common,
    )
    record(
        f"HTTP intake: p99 latency, {WORKERS} clients (one per worker: no queue)",
        alone.latency_ms["p99"],
        "ms",
        goal="(orientation)",
        met=True,
        p50_ms=alone.latency_ms["p50"],
        per_second=round(alone.per_second, 1),
        **{**common, "clients": WORKERS},
    )
    record(
        "HTTP intake: errors (not 201, or no answer)",
        intake.errors,
        "",
        goal="0",
        met=intake.errors == 0,
        statuses=intake.statuses,
        transport_errors=intake.transport_errors,
        floor_errors=floor1.errors + floor2.errors,
        **common,
    )
    record("HTTP intake: leads/s", intake.per_second, "leads/s", goal="(orientation)", met=True, requests=intake.requests, **common)
    record(
        "HTTP floor view: requests/s (mean of before and after)",
        floor_rate,
        "req/s",
        goal="(orientation)",
        met=True,
        runs=[round(floor1.per_second, 1), round(floor2.per_second, 1)],
        client_cpu_ms_per_request=per_request_ms(floor1.client_cpu_s, floor1),
        **common,
    )
    if floor_web_ms:
        cpu_ratio = (intake_web_ms + intake_db_ms) / (floor_web_ms + floor_db_ms)
        record(
            "HTTP intake: server CPU per lead vs the floor view (gunicorn workers + PostgreSQL)",
            cpu_ratio,
            "×",
            goal="(orientation)",
            met=True,
            intake_ms={"workers": intake_web_ms, "postgresql": intake_db_ms},
            floor_ms={"workers": floor_web_ms, "postgresql": floor_db_ms},
            **common,
        )

    # Shapes, not times: every request answered 201, every lead answered is stored once, and nothing more.
    for result in (floor1, intake, floor2, alone):
        assert result.requests > 0
        assert result.errors == 0, (result.statuses, result.transport_errors)
        assert len(set(result.ids)) == len(result.ids) == result.created
    for name, result in (("floor", floor1), ("intake", intake), ("floorafter", floor2), ("alone", alone)):
        phase_leads = Lead.objects.filter(email__startswith=f"{name}{run}-")
        assert set(result.ids) <= set(phase_leads.values_list("pk", flat=True))  # each lead answered is stored, as sent
        assert not phase_leads.values("email").annotate(n=Count("id")).filter(n__gt=1).exists(), "a lead stored twice"
        stored = phase_leads.count()
        if result.tool == "python":
            assert stored == result.created  # each client reads its last answer before it stops
        else:
            # wrk stops with each connection's request in flight: the server may still store those (≤ 1 per client).
            assert result.created <= stored <= result.created + CLIENTS
    intake_ids = intake.ids
    received = LeadEvent.objects.filter(lead_id__in=intake_ids, type=LeadEvent.Type.RECEIVED).count()
    assert received == len(intake_ids)  # every lead went through intake's path, not only the insert


@pytest.mark.skipif(
    not os.environ.get("BENCH_HTTP_PROFILE"),
    reason="opt-in: BENCH_HTTP_PROFILE=1 prints where one request's time goes (BENCH_HTTP_PROFILE_OUT=file keeps the profile)",
)
@pytest.mark.parametrize("path", ["/api/v1/leads/", "/bench/floor/"], ids=["intake", "floor"])
def test_bench_http_profile_of_one_request(settings, path):
    """cProfile (pyinstrument is not installed) of intake (or floor) requests in this process, through the whole
    middleware stack with DEBUG off and the benchmark's cache: the top costs in CPU time, by own time and by
    cumulative time (the project's code), over `n` warm requests; divide by `n` for one request."""
    import cProfile
    import io
    import json
    import pstats

    from django.test import Client

    settings.DEBUG = False
    settings.ROOT_URLCONF = "benchmarks.urls"
    settings.INTAKE_RATE_LIMIT = RATE_LIMIT
    if redis_answers():
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/1", "KEY_PREFIX": "bench-profile"}
        }
    demo_load(password="demo")
    _source, token = intake_source_create(name="HTTP benchmark profile")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_FORWARDED_PROTO="https")
    run, n = secrets.token_hex(3), 50

    def post(i: int) -> None:
        response = client.post(path, data=json.dumps(load.lead_body(f"profile{run}", 0, i)), content_type="application/json")
        assert response.status_code == 201, response.content

    for i in range(20):  # warm: rule set compiled, dictionaries open, connection up
        post(i)
    profile = cProfile.Profile(time.process_time)  # CPU time: waits for the database are not the process's cost
    started, cpu_started = time.perf_counter(), time.process_time()
    profile.enable()
    for i in range(20, 20 + n):
        post(i)
    profile.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if os.environ.get("BENCH_HTTP_PROFILE_OUT"):  # for pstats / snakeviz: callers, callees
        profile.dump_stats(os.environ["BENCH_HTTP_PROFILE_OUT"])
    print(f"\n{n} requests to {path} in {elapsed:.2f} s, {cpu:.2f} s CPU ({1000 * elapsed / n:.1f} ms, {1000 * cpu / n:.1f} ms CPU each, profiled)")
    for order, restrictions in (("tottime", (25,)), ("cumulative", (rf"^{ROOT}/(?!tests/|\.venv/)", 50))):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(*restrictions)
        print(f"\nby {order}{' (the project code)' if order == 'cumulative' else ''}:\n{out.getvalue().replace(str(ROOT) + '/', '')}")
