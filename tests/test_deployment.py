"""The deployment as documented: deploy/release.sh (migrate, createcachetable, compilemessages, collectstatic,
check --deploy) with deploy/production.env on a fresh database, then gunicorn with deploy/gunicorn.conf.py.

Real processes on 127.0.0.1 (ports 8110-8119; DEPLOY_PORT_BASE moves them), a temporary SQLite database and
STATIC_ROOT; whatever database the suite runs on, the server gets its own. Checks: `check --deploy` prints no issue, the admin's
CSS is served, `/health/` is green JSON, and answers 503 naming the database when the database is gone.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = ROOT / "deploy" / "production.env"
PORT_BASE = int(os.environ.get("DEPLOY_PORT_BASE", "8110"))  # another checkout running these at once: move them
PORTS = range(PORT_BASE, PORT_BASE + 10)
HOST = "leads.example.com"  # deploy/production.env's host


def production_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """deploy/production.env as documented, with this machine's stand-ins for its <placeholders>."""
    values = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    values.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{tmp / 'leadrouter.sqlite3'}",
        STATIC_ROOT=str(tmp / "static"),
        EMAIL_URL="consolemail://",
        WEB_CONCURRENCY="1",
        Q_WORKERS="1",
    )
    values.update(overrides)
    leftovers = {key: value for key, value in values.items() if "<" in value}
    assert not leftovers, f"placeholders left: {leftovers}"
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    return {**env, **values}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Gunicorn:
    def __init__(self, env: dict[str, str], tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"gunicorn-{self.port}.log"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited: {self.log.read_text()}")
            try:
                if get(self.url + "/health/live/")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"gunicorn did not answer in 20 s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def env_file(env: dict[str, str], path: Path) -> Path:
    path.write_text("".join(f"{key}='{value}'\n" for key, value in env.items()))
    return path


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """deploy/release.sh on a fresh database (the documented deploy steps), then gunicorn: (env, server)."""
    tmp = tmp_path_factory.mktemp("deploy")
    env = production_env(tmp)
    release = subprocess.run(
        ["sh", "deploy/release.sh"],
        cwd=ROOT,
        env={**env, "LEADROUTER_ENV": str(env_file(env, tmp / "leadrouter.env"))},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    assert "System check identified no issues (0 silenced)." in release.stdout
    server = Gunicorn(env, tmp)
    yield env, server
    server.stop()


def test_check_deploy_prints_no_issue_with_the_documented_production_environment(deployed):
    env, _server = deployed

    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "System check identified no issues (0 silenced)."
    assert done.stderr.strip() == ""


def test_gunicorn_serves_the_admin_with_its_css(deployed):
    _env, server = deployed
    https = {"Host": HOST, "X-Forwarded-Proto": "https"}

    status, headers, page = get(server.url + "/admin/login/", **https)
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    stylesheet = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, "the login page links no hashed admin stylesheet"

    status, headers, css = get(server.url + stylesheet.group(1).decode(), **https)
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert b"body" in css
    assert "immutable" in headers["Cache-Control"]

    status, headers, _body = get(server.url + "/admin/login/", Host=HOST)  # plain HTTP
    assert status == 301 and headers["Location"] == f"https://{HOST}/admin/login/"


def test_health_is_green_json_behind_the_proxy_and_to_a_balancer(deployed):
    _env, server = deployed

    for headers in ({"Host": HOST, "X-Forwarded-Proto": "https"}, {"Host": "10.0.0.7:8000"}):  # the proxy; a balancer by IP over HTTP
        status, answer_headers, body = get(server.url + "/health/", **headers)
        assert status == 200, body
        assert answer_headers["Content-Type"] == "application/json"
        report = json.loads(body)
        assert report["status"] == "ok"
        assert {name: check["ok"] for name, check in report["checks"].items()} == {"database": True, "cache": True, "cluster": True}


@pytest.mark.parametrize(
    "database_url",
    ["sqlite:////nonexistent-leadrouter-dir/leadrouter.sqlite3", "postgres://leadrouter@127.0.0.1:8119/leadrouter"],
    ids=["sqlite-file-gone", "postgresql-refusing"],
)
def test_health_is_503_naming_the_database_when_it_is_unreachable(tmp_path, database_url):
    env = production_env(tmp_path, DATABASE_URL=database_url, CACHE_URL="locmemcache://")
    server = Gunicorn(env, tmp_path)
    try:
        status, headers, body = get(server.url + "/health/?cluster=0", Host=HOST)
        live_status = get(server.url + "/health/live/", Host=HOST)[0]
    finally:
        server.stop()

    assert status == 503
    assert headers["Content-Type"] == "application/json"
    report = json.loads(body)
    assert report["status"] == "fail" and report["failed"] == ["database"]
    assert report["checks"]["database"]["error"].startswith("OperationalError")
    assert "leadrouter@" not in body.decode()  # no connection string in the answer
    assert live_status == 200  # the process itself is fine: no restart for a database outage


@pytest.mark.postgres
@pytest.mark.django_db
def test_db_pool_opt_in_gives_each_process_a_psycopg_pool(tmp_path):
    from django.db import connection

    db = connection.settings_dict
    login = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    url = f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    probe = (
        "from django.conf import settings; from django.db import connection; connection.ensure_connection();"
        "print(type(connection.pool).__name__, settings.DATABASES['default']['CONN_MAX_AGE'], connection.pool.max_size)"
    )

    done = manage(production_env(tmp_path, DATABASE_URL=url, DB_POOL="1", DB_POOL_MAX_SIZE="4"), "shell", "-c", probe)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split()[-3:] == ["ConnectionPool", "0", "4"]
