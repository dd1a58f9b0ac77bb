"""Per-token rate limit (issue 13): 429 with Retry-After, generous by default, shared by every worker."""

import json
import threading
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.test import Client

from routing.models import Lead
from routing.ratelimit import Rate, parse_rate, rate_limit_hit
from routing.services.intake import intake_source_create

URL = "/api/v1/leads/"


def post_lead(client, n: int):
    return client.post(URL, data=json.dumps({"email": f"osoba{n}@firma.example"}), content_type="application/json")


@pytest.mark.parametrize(
    "text, rate",
    [("600/min", Rate(600, 60)), ("10/s", Rate(10, 1)), ("100/10s", Rate(100, 10)), ("36000/hour", Rate(36000, 3600)), (" 5 / m ", Rate(5, 60))],
)
def test_rates_are_read_as_written(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["off", "0", "", "0/min"])
def test_a_rate_can_be_turned_off(text):
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["600", "600/fortnight", "many/min", "-1/min"])
def test_a_misspelt_rate_is_a_configuration_error(text):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(text)


def test_the_default_is_generous(settings):
    assert parse_rate(settings.INTAKE_RATE_LIMIT) == Rate(600, 60)


@pytest.mark.django_db
class TestTheApi:
    @pytest.fixture(autouse=True)
    def _one_window(self):
        """Every request of a test falls in one window: a real clock crossing a minute would reset the count."""
        with mock.patch("routing.ratelimit._clock", return_value=1_800_000_001.0):
            yield

    def test_over_the_limit_is_a_json_429_with_retry_after_and_nothing_stored(self, api, demo, settings):
        settings.INTAKE_RATE_LIMIT = "5/min"
        answers = [post_lead(api, n) for n in range(8)]
        assert [a.status_code for a in answers] == [201] * 5 + [429] * 3
        too_many = answers[-1]
        assert too_many["Content-Type"].startswith("application/json")
        assert 1 <= int(too_many["Retry-After"]) <= 60
        assert "5" in too_many.json()["errors"]["request"][0]
        assert Lead.objects.count() == 5

    def test_every_endpoint_counts_against_the_same_budget(self, api, demo, settings):
        settings.INTAKE_RATE_LIMIT = "3/min"
        assert post_lead(api, 1).status_code == 201
        assert api.get(URL).status_code == 200
        assert api.post("/api/v1/route/preview", data={"email": "a@firma.example"}).status_code == 200
        assert api.get(URL).status_code == 429

    def test_each_token_has_its_own_budget(self, api, demo, settings):
        settings.INTAKE_RATE_LIMIT = "2/min"
        _source, other_token = intake_source_create(name="Zapier")
        other = Client(HTTP_AUTHORIZATION=f"Bearer {other_token}")
        assert [post_lead(api, n).status_code for n in range(3)] == [201, 201, 429]
        assert post_lead(other, 9).status_code == 201

    def test_the_next_window_is_open_again(self, api, demo, settings):
        settings.INTAKE_RATE_LIMIT = "2/min"
        with mock.patch("routing.ratelimit._clock", return_value=1_800_000_000.0):
            assert [api.get(URL).status_code for _ in range(3)] == [200, 200, 429]
        with mock.patch("routing.ratelimit._clock", return_value=1_800_000_060.0):
            assert api.get(URL).status_code == 200

    def test_a_burst_of_500_under_the_default_limit_is_served(self, api, demo, settings):
        assert settings.INTAKE_RATE_LIMIT == "600/min"
        assert all(api.get(URL, {"email": "x@firma.example"}).status_code == 200 for _ in range(500))

    def test_the_counter_lives_in_the_shared_cache_table_not_in_the_process(self, api, demo, settings):
        assert settings.CACHES["default"]["BACKEND"] == "leadrouter.cache.AtomicDatabaseCache"
        api.get(URL)
        with connection.cursor() as cursor:
            cursor.execute("SELECT cache_key FROM django_cache")
            keys = [row[0] for row in cursor.fetchall()]
        assert any("ratelimit:intake-source:" in key for key in keys)

    def test_the_limiter_fails_open_when_the_cache_is_down(self, api, demo, settings):
        settings.INTAKE_RATE_LIMIT = "1/min"
        with mock.patch.object(type(caches["default"]), "add", side_effect=ConnectionError("cache down")):
            assert [api.get(URL).status_code for _ in range(3)] == [200, 200, 200]

    def test_unauthenticated_requests_are_401_before_any_counting(self, demo, settings):
        settings.INTAKE_RATE_LIMIT = "1/min"
        assert [Client().get(URL).status_code for _ in range(3)] == [401, 401, 401]


@pytest.mark.django_db
def test_the_counter_is_exact_on_the_database_cache():
    rate = Rate(10, 60)
    verdicts = [rate_limit_hit(key="t", rate=rate, now=1_800_000_000.0) for _ in range(12)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 2
    assert verdicts[-1].retry_after == 60  # 1_800_000_000 starts a minute


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_lose_no_count_on_postgresql():
    """Eight threads (own connections, as gunicorn workers have) increment one counter: none is lost."""
    db_cache = caches["default"]
    db_cache.add("ratelimit:race", 0, timeout=120)
    start = threading.Barrier(8)
    failures = []

    def worker():
        try:
            start.wait()
            for _ in range(25):
                db_cache.incr("ratelimit:race")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert db_cache.get("ratelimit:race") == 200


def _redis_up() -> bool:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/4", socket_connect_timeout=0.5).ping()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis at 127.0.0.1:6379")
def test_the_counter_works_on_redis(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/4", "KEY_PREFIX": "lr-test-ratelimit"}
    }
    rate = Rate(3, 60)
    now = 1_900_000_000.0 + (hash(threading.get_ident()) % 1000) * 60
    verdicts = [rate_limit_hit(key="redis-test", rate=rate, now=now) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    caches["default"].clear()
