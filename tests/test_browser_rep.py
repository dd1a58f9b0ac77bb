"""Browser scenarios of the rep's day (Playwright driving Debian's Chromium), in Polish: Marek logs in, sees his
leads counting down in business time, opens one, logs a call in one tap and it leaves the open list; on a phone
(390 px) neither the list nor a lead page scrolls sideways. Screenshots: tests/screenshots/rep-*.png."""

import os
from datetime import timedelta

import pytest

pytest.importorskip("playwright.sync_api")
from django.utils import timezone  # noqa: E402

from flows.services.leads import lead_create  # noqa: E402
from flows.services.reassign import lead_reassign  # noqa: E402
from reps.models import Rep  # noqa: E402
from routing.models import Lead, Task  # noqa: E402
from routing.services.intake import intake_source_create  # noqa: E402
from tests.browser import DESKTOP, PHONE, browser_page, no_horizontal_scroll, requires_chromium, shot  # noqa: E402
from tests.conftest import migration_rows_restore  # noqa: E402

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1:8245")

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True, scope="module")
def _migration_rows_put_back(django_db_blocker):
    """After this module's last flush, put back the data migrations' rows for the tests that run next."""
    yield
    with django_db_blocker.unblock():
        migration_rows_restore()


@pytest.fixture
def marek_leads(demo):
    """Two webinar leads for Marek, one with a long company name, a task and a long message (the phone layout)."""
    marek = demo["marek"]
    source, _token = intake_source_create(name="Website form")
    now = timezone.now()
    leads = []
    for i, fields in enumerate(
        [
            {"email": "jan.kowalski@firma-b.example", "first_name": "Jan", "last_name": "Kowalski", "company": "Firma B", "phone": "+48 600 100 200"},
            {
                "email": "bardzo.dlugi.adres.mailowy.dzialu.zakupow@przedsiebiorstwo-produkcyjno-handlowe.example",
                "first_name": "Grzegorz",
                "last_name": "Brzęczyszczykiewicz",
                "company": "Przedsiębiorstwo Produkcyjno-Handlowo-Usługowe „Chrząszczyrzewoszyce” Sp. z o.o.",
                "message": "Dzień dobry, " + "prosimy o ofertę na wdrożenie systemu dla 40 oddziałów " * 6,
            },
        ]
    ):
        lead, _created = lead_create(source=source, fields={"source": "webinar", "submitted_at": now - timedelta(minutes=3 - i), **fields}, now=now)
        if lead.owner_id != marek.pk:  # the juniors' pool takes turns: the team lead hands this one to Marek
            lead_reassign(lead=lead, to_rep=marek, by=demo["anna"].user, reason="Ola jest na urlopie", now=now)
        leads.append(Lead.objects.get(pk=lead.pk))
    Task.objects.create(lead=leads[1], assignee=marek, title="Zaproponuj spotkanie na miejscu")
    return marek, leads


def _login(page, live_server, username="marek"):
    page.goto(f"{live_server.url}/accounts/login/?next=/my-leads/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/my-leads/")


def test_marek_sees_his_leads_counting_down_in_polish_and_logs_a_call_in_one_tap(live_server, marek_leads):
    marek, (first, second) = marek_leads
    with browser_page(*DESKTOP) as page:
        _login(page, live_server)
        assert 'lang="pl"' in page.content()
        assert page.locator("h2").first.inner_text().startswith("Otwarte leady")
        countdown = page.locator(f"#lead-{first.pk} .countdown").inner_text()
        assert "czasu roboczego" in countdown, countdown
        assert page.locator(f"#lead-{first.pk} a[href^='tel:']").count() == 1
        shot(page, "rep-my-leads-pl-1400")

        page.click(f"#lead-{second.pk} h3 a")
        page.wait_for_url(f"{live_server.url}/my-leads/{second.pk}/")
        assert "Zaproponuj spotkanie na miejscu" in page.content()
        page.click("summary:has-text('Pełne uzasadnienie')")
        shot(page, "rep-lead-pl-1400")

        with page.expect_navigation():
            page.click("[data-log-call]")  # one tap: "Zadzwoniłem"
        assert page.url == f"{live_server.url}/my-leads/"
        assert page.locator(f"#lead-{second.pk}").count() == 0
        assert page.locator(f"#lead-{first.pk}").count() == 1
        assert f"Zapisano dla leada #{second.pk}" in page.locator(".messages").inner_text()
    second.refresh_from_db()
    assert second.status == Lead.Status.CONTACTED and second.activities.filter(kind="call", rep=marek).exists()


def test_a_phone_has_no_horizontal_scroll_on_the_list_and_a_lead_page(live_server, marek_leads):
    _marek, (_first, second) = marek_leads
    with browser_page(*PHONE) as page:
        _login(page, live_server)
        shot(page, "rep-my-leads-pl-390")
        assert no_horizontal_scroll(page), page.evaluate("document.documentElement.scrollWidth")
        page.goto(f"{live_server.url}/my-leads/{second.pk}/")
        page.click("summary")
        shot(page, "rep-lead-pl-390")
        assert no_horizontal_scroll(page), page.evaluate("document.documentElement.scrollWidth")
        # One tap from the phone, too.
        with page.expect_navigation():
            page.click("[data-log-call]")
        assert page.locator(f"#lead-{second.pk}").count() == 0


def test_in_a_meeting_until_a_time_from_the_phone(live_server, marek_leads):
    marek, _leads = marek_leads
    with browser_page(*PHONE) as page:
        _login(page, live_server)
        page.select_option("#id_status", "in_meeting")
        page.fill("#id_until", "23:59")
        with page.expect_navigation():
            page.click("form[action='/my-leads/status/'] button")
        assert no_horizontal_scroll(page)
    marek = Rep.objects.get(pk=marek.pk)
    assert marek.status == Rep.Status.IN_MEETING and marek.status_until is not None
