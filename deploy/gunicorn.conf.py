"""gunicorn settings for Leadrouter: `gunicorn -c deploy/gunicorn.conf.py` (the app is set here).

Every value can be changed from the environment, so the same file serves systemd, a Procfile platform
and the test suite:
  GUNICORN_BIND        default 127.0.0.1:8000 (behind nginx on the same host; a Procfile platform sets PORT)
  WEB_CONCURRENCY      worker processes; default 2 × cores + 1
  GUNICORN_THREADS     threads per worker; default 1 (sync workers). More than 1: gthread workers, then
                       DB_POOL=1 shares connections between a worker's threads (docs/deployment.md)
  GUNICORN_TIMEOUT     seconds a request may take before its worker is restarted; default 30
  GUNICORN_ACCESS_LOG  "-" for an access log on stdout; default none (the proxy logs requests)
  FORWARDED_ALLOW_IPS  proxies whose X-Forwarded-* headers gunicorn trusts; default 127.0.0.1
  LOG_FORMAT, LOG_LEVEL as for Django: gunicorn's own lines are JSON too when LOG_FORMAT=json
"""

import multiprocessing
import os
import sys
from pathlib import Path

# The project folder, so `core.logcontext` (the JSON formatter) imports whichever folder gunicorn starts in.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.logcontext import logging_config  # noqa: E402

wsgi_app = "leadrouter.wsgi:application"

if os.environ.get("GUNICORN_BIND"):
    bind = os.environ["GUNICORN_BIND"].split(",")
elif os.environ.get("PORT"):  # Heroku-style platforms give the port only
    bind = [f"0.0.0.0:{os.environ['PORT']}"]
else:
    bind = ["127.0.0.1:8000"]

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"

# Intake answers in milliseconds; a request still running after 30 s is stuck. The API's own limits (1 MB
# body) are enforced by Django; these only stop absurd request lines and headers early.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30  # on SIGTERM (deploy, scale down) running requests get this long to finish
keepalive = 5  # behind nginx's keep-alive to the upstream
limit_request_line = 8190
limit_request_fields = 100

# A worker is replaced after this many requests (with jitter, so not all at once): bounds slow leaks.
max_requests = 2000
max_requests_jitter = 200

# The heartbeat file on tmpfs: a worker blocked on a slow disk is not killed as stuck.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips

errorlog = "-"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

_format = os.environ.get("LOG_FORMAT") or ("text" if os.environ.get("DEBUG", "").lower() in ("1", "true", "yes", "on") else "json")
if _format == "json":
    # gunicorn's own lines (worker started, timeout, ...) as JSON too, through the same formatter as Django's.
    logconfig_dict = logging_config(log_format="json", level=loglevel.upper())
    logconfig_dict["loggers"].update(
        {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"] if accesslog else [], "propagate": False},
        }
    )
