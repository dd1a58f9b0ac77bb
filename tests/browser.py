"""Browser-test helpers: Playwright for Python driving Debian's Chromium (never `playwright install`).

    from tests.browser import SHOTS, browser_page, no_horizontal_scroll, requires_chromium

`browser_page(width, height, locale)` is a context manager giving a fresh page at that viewport; the launch uses
/usr/bin/chromium with the flags CI needs. `requires_chromium` skips, with the reason, where it is missing (CI
installs it: .ci/run). Screenshots go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).parent / "screenshots"
DESKTOP = (1400, 900)
PHONE = (390, 844)

requires_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop in the thread


@contextlib.contextmanager
def browser_page(width: int, height: int, *, locale: str = "pl-PL") -> Iterator:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale, extra_http_headers={"Accept-Language": locale})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
