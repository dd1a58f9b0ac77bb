"""Leadrouter settings, read from the environment (django-environ).

Variables (all optional for a newcomer):
  DEBUG            default: False (``make run`` and the test suite set it to True)
  SECRET_KEY       required unless DEBUG; a dev-only default is used when DEBUG
  ALLOWED_HOSTS    comma-separated; default: localhost,127.0.0.1 (+ "*" when DEBUG)
  DATABASE_URL     default: sqlite:///<project>/db.sqlite3; production: postgres://...
  CONN_MAX_AGE     seconds a database connection is kept between requests; default: 60
  TIME_ZONE        default: Europe/Warsaw (USE_TZ is always on)
  REDIS_URL        when set, django-q2 uses Redis as its broker instead of the ORM
  EMAIL_URL        default: consolemail:// (e.g. smtp+tls://user:pass@host:587)
  DEFAULT_FROM_EMAIL  default: leadrouter@localhost
  SITE_URL         base URL used in links inside notifications; default: http://127.0.0.1:8000
  Q_WORKERS        django-q2 workers per cluster; default: 2
  EMAIL_TIMEOUT    seconds for one SMTP conversation; default: 20
  INTAKE_RATE_LIMIT  requests per token, e.g. "600/min" (the default), "10/s", "off"
  CACHE_URL        the shared cache (django-environ): default the database table django_cache, Redis at
                   REDIS_URL when that is set; e.g. redis://127.0.0.1:6379/1
  TRUSTED_PROXY_COUNT  reverse proxies in front of the app whose X-Forwarded-For is trusted; default: 0
  LOGIN_FAILURE_LIMIT / LOGIN_LOCKOUT_MINUTES  wrong passwords per username and address before a lockout,
                   and its length; default: 5 / 15 (see docs/security.md)

Outbox delivery (notifications/) reads these settings with defaults, tune them here if needed:
  NOTIFICATIONS_HTTP_TIMEOUT (connect, read) = (5, 10) s; NOTIFICATIONS_RETRY_FOR = 24 h of retries;
  NOTIFICATIONS_BACKOFF_BASE / _MAX = 30 s / 1 h; NOTIFICATIONS_STUCK_AFTER = 10 min (a "sending" row is
  taken back); NOTIFICATIONS_FALLBACK_EMAIL = DEFAULT_FROM_EMAIL (where URL-less chat channels go).
"""

from datetime import timedelta
from pathlib import Path

import environ

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
    "reps",
    "routing",
    "sla",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pl", "Polski")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Warsaw")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

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
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

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
