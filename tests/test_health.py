"""`/health/` for load balancers: database, cache and the django-q2 cluster's heartbeat, as JSON.

The database-down case runs against a real gunicorn in tests/test_deployment.py.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:8119/3"  # nothing listens there (our port range): refused at once


def schedules_last_run(ago: timedelta) -> None:
    """As if a cluster's scheduler last moved the every-minute schedules forward `ago` ago."""
    Schedule.objects.update(next_run=timezone.now() - ago + timedelta(minutes=1))


@pytest.fixture
def cluster_running():
    schedules_last_run(timedelta(seconds=20))


def test_health_is_green_json_when_database_cache_and_cluster_answer(client, cluster_running):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok" and body["failed"] == []
    assert {name: check["ok"] for name, check in body["checks"].items()} == {"database": True, "cache": True, "cluster": True}


def test_a_stopped_cluster_fails_health_but_not_the_web_pods_readiness_or_liveness(client):
    schedules_last_run(timedelta(minutes=10))

    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail" and body["failed"] == ["cluster"]
    assert "qcluster" in body["checks"]["cluster"]["error"]

    web_only = client.get("/health/?cluster=0")
    assert web_only.status_code == 200 and "cluster" not in web_only.json()["checks"]
    assert client.get("/health/live/").json() == {"status": "ok"}


def test_the_cluster_limit_comes_from_the_settings(client, settings):
    schedules_last_run(timedelta(minutes=2))
    assert client.get("/health/").status_code == 200  # default: 3 minutes
    settings.HEALTH_CLUSTER_MAX_LAG = 60
    assert client.get("/health/").status_code == 503


def test_a_cache_that_does_not_answer_fails_health_and_says_so(client, settings, cluster_running):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE_REDIS}}

    response = client.get("/health/?cluster=0")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache"] and body["checks"]["database"]["ok"] is True
    assert "Connection" in body["checks"]["cache"]["error"]


def test_cluster_stats_are_shown_when_the_cache_shares_them(client, monkeypatch, cluster_running):
    from django_q.conf import Conf
    from django_q.status import Stat

    class RunningCluster:
        status = Conf.IDLE

    monkeypatch.setattr(Stat, "get_all", staticmethod(lambda broker=None: [RunningCluster(), RunningCluster()]))

    assert client.get("/health/").json()["checks"]["cluster"]["clusters"] == 2


def test_health_answers_a_balancer_asking_by_ip_over_plain_http(settings, cluster_running):
    """Balancers probe the pod by its address and over HTTP: no 400 for the host, no redirect to HTTPS."""
    settings.ALLOWED_HOSTS = ["leads.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    balancer = Client(HTTP_HOST="10.1.2.3:8000")

    assert balancer.get("/health/").status_code == 200
    assert balancer.get("/health/live/").status_code == 200
    assert balancer.get("/admin/").status_code == 400  # everything else still checks the host
    assert Client(HTTP_HOST="leads.example.com").get("/admin/").status_code == 301  # and redirects to HTTPS


def test_health_takes_only_get(client):
    response = client.post("/health/")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert "method" in response.json()["errors"]
