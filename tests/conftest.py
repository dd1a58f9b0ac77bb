"""Shared fixtures. People are the TechPol demo's (docs/demo.md): kasia, marek, tomek..."""

import pytest
from django.db import connection
from django.test import Client
from django.utils import translation

from flows.demo import demo_load
from routing.services.intake import intake_source_create


def pytest_collection_modifyitems(config, items):
    # PostgreSQL-only tests (row locks, concurrency) are skipped, loudly, on SQLite.
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://...")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """`make bench`: every measured figure next to its goal (benchmarks.report), and .benchmarks/results.json."""
    from benchmarks import report

    if report.figures():
        terminalreporter.write_sep("=", "benchmarks: measured against their goals")
        terminalreporter.write_line(report.table())
        terminalreporter.write_line(f"(JSON: {report.write_json()})")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The demo sets nine passwords; a slow hasher would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def site_language():
    """Each test starts and ends in the site language: a request with Accept-Language activates its language for
    the rest of the thread (LocaleMiddleware does not switch back), which would leak into the next test."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def demo(db):
    """The TechPol demo, loaded; returns {username: Rep}."""
    return demo_load(password="demo")


@pytest.fixture
def kasia(demo):
    return demo["kasia"]


@pytest.fixture
def marek(demo):
    return demo["marek"]


@pytest.fixture
def ola(demo):
    return demo["ola"]


@pytest.fixture
def tomek(demo):
    return demo["tomek"]


@pytest.fixture
def anna(demo):
    return demo["anna"]


@pytest.fixture
def jan(demo):
    return demo["jan"]


@pytest.fixture
def piotr(demo):
    return demo["piotr"]


@pytest.fixture
def ewa(demo):
    return demo["ewa"]


@pytest.fixture
def website(db):
    """The "Website form" intake source and its raw token: (source, token)."""
    return intake_source_create(name="Website form")


@pytest.fixture
def api(website):
    """An HTTP client that posts to the intake API as the website form."""
    _source, token = website
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def migration_rows_restore() -> None:
    """Put back the rows the data migrations make (the django-q2 schedules, the live rule table): a transactional
    test's flush empties them. Each function is the migration's own, idempotent."""
    import importlib

    from django.apps import apps

    importlib.import_module("notifications.migrations.0004_outbox_retry_schedule").schedule_create(apps, None)
    importlib.import_module("flows.migrations.0001_sla_tick_schedule").schedule_ensure(apps, None)
    importlib.import_module("flows.migrations.0002_weekly_digest_schedule").schedule_ensure(apps, None)
    importlib.import_module("routing.migrations.0003_rule_tables").live_table_attach(apps, None)
    importlib.import_module("reps.migrations.0004_calendar_refresh_schedule").schedule_ensure(apps, None)
    importlib.import_module("reps.migrations.0006_vocabulary_seed").seed(apps, None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The data migrations' rows, put back on a reused test database (with --reuse-db the next run would start
    without them after a transactional test's flush)."""
    with django_db_blocker.unblock():
        migration_rows_restore()
