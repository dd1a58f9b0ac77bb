"""Browser scenarios of the admin (Playwright driving Debian's Chromium): the manager drags one rule above another
in the rule list and "Test a lead" reflects the new order; the admin pages fit 1400 px; the wall shows a breached
lead in red. Screenshots go to tests/screenshots/ (git-ignored)."""

import os
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from django.contrib.auth import get_user_model  # noqa: E402
from django.urls import reverse  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from flows.demo import demo_load  # noqa: E402
from routing.models import Rule  # noqa: E402
from tests.conftest import migration_rows_restore  # noqa: E402

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1:8251")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop in the thread
SHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    # The live server needs committed data (a transactional test; its flush empties what the data migrations made).
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True, scope="module")
def _migration_rows_put_back(django_db_blocker):
    """After this module's last flush, put back the data migrations' rows (the django-q2 schedules the health
    check and the outbox tests look for) for the tests that run next. (serialized_rollback would collide with
    the roles post_migrate makes again on PostgreSQL.)"""
    yield
    with django_db_blocker.unblock():
        migration_rows_restore()


@pytest.fixture
def page():
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


@pytest.fixture
def manager():
    demo_load(password="demo")
    return get_user_model().objects.get(username="manager")


def _login(page, live_server, username="manager"):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def _no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url
    # nor inside the list: the last columns must not hide behind a scroll bar of the table
    inner = page.evaluate("(() => { const r = document.querySelector('#changelist .results'); return r ? r.scrollWidth - r.clientWidth : 0; })()")
    assert inner <= 1, f"{page.url}: the list scrolls {inner} px sideways"


def _test_lead_owner(page, live_server) -> str:
    page.goto(f"{live_server.url}{reverse('admin:routing_rule_test_lead')}")
    page.fill("#id_email", "einkauf@maschinenbau.example")
    page.fill("#id_company_size", "400")
    page.fill("#id_language", "de")
    page.click("input[type=submit][value='Test']")
    return page.inner_text("#test-lead-owner")


def test_dragging_a_rule_up_changes_who_test_a_lead_picks(page, live_server, manager):
    _login(page, live_server)
    assert _test_lead_owner(page, live_server) == "Tomek Wiśniewski"  # Enterprise (> 250) comes first

    page.goto(f"{live_server.url}{reverse('admin:routing_rule_changelist')}")
    page.screenshot(path=str(SHOTS / "admin-rules-1400.png"), full_page=True)
    _no_horizontal_scroll(page)
    german = page.locator("#result_list tbody tr", has_text="German form → Jan").locator(".drag.handle")
    enterprise = page.locator("#result_list tbody tr", has_text="Enterprise (> 250 employees) → Tomek")
    with page.expect_response(lambda r: "adjustorder" in r.url or "update_order" in r.url or r.request.method == "POST"):
        german.drag_to(enterprise, target_position={"x": 20, "y": 2})
    order = list(
        Rule.objects.filter(name__in=["German form → Jan", "Enterprise (> 250 employees) → Tomek"]).order_by("position").values_list("name", flat=True)
    )
    assert order == ["German form → Jan", "Enterprise (> 250 employees) → Tomek"]

    assert _test_lead_owner(page, live_server) == "Jan Schmidt"
    page.screenshot(path=str(SHOTS / "admin-test-lead-1400.png"), full_page=True)
    assert page.locator("#test-lead-actions").inner_text().strip()


def test_admin_lists_fit_1400_px_in_polish(page, live_server, manager):
    _login(page, live_server)
    page.goto(f"{live_server.url}/admin/")
    with page.expect_navigation():
        page.select_option("#leadrouter-language-select", "pl")
    assert "Leadrouter" in page.title() and 'lang="pl"' in page.content()
    for name in ["routing_lead_changelist", "reps_rep_changelist", "routing_rule_changelist", "reps_pool_changelist"]:
        page.goto(f"{live_server.url}{reverse('admin:' + name)}")
        page.screenshot(path=str(SHOTS / f"admin-{name}-pl-1400.png"), full_page=True)
        _no_horizontal_scroll(page)
    assert "<h1>Wybierz pulę do zmiany</h1>" in page.content()


def test_the_wall_shows_a_breached_lead_in_red(page, live_server, manager):
    """Anna's wall screen shows the demo request Kasia let slip in red."""
    from datetime import timedelta

    from django.utils import timezone

    from flows.services.leads import lead_create
    from routing.services.intake import intake_source_create

    source, _token = intake_source_create(name="Website form")
    two_days_ago = timezone.now() - timedelta(days=2)
    lead, _created = lead_create(
        source=source,
        fields={"email": "zofia@fabryka-okien.example", "company": "Fabryka Okien", "source": "demo_request", "submitted_at": two_days_ago},
        now=two_days_ago,
    )
    assert lead.sla_due_at is not None and lead.sla_due_at < timezone.now() and lead.owner is not None

    _login(page, live_server)
    page.goto(f"{live_server.url}{reverse('dashboard-wall')}")
    page.screenshot(path=str(SHOTS / "wall.png"), full_page=True)
    breached = page.locator("section.red", has=page.locator("#wall-breached"))
    assert "Fabryka Okien" in breached.inner_text()
    assert "1" in page.locator(".tile.red").first.inner_text()
    # Red on the screen: the section's edge and heading are drawn in a colour whose red channel dominates.
    import re

    shown = breached.evaluate("el => getComputedStyle(el).borderLeftColor + ' ' + getComputedStyle(el.querySelector('h2')).color")
    channels = [tuple(int(x) for x in m) for m in re.findall(r"rgba?\((\d+), (\d+), (\d+)", shown)]
    assert channels and all(r > 150 and g < 110 and b < 110 for r, g, b in channels), shown


def test_the_wall_and_the_dashboard_fit_a_phone_in_polish(live_server, manager):
    """Anna looks at the wall and the dashboard on her phone (390 px): one column, nothing scrolls sideways;
    the rep statuses read the same for women and men."""
    from tests.browser import PHONE, browser_page, no_horizontal_scroll, shot

    with browser_page(*PHONE) as phone:
        _login(phone, live_server)
        phone.goto(f"{live_server.url}{reverse('dashboard-wall')}")
        shot(phone, "wall-pl-390")
        assert no_horizontal_scroll(phone)
        assert "Do dyspozycji" in phone.locator("#wall-reps").locator("xpath=..").inner_text()
        phone.goto(f"{live_server.url}{reverse('leadrouter-dashboard')}")
        shot(phone, "dashboard-pl-390")
        assert no_horizontal_scroll(phone)
        assert "Pulpit" in phone.title()
