"""Real processes for the fault tests (tests/test_faults.py): gunicorn and a django-q2 cluster against the
pytest-django test database, each in its own process group so a test can `kill -9` it and always clean up.

The processes read the same settings as the tests (leadrouter.settings), with DATABASE_URL pointing at the
test database: the test must commit what they should see (`django_db(transaction=True)`).
Ports: FAULTS_PORT_BASE (default 8130) and the next 19 (this checkout's range: 8130-8149).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

PORT_BASE = int(os.environ.get("FAULTS_PORT_BASE", "8130"))
GUNICORN_PORT = PORT_BASE  # the intake tests
GUNICORN_KILL_PORT = PORT_BASE + 1  # the worker-kill test (a port of its own: no TIME_WAIT surprises)
RECEIVER_PORT = PORT_BASE + 10  # webhook receivers: +10, +11, ...

PROJECT = Path(settings.BASE_DIR)


def session_database_url() -> str:
    """postgres://... of the database this test session runs on (test_<name>, created by pytest-django)."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(db['NAME'], safe='')}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=session_database_url(),
        DEBUG="1",
        REDIS_URL="",  # the ORM broker, in the test database: the tests read the queue
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="leadrouter.settings",
    )
    env.update(extra)
    return env


class Process:
    """A child process in a new session (its own process group); output goes to a log file."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None, grace: float = 5):
        self.name = name
        self.grace = grace  # seconds given to SIGTERM at the end before SIGKILL (0: straight to SIGKILL)
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        self.env = env or subprocess_env()
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")  # closed in stop()
        self._log = log
        self.popen = subprocess.Popen(self.args, cwd=PROJECT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _running.add(self)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL, timeout: float = 10) -> None:
        """Signal the whole process group (master and every worker) and wait for the leader."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=timeout)
        # Workers of a killed master may linger a moment: make sure the group is gone.
        deadline = time.monotonic() + timeout
        while group_alive(self.popen.pid) and time.monotonic() < deadline:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    def stop(self) -> None:
        if self.popen is not None and self.alive() and self.grace:
            self.kill_group(signal.SIGTERM, timeout=self.grace)
        self.kill_group(signal.SIGKILL)
        _running.discard(self)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


_running: set[Process] = set()


@atexit.register
def _kill_leftovers() -> None:
    """A test run stopped half-way (Ctrl+C, a crash in a finalizer) still leaves no server behind."""
    for process in list(_running):
        process.kill_group(timeout=2)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def group_alive(pgid: int) -> bool:
    for pid in _pids():
        try:
            if os.getpgid(pid) == pgid and _state(pid) != "Z":
                return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...


def _state(pid: int) -> str:
    try:
        return _stat(pid)[0]
    except (OSError, ValueError):
        return "?"


def children(pid: int) -> list[int]:
    found = []
    for child in _pids():
        try:
            if int(_stat(child)[1]) == pid and _stat(child)[0] != "Z":
                found.append(child)
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


def pid_with_local_port(port: int, candidates: list[int]) -> int | None:
    """Which of `candidates` owns the TCP socket bound locally to 127.0.0.1:`port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            continue
    for pid in candidates:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    return None


def wait_until(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def gunicorn(*, port: int, workers: int, log_dir: Path) -> Process:
    """gunicorn with sync workers on 127.0.0.1:port, serving leadrouter.wsgi, started and answering."""
    # Something else on the port would answer in gunicorn's place: refuse to start rather than test it.
    assert port_free(port), f"127.0.0.1:{port} is in use (set FAULTS_PORT_BASE to move the fault tests' ports)"
    process = Process(
        f"gunicorn-{port}",
        [
            sys.executable, "-m", "gunicorn", "leadrouter.wsgi:application",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--worker-class", "sync",
            "--timeout", "30",
            "--graceful-timeout", "2",
            "--backlog", "512",
        ],
        log_dir,
    ).start()
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/api/v1/openapi.json") or not process.alive(), timeout=30, what="gunicorn to answer")
        assert process.alive(), process.log()
        wait_until(lambda: len(children(process.pid)) >= workers, timeout=15, what="gunicorn's workers")
    except BaseException:
        process.stop()
        raise
    return process


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=(1, 5)).status_code == 200
    except requests.RequestException:
        return False


def qcluster(*, log_dir: Path, name: str = "qcluster") -> Process:
    """`manage.py qcluster` (ORM broker in the test database), started; `kill_group()` kills it with -9.
    At the end of a test it is killed too: its graceful stop waits for its workers, which only costs time."""
    return Process(name, [sys.executable, "manage.py", "qcluster"], log_dir, env=subprocess_env(Q_WORKERS="2"), grace=0).start()
