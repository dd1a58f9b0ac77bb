"""A closed-loop HTTP load generator for the intake benchmark (tests/test_bench_http.py), with wrk or without.

`run(url=..., token=..., tag=..., clients=16, seconds=15)` keeps `clients` connections busy for `seconds`, each
sending the next lead as soon as its previous answer is in, and returns a `Result`: requests, answers by status,
transport errors, latency percentiles, the ids of the leads answered 201, and the CPU the client itself used.

- **wrk** (`apt-get install wrk`) when it is on PATH: a Lua script builds every request's body and keeps each
  answer's status and lead id. wrk times a request from its first byte written to the last byte read.
- **Python** otherwise (or `BENCH_HTTP_CLIENT=python`): `processes` subprocesses (`python -m benchmarks.load
  --worker`), each with its share of the clients as threads, each on its own keep-alive socket speaking just
  enough HTTP/1.1, timed the same way as wrk (a reconnect after the server's `Connection: close` is not in the
  time). The client's CPU is reported so a benchmark can tell whether the client, not the server, was the limit.

Every request is a distinct lead (`lead_body`: the e-mail carries the tag, the client and a counter), so repeat-lead
routing never kicks in, with the mix of sources, regions, sizes and messages of tests/test_bench_intake.py.

By hand, against a running server (see the test's docstring for the environment):

    .venv/bin/python -m benchmarks.load http://127.0.0.1:18100/api/v1/leads/ --token lr_... --seconds 10

`CpuSampler` adds up the CPU that a set of processes (the gunicorn workers, the PostgreSQL backends) used while
it runs, from /proc (Linux only).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

SOURCES = ["demo_request", "webinar", "report_download", "newsletter", "contact_form"]
REGIONS = ["Śląskie", "Mazowieckie", "Małopolskie"]
ROOT = Path(__file__).resolve().parent.parent


def lead_body(tag: str, client: int, i: int) -> dict:
    """The i-th lead of one client: a distinct person every time, the demo's mix of everything else."""
    return {
        "email": f"{tag}-{client}-{i}@firma{i % 97}.example",
        "company": f"Firma {i % 97}",
        "source": SOURCES[i % len(SOURCES)],
        "region": REGIONS[i % 3],
        "postal_code": f"{40 + i % 10}-{i % 1000:03d}",
        "company_size": (i * 37) % 600,
        "message": "AWARIA" if i % 11 == 0 else "Prośba o ofertę",
        "phone": "+48 600 000 000" if i % 2 else "",
    }


# The same bodies in Lua, for wrk (client = wrk thread * 1000 + connection slot is not available: per thread).
_WRK_SCRIPT = r"""
local tag, path, out = %(tag)s, %(path)s, %(out)s
local headers = %(headers)s
local sources = {"demo_request", "webinar", "report_download", "newsletter", "contact_form"}
local regions = {"Śląskie", "Mazowieckie", "Małopolskie"}
local threads, next_id = {}, 0

function setup(thread)
  thread:set("client", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter, statuses, ids = 0, {}, {}
  for name, value in pairs(headers) do wrk.headers[name] = value end
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local i = counter
  counter = counter + 1
  local message = (i %% 11 == 0) and "AWARIA" or "Prośba o ofertę"
  local phone = (i %% 2 == 1) and "+48 600 000 000" or ""
  local body = string.format(
    '{"email": "%%s-%%d-%%d@firma%%d.example", "company": "Firma %%d", "source": "%%s", "region": "%%s", ' ..
    '"postal_code": "%%d-%%03d", "company_size": %%d, "message": "%%s", "phone": "%%s"}',
    tag, client, i, i %% 97, i %% 97, sources[i %% 5 + 1], regions[i %% 3 + 1],
    40 + i %% 10, i %% 1000, (i * 37) %% 600, message, phone)
  return wrk.format("POST", path, nil, body)
end

function response(status, response_headers, body)
  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  if status == 201 then
    local id = string.match(body, '"id":%%s*(%%d+)')
    if id then ids[#ids + 1] = id end
  end
end

function done(summary, latency, requests)
  local all_statuses, all_ids = {}, {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do all_statuses[code] = (all_statuses[code] or 0) + n end
    for _, id in ipairs(thread:get("ids")) do all_ids[#all_ids + 1] = id end
  end
  local parts = {}
  for code, n in pairs(all_statuses) do parts[#parts + 1] = string.format('"%%s": %%d', code, n) end
  local e = summary.errors
  local f = io.open(out, "w")
  f:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}, ' ..
    '"latency_us": {"p50": %%d, "p90": %%d, "p99": %%d, "max": %%d}, "statuses": {%%s}, "ids": [%%s]}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ", "), table.concat(all_ids, ", ")))
  f:close()
end
"""


@dataclass
class Result:
    """One closed-loop run against one path."""

    tool: str
    clients: int
    seconds: float  # from the first request sent to the last answer read
    requests: int  # answers read, whatever their status
    statuses: dict[str, int]
    transport_errors: dict[str, int]  # connect, read, write, timeout: no answer at all
    latency_ms: dict[str, float]  # p50, p90, p99, max
    ids: list[int] = field(repr=False)  # the leads answered 201
    client_cpu_s: float = 0.0  # user + system CPU of the load generator's processes

    @property
    def created(self) -> int:
        return self.statuses.get("201", 0)

    @property
    def errors(self) -> int:
        """Every request that was not answered 201: other statuses and transport errors."""
        return self.requests - self.created + sum(self.transport_errors.values())

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict:
        data = asdict(self)
        del data["ids"]
        return {**data, "per_second": round(self.per_second, 1), "errors": self.errors, "created": self.created}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(*, url: str, token: str, tag: str, clients: int = 16, seconds: float = 15, headers: dict[str, str] | None = None,
        tool: str | None = None, processes: int = 2) -> Result:  # fmt: skip
    """Load `url` (a POST endpoint taking a lead) with `clients` concurrent clients for `seconds`.

    `tool`: "wrk", "python", or None for `BENCH_HTTP_CLIENT`, else wrk when it is installed."""
    tool = tool or os.environ.get("BENCH_HTTP_CLIENT") or ("wrk" if wrk_available() else "python")
    headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    cpu_before = _children_cpu()  # the load generator runs in child processes: their CPU once they are reaped
    if tool == "wrk":
        result = _run_wrk(url=url, headers=headers, tag=tag, clients=clients, seconds=seconds)
    elif tool == "python":
        result = _run_python(url=url, headers=headers, tag=tag, clients=clients, seconds=seconds, processes=processes)
    else:
        raise ValueError(f"BENCH_HTTP_CLIENT must be wrk or python, not {tool!r}")
    result.client_cpu_s = round(_children_cpu() - cpu_before, 3)
    return result


def _lua(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run_wrk(*, url: str, headers: dict[str, str], tag: str, clients: int, seconds: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        out = Path(tmp) / "result.json"
        script = Path(tmp) / "lead.lua"
        path = urlsplit(url).path or "/"
        script.write_text(_WRK_SCRIPT % {"tag": _lua(tag), "path": _lua(path), "out": _lua(out), "headers": _lua(headers)}, encoding="utf-8")
        threads = max(1, min(2, clients))
        command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
        data = json.loads(out.read_text(encoding="utf-8"))
    latency = {name: round(us / 1000, 2) for name, us in data["latency_us"].items()}
    return Result(
        tool="wrk",
        clients=clients,
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        statuses=data["statuses"],
        transport_errors={name: n for name, n in data["errors"].items() if n},
        latency_ms=latency,
        ids=[int(i) for i in data["ids"]],
    )


def _percentiles(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(latencies_s)

    def rank(p: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, int(-(-p * len(ordered) // 100)) - 1))]

    return {"p50": round(1000 * rank(50), 2), "p90": round(1000 * rank(90), 2), "p99": round(1000 * rank(99), 2), "max": round(1000 * ordered[-1], 2)}


def _run_python(*, url: str, headers: dict[str, str], tag: str, clients: int, seconds: float, processes: int) -> Result:
    processes = max(1, min(processes, clients))
    start_at = time.time() + 1.0  # every process starts sending at once, after its imports
    shares = [clients // processes + (1 if n < clients % processes else 0) for n in range(processes)]
    first_client, workers = 0, []
    for share in shares:
        spec = {"url": url, "headers": headers, "tag": tag, "first_client": first_client, "clients": share, "start_at": start_at, "seconds": seconds}
        workers.append(
            subprocess.Popen([sys.executable, "-m", "benchmarks.load", "--worker", json.dumps(spec)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
        first_client += share
    parts = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=seconds + 120)
        if worker.returncode != 0:
            raise RuntimeError(f"load worker failed ({worker.returncode}): {stderr.decode(errors='replace')}")
        parts.append(json.loads(stdout))
    latencies = [s for part in parts for s in part["latencies"]]
    statuses, errors = Counter(), Counter()
    for part in parts:
        statuses.update(part["statuses"])
        errors.update(part["errors"])
    began = min(part["began"] for part in parts)
    ended = max(part["ended"] for part in parts)
    return Result(
        tool="python",
        clients=clients,
        seconds=max(ended - began, 1e-9),
        requests=len(latencies),
        statuses=dict(statuses),
        transport_errors=dict(errors),
        latency_ms=_percentiles(latencies),
        ids=[i for part in parts for i in part["ids"]],
    )


_ID = re.compile(rb'"id":\s*(\d+)')


class AnswerError(Exception):
    """The server's answer could not be read as HTTP/1.1 (closed early, no length, ...)."""


def _read_answer(sock: socket.socket) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 answer: (status, body, whether the connection stays open). Only what gunicorn sends here:
    Content-Length bodies, or a body up to the close; a chunked answer is refused (counted as an error)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AnswerError("closed before the answer's headers")
        buffer += chunk
    head, _sep, body = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        name, _colon, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    keep_open = fields.get(b"connection") != b"close"
    if b"content-length" in fields:
        length = int(fields[b"content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise AnswerError("closed inside the answer's body")
            body += chunk
    elif not keep_open:
        while chunk := sock.recv(65536):
            body += chunk
    else:
        raise AnswerError("an answer without Content-Length on a kept connection (chunked?)")
    return status, body, keep_open


def _client(*, url: str, headers: dict[str, str], tag: str, client: int, start_at: float, deadline: float, out: dict) -> None:
    """One closed-loop client on a raw socket: http.client's header parsing would cost the client more CPU than
    the floor view costs the server."""
    parts = urlsplit(url)
    address = (parts.hostname, parts.port or 80)
    host = next((value for name, value in headers.items() if name.lower() == "host"), f"{parts.hostname}:{address[1]}")
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-type", "content-length")]
    head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()
    latencies, statuses, errors, ids = out["latencies"], out["statuses"], out["errors"], out["ids"]
    sock = None
    i = 0
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < deadline:
        body = json.dumps(lead_body(tag, client, i)).encode()
        i += 1
        try:
            if sock is None:  # sync workers close after each answer: the reconnect is not timed (nor is it in wrk)
                sock = socket.create_connection(address, timeout=30)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            began = time.perf_counter()
            sock.sendall(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            status, answer, keep_open = _read_answer(sock)
            latencies.append(time.perf_counter() - began)
        except (OSError, ValueError, IndexError, AnswerError) as exc:
            errors[type(exc).__name__] += 1
            if sock is not None:
                sock.close()
            sock = None
            continue
        if not keep_open:
            sock.close()
            sock = None
        statuses[str(status)] += 1
        if status == 201 and (match := _ID.search(answer)):
            ids.append(int(match.group(1)))
    if sock is not None:
        sock.close()


def _worker(spec: dict) -> dict:
    """One load process: its share of the clients as threads; what they saw, as JSON on stdout."""
    start_at, deadline = spec["start_at"], spec["start_at"] + spec["seconds"]
    outs = []
    threads = []
    for n in range(spec["clients"]):
        out = {"latencies": [], "statuses": Counter(), "errors": Counter(), "ids": []}
        outs.append(out)
        client = spec["first_client"] + n
        kwargs = {"url": spec["url"], "headers": spec["headers"], "tag": spec["tag"], "client": client, "start_at": start_at, "deadline": deadline, "out": out}
        threads.append(threading.Thread(target=_client, kwargs=kwargs, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses, errors = Counter(), Counter()
    for out in outs:
        statuses.update(out["statuses"])
        errors.update(out["errors"])
    return {
        "latencies": [s for out in outs for s in out["latencies"]],
        "statuses": dict(statuses),
        "errors": dict(errors),
        "ids": [i for out in outs for i in out["ids"]],
        "began": start_at,
        "ended": time.time(),
    }


class CpuSampler:
    """CPU seconds (user + system) that the processes `pids()` names used while the sampler ran (Linux /proc).

    Sampled every `interval` s, so a process that ends between two samples loses at most one interval's CPU and a
    process first seen mid-run counts from then on. `with CpuSampler(pids) as cpu: ...` then `cpu.seconds`."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pids, *, interval: float = 0.25):
        self.pids, self.interval = pids, interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @classmethod
    def cpu_of(cls, pid: int) -> float | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rpartition(")")[2].split()  # after "(command name)": state is fields[0]
        return (int(fields[11]) + int(fields[12])) / cls.TICK  # utime, stime

    def _sample(self) -> None:
        for pid in self.pids():
            cpu = self.cpu_of(pid)
            if cpu is not None:
                self.first.setdefault(pid, cpu)
                self.last[pid] = cpu

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def children_of(pid: int) -> list[int]:
    """The direct children of a process (the gunicorn master's workers)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving connections to `database` on this machine (their process titles)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            words = title.split()  # "postgres: [cluster name:] user database host(port) state"
            if words[:1] != ["postgres:"]:
                continue
            if len(words) > 1 and words[1].endswith(":"):
                del words[1]
            if len(words) >= 3 and words[2] == database:
                found.append(int(entry.name))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--token", default="")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--tool", choices=["wrk", "python"])
    parser.add_argument("--tag", default=f"load{int(time.time())}")
    parser.add_argument("--header", action="append", default=[], help="Name: value (e.g. X-Forwarded-Proto: https)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        json.dump(_worker(json.loads(args.worker)), sys.stdout)
        return
    if not args.url:
        parser.error("the URL to load is required")
    headers = dict(h.split(":", 1) for h in args.header)
    result = run(url=args.url, token=args.token, tag=args.tag, clients=args.clients, seconds=args.seconds, tool=args.tool,
                 headers={k.strip(): v.strip() for k, v in headers.items()})  # fmt: skip
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
