"""The client's IP address, the same way everywhere (login throttling, logs): REMOTE_ADDR, or behind
TRUSTED_PROXY_COUNT reverse proxies the address the outermost of them saw, read from X-Forwarded-For.

Each proxy appends the address it received the request from, so with N trusted proxies the client is the
N-th entry from the right; entries further left were written by the client itself and are not trusted.
With TRUSTED_PROXY_COUNT=0 (the default: no proxy) X-Forwarded-For is ignored altogether, so nobody can
pick their own address by sending the header.
"""

import ipaddress

from django.conf import settings


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    remote = _valid(request.META.get("REMOTE_ADDR", "") or "")
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:
        return remote
    return _valid(forwarded[-count]) or remote
