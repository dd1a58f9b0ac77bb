"""What the benchmarks ask of this machine's local services."""

from __future__ import annotations

import socket

REDIS = ("127.0.0.1", 6379)


def redis_answers(address: tuple[str, int] = REDIS) -> bool:
    """Whether a Redis server answers PING at `address` (the deployment's cache and, optionally, broker)."""
    try:
        with socket.create_connection(address, timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
