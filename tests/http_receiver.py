"""A recording HTTP server on 127.0.0.1 for tests of outbound calls (Slack, Teams, SMS gateways, webhooks).

    with HttpReceiver() as receiver:
        channel.url = receiver.url("/hooks/T000/B000/secret")
        ...
        assert receiver.requests[0].json()["text"] == "..."

`receiver.respond(status)` changes the answer (500, 404...), `receiver.hang(seconds)` makes it accept the
request and answer only after that long (a client's read timeout fires first), `receiver.slow(seconds)` answers late but within timeouts, `receiver.stop()` takes it
down (connections refused: the port is kept, `start()` brings it back on the same port).
Only loopback: the server binds 127.0.0.1 and nothing else.
"""

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str) -> str | None:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get(name.lower())


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        hang = receiver._hang_seconds
        if hang:
            # Accepted and read, but no answer: the client's read timeout must fire.
            receiver._record(RecordedRequest(self.command, self.path, dict(self.headers.items()), body), answered=False)
            receiver._hanging.wait(hang)
            self.close_connection = True
            return
        if receiver._delay:
            time.sleep(receiver._delay)
        status, answer = receiver._status, receiver._body
        receiver._record(RecordedRequest(self.command, self.path, dict(self.headers.items()), body), answered=200 <= status < 300)
        payload = answer.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_GET = do_PATCH = _handle

    def log_message(self, format, *args):  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that gives up (a read timeout) or closes a kept-alive connection is part of the tests.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def __init__(self, address, receiver):
        self.receiver = receiver
        super().__init__(address, _Handler)


class HttpReceiver:
    """Records every request; answers `status` (200 by default) with `body`."""

    def __init__(self, port: int = 0):
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.answered: list[RecordedRequest] = []  # requests that got a 2xx: what was really delivered
        self._lock = threading.Lock()
        self._status = 200
        self._body = "ok"
        self._hang_seconds = 0.0
        self._delay = 0.0
        self._hanging = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> "HttpReceiver":
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Down: further connections are refused (nothing listens on the port)."""
        self._hanging.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._hanging = threading.Event()

    def __enter__(self) -> "HttpReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    # -- behaviour
    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, status: int, body: str = "") -> None:
        self._status, self._body, self._hang_seconds = status, body or ("ok" if status < 300 else "error"), 0.0

    def hang(self, seconds: float = 5.0) -> None:
        self._hang_seconds = seconds

    def slow(self, seconds: float) -> None:
        """Answer normally, but only after `seconds` (shorter than the client's read timeout)."""
        self._delay = seconds

    # -- records
    def _record(self, request: RecordedRequest, *, answered: bool) -> None:
        with self._lock:
            self.requests.append(request)
            if answered:
                self.answered.append(request)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        return list(self.requests)


def free_port() -> int:
    """A loopback port nothing listens on (for "receiver is down" before it ever started)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


try:  # the `receiver` fixture, for test modules that import it by name
    import pytest

    @pytest.fixture
    def receiver():
        """A recording HTTP server on 127.0.0.1 for the test's duration."""
        with HttpReceiver() as server:
            yield server

except ImportError:  # pragma: no cover - used outside pytest
    pass
