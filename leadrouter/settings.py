"""Leadrouter settings, read from the environment (django-environ).

Variables (all optional for a newcomer):
  DEBUG            default: False (``make run`` and the test suite set it to True)
  SECRET_KEY       required unless DEBUG; a dev-only default is used when DEBUG
  ALLOWED_HOSTS    comma-separated; default: localhost,127.0.0.1 (+ "*" when DEBUG)
  DATABASE_URL     default: sqlite:///<project>/db.sqlite3; production: postgres://...
  CONN_MAX_AGE     seconds a database connection is kept between requests; default: 60
  TIME_ZONE        default: Europe/Warsaw (USE_TZ is always on)
  LANGUAGE_CODE    the site language: en or pl; default: en (messages, the weekly digest, the demo's names)
  REDIS_URL        when set, django-q2 uses Redis as its broker instead of the ORM
  EMAIL_URL        default: consolemail:// (e.g. smtp+tls://user:pass@host:587)
  DEFAULT_FROM_EMAIL  default: leadrouter@localhost
  SITE_URL         base URL used in links inside notifications; default: http://127.0.0.1:8000
  Q_WORKERS        django-q2 workers per cluster; default: 2
  EMAIL_TIMEOUT    seconds for one SMTP conversation; default: 20
  STATIC_ROOT      where `collectstatic` puts static files (whitenoise serves them); default: <project>/staticfiles
  LOG_FORMAT       text or json (one JSON object per line, with the lead's id); default: text when DEBUG, else json
  LOG_LEVEL        default: INFO
  INTAKE_RATE_LIMIT  requests per token, e.g. "600/min" (the default), "10/s", "off"
  CACHE_URL        the shared cache (django-environ): default the database table django_cache, Redis at
                   REDIS_URL when that is set; e.g. redis://127.0.0.1:6379/1
  TRUSTED_PROXY_COUNT  reverse proxies in front of the app whose X-Forwarded-For is trusted; default: 0
  LOGIN_FAILURE_LIMIT / LOGIN_LOCKOUT_MINUTES  wrong passwords per username and address before a lockout,
                   and its length; default: 5 / 15 (see docs/security.md)

Database connections (PostgreSQL; see docs/deployment.md for the trade-off):
  CONN_MAX_AGE     seconds a connection is kept between requests (persistent connections); default: 60
  DB_POOL          1: psycopg 3's connection pool instead (web processes only; CONN_MAX_AGE is then 0); default: 0
  DB_POOL_MIN_SIZE / DB_POOL_MAX_SIZE   connections per process kept open / at most; default: 2 / 10
  DB_POOL_TIMEOUT  seconds a request waits for a free pooled connection before failing; default: 10
  DB_CONNECT_TIMEOUT  seconds to reach PostgreSQL before giving up (health checks fail fast); default: 5

Behind a TLS-terminating proxy (all off by default; docs/deployment.md and deploy/production.env set them):
  SECURE_PROXY_SSL_HEADER   the proxy's header and value meaning "the client used HTTPS",
                   e.g. HTTP_X_FORWARDED_PROTO,https (only if the proxy always sets or strips that header)
  CSRF_TRUSTED_ORIGINS      comma-separated, e.g. https://leads.example.com
  SECURE_SSL_REDIRECT       1: redirect plain HTTP to HTTPS (the /health/ paths are exempt); default: 0
  SECURE_HSTS_SECONDS       e.g. 31536000; default: 0 (no HSTS header)
  SECURE_HSTS_INCLUDE_SUBDOMAINS, SECURE_HSTS_PRELOAD   1 to add them to the HSTS header; default: 0
  SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE   1: cookies only over HTTPS; default: 0
  HEALTH_CLUSTER_MAX_LAG    seconds without a django-q2 scheduler run before /health/ reports the cluster
                   down; default: 180

gunicorn's own variables (GUNICORN_BIND, WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_TIMEOUT, GUNICORN_ACCESS_LOG,
FORWARDED_ALLOW_IPS) are described in deploy/gunicorn.conf.py; a complete production set in deploy/production.env.

Outbox delivery (notifications/; the NOTIFICATIONS block below is their one home, the code has no defaults):
  NOTIFICATIONS_HTTP_TIMEOUT    "connect,read" seconds for one webhook / Slack / Teams / SMS call; default: 5,10
  NOTIFICATIONS_RETRY_FOR       seconds temporary failures are retried before a message fails; default: 86400 (24 h)
  NOTIFICATIONS_FALLBACK_EMAIL  where messages of a chat channel without URL or address go; default: DEFAULT_FROM_EMAIL
  Fixed here (tune in this file): backoff 30 s doubling to 1 h, a "sending" row taken back after 10 min, the
  sweep leaving a fresh row 1 min to its after-commit task and leasing what it hands out for 5 min.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.logcontext import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] + (["*"] if DEBUG else []))
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "import_export",
    "adminsortable2",
    "axes",
    "csp",
    # The project's apps, in layers: each imports only those below it (import-linter, see pyproject.toml).
    "flows",
    "notifications",
    "sla",
    "routing",
    "reps",
    "core",
]

MIDDLEWARE = [
    "leadrouter.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "routing.door.ApiDoorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leadrouter.urls"
WSGI_APPLICATION = "leadrouter.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: opening one per request costs more than most requests here.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    if env.bool("DB_POOL", default=False):
        # A pool per process, shared by its threads; Django refuses CONN_MAX_AGE with a pool.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        _db_options["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web + qcluster) share the file: wait for locks instead of failing at once, and use
    # WAL so readers never block the writer (and a commit is not a full fsync of the database file).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGES = [("en", "English"), ("pl", "Polski")]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}, not {LANGUAGE_CODE!r}")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Warsaw")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# whitenoise serves STATIC_ROOT from the app itself (no separate static server needed). Outside DEBUG the
# files are compressed and get content-hashed names, cached for ever by browsers: run `collectstatic`
# on every deploy. With DEBUG (and in the test suite) files are served as they are, no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_AUTOREFRESH = DEBUG

# Behind a TLS proxy (see the header). Off by default, so `make run` on plain http://127.0.0.1 keeps working.
if _proxy_header := env.list("SECURE_PROXY_SSL_HEADER", default=[]):
    if len(_proxy_header) != 2:
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER: a header and its value, e.g. HTTP_X_FORWARDED_PROTO,https")
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^health/"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
HEALTH_CLUSTER_MAX_LAG = env.int("HEALTH_CLUSTER_MAX_LAG", default=180)

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/my-leads/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# The intake API refuses bodies over 1 MB with 413 itself; Django's own limit sits just above it.
INTAKE_MAX_BODY_BYTES = 1_000_000
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="leadrouter@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# django-q2: ORM broker by default, Redis when REDIS_URL is set. The task timeout must stay below
# `retry`, or a slow task is handed to a second worker while the first still runs.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "leadrouter",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 90,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Tasks",
    # ORM broker: an idle cluster looks for tasks every `poll` s (one query). Measured intake -> webhook through a
    # running cluster (tests/test_bench_qcluster.py): p50 0.18 s, p99 0.4 s, of which 0.15 / 0.35 s waiting for the
    # poll and a worker; goal 2 s. A shorter poll buys ~0.1 s for twice the idle queries; Redis does not poll.
    "poll": 0.2,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False

# Outbox delivery (notifications/tasks.py, notifications/delivery.py). Durations are timedeltas; see the header.
NOTIFICATIONS_HTTP_TIMEOUT = tuple(env.list("NOTIFICATIONS_HTTP_TIMEOUT", cast=float, default=[5.0, 10.0]))  # (connect, read) s
NOTIFICATIONS_RETRY_FOR = timedelta(seconds=env.float("NOTIFICATIONS_RETRY_FOR", default=24 * 3600))
NOTIFICATIONS_FALLBACK_EMAIL = env.str("NOTIFICATIONS_FALLBACK_EMAIL", default="")  # "": DEFAULT_FROM_EMAIL
NOTIFICATIONS_BACKOFF_BASE = timedelta(seconds=30)  # first retry after about this, doubling each attempt ...
NOTIFICATIONS_BACKOFF_MAX = timedelta(hours=1)  # ... up to this (jitter ±20%, a receiver's Retry-After up to this)
NOTIFICATIONS_STUCK_AFTER = timedelta(minutes=10)  # a row "sending" this long lost its worker: well above the task timeout
NOTIFICATIONS_ENQUEUE_GRACE = timedelta(minutes=1)  # the sweep leaves a fresh row this long to its after-commit task
NOTIFICATIONS_SWEEP_LEASE = timedelta(minutes=5)  # a row the sweep handed out is not handed out again for this long

# Every line carries the id of the lead being processed (core/logcontext.py); JSON lines for log collectors.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))

# --- The door: API hardening (issue 13)
# Every answer under /api/ is JSON (routing/door.py): CSRF failures, Django's error pages and a dropped database.
CSRF_FAILURE_VIEW = "routing.door.csrf_failure"

# Per-token rate limit of the API (routing/ratelimit.py): "<n>/<s|min|h>", "off" to turn it off.
INTAKE_RATE_LIMIT = env.str("INTAKE_RATE_LIMIT", default="600/min")

# The cache is shared by every web worker (the rate limit counts there): CACHE_URL (django-environ, e.g.
# redis://127.0.0.1:6379/1 or dbcache://django_cache), else Redis at REDIS_URL, else the database table
# `django_cache` (created by routing's migration 0007; `manage.py createcachetable` after changing it).
# A database cache gets an atomic incr (leadrouter/cache.py). Never LocMem: it is per process.
CACHE_URL = env.str("CACHE_URL", default="")
if CACHE_URL:
    CACHES = {"default": env.cache_url_config(CACHE_URL)}
elif REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    CACHES["default"]["BACKEND"] = "leadrouter.cache.AtomicDatabaseCache"
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 10_000)

# Login throttling (django-axes) for the admin and the reps' login page: after LOGIN_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES (a 429 page
# in the UI language); a successful login resets the count. The address is leadrouter.client_ip's.
AUTHENTICATION_BACKENDS = ["leadrouter.login_throttle.AxesBackend", "django.contrib.auth.backends.ModelBackend"]
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "leadrouter.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

# Content-Security-Policy on every page (django-csp): scripts only from this site or inline with the
# request's nonce (templates use {{ request.csp_nonce }}), plus the one inline handler django-import-export's
# export page has, by its hash; styles from this site and inline (the admin and our pages use style
# attributes, which nonces cannot cover); nothing framed, no plugins, forms post only here.
from csp.constants import NONCE  # noqa: E402 - kept with the rest of this block

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE, "'unsafe-hashes'", "'sha256-wid4zL8fR53ZYy1ljOepzR77Dn6vWUUxuNnnWWBP3I8='"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
