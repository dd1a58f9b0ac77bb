"""Settings of the HTTP intake benchmark's server: the project's own, plus the floor view's URL.

`DJANGO_SETTINGS_MODULE=benchmarks.settings` (tests/test_bench_http.py sets it for its gunicorn) serves everything
`leadrouter.settings` serves, from the same environment, and `POST /bench/floor/` (benchmarks/floor.py). The
production URLconf never has the floor.

BENCH_CACHE_KEY_PREFIX: a key prefix for the shared cache, so a benchmark's rate-limit counters in a Redis that
other processes use cannot meet theirs (django-environ's CACHE_URL `?key_prefix=` is not passed on to Django's
Redis backend).
"""

from leadrouter.settings import *  # noqa: F403
from leadrouter.settings import CACHES, env

ROOT_URLCONF = "benchmarks.urls"

if _prefix := env.str("BENCH_CACHE_KEY_PREFIX", default=""):
    CACHES["default"]["KEY_PREFIX"] = _prefix
