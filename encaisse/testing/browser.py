"""Browser fixtures: Debian's chromium driven by Playwright, against pytest-django's live server.

`playwright install` cannot download browsers on our machines, so the tests
use the distribution's chromium (`apt-get install chromium`; CI installs it).
A missing chromium fails the browser tests with a message saying so: they are
skipped only when ENCAISSE_E2E=0 is set on purpose, never silently.

Tests take `page` (a fresh browser context each, English unless
`@pytest.mark.parametrize("locale", ...)` or a `locale` fixture says otherwise)
and `live_server`, which makes their database transactional: the server thread
sees what the test wrote, and the tables are emptied afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport
DOCS = Path(__file__).resolve().parents[2] / "docs"


def chromium_path() -> str | None:
    """ENCAISSE_CHROMIUM if set, else Debian's /usr/bin/chromium, else whatever `chromium` the PATH finds."""
    for candidate in (os.environ.get("ENCAISSE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ENCAISSE_E2E") == "0":
        skip = pytest.mark.skip(reason="browser tests switched off with ENCAISSE_E2E=0")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module (a launch costs about a second).

    Playwright's sync API keeps a running event loop on this thread for as long
    as it lives, which Django takes for async code and then refuses the test's
    own ORM calls (the server thread answering the browser is unaffected). So
    Django's async-safety check is switched off only while it lives: for the
    browser tests' module, not for the tests that run after it.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        pytest.fail("chromium not found: install Debian's chromium (apt-get install chromium), or point "
                    "ENCAISSE_CHROMIUM at one; ENCAISSE_E2E=0 skips the browser tests", pytrace=False)
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def locale() -> str:
    """The browser's language (Accept-Language); override to see the French pages."""
    return "en-GB"


@pytest.fixture
def page(browser: Any, live_server: Any, locale: str) -> Iterator[Any]:
    """A page in a fresh context (no cookies from other tests), its base URL the live server's."""
    context = browser.new_context(base_url=live_server.url, locale=locale)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


class RequestLog:
    """Every request the page made, to check that a page loads nothing from another host."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def foreign(self, base_url: str) -> list[str]:
        """The requests that left `base_url`'s host (inline data: URLs aside)."""
        home = urlsplit(base_url).netloc
        return [url for url in self.urls if not url.startswith("data:") and urlsplit(url).netloc != home]


@pytest.fixture
def requests_made(page: Any) -> RequestLog:
    return RequestLog(page)


def screenshot(page: Any, name: str) -> Path | None:
    """Save the page into docs/<name> when ENCAISSE_SCREENSHOTS=1, so ordinary runs leave the repository alone."""
    if os.environ.get("ENCAISSE_SCREENSHOTS") != "1":
        return None
    path = DOCS / name
    page.screenshot(path=str(path), full_page=True)
    return path
