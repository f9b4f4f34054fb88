"""A real headless browser for tests that must see what a person sees (the API docs, the admin).

Debian's Chromium (``/usr/bin/chromium``, installed by ``make test`` and ``.ci/run`` when missing) driven
by Playwright; Playwright's own browser downloads are never used. Registered for every test module by the
root ``conftest.py`` (``pytest_plugins``), so a test just asks for its fixtures:

- ``browser``: one Chromium per test module, headless;
- ``page``: a fresh page (its own context: no cookies or storage shared between tests), closed after the
  test; ``page.console_errors`` lists what the page logged as errors, uncaught exceptions included;
- ``hub_server``: the Hub served by gunicorn as ``make run`` serves it (one worker) on a free port of
  127.0.0.1, for the test module; tenant hosts are ``<slug>.localhost:<port>``, which Chromium resolves
  to the loopback address by itself, and the platform API is ``localhost:<port>``.

Playwright's sync API marks its event loop as running in the test's thread between its calls, so
Django's guard against the ORM in async code would refuse every query of a browser test; while the
browser is open, ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set (the queries are plain synchronous ones in this
thread: nothing is async). The browser is module-scoped for that reason: the flag and the marked loop end
with the module that used them, never reaching the rest of the suite.

Without Chromium the browser tests are skipped, except in CI (``CI`` set), where they fail: a CI run must
never pass for want of a browser.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest

from tests.helpers import gunicorn_serving

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """The Chromium to drive: ``HUB_CHROMIUM`` when set, else the first on ``PATH``."""
    explicit = os.environ.get("HUB_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _browser_missing(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (make test installs chromium as root)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for the test module (a Playwright ``Browser``)."""
    executable = chromium_path()
    if executable is None:
        _browser_missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("playwright is not installed (pip install -e '.[dev]')")
    unsafe_before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _chromium_launched(sync_playwright, executable)
    finally:
        if unsafe_before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe_before


def _chromium_launched(sync_playwright: Any, executable: str) -> Iterator[Any]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI and the dev machines run as root, where Chromium's sandbox refuses to start.
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in its own browser context; ``page.console_errors`` collects the page's errors."""
    context = browser.new_context()
    context.set_default_timeout(30_000)
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    new_page.on("pageerror", lambda error: errors.append(str(error)))
    new_page.console_errors = errors
    try:
        yield new_page
    finally:
        context.close()


@contextmanager
def hub_serving(**environment: str) -> Iterator[int]:
    """The Hub under gunicorn on a free port of 127.0.0.1, with the tests' environment (so the same
    database) plus ``environment`` (``HUB_CORS_ORIGINS=...``, say); yields the port."""
    inherited = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    with gunicorn_serving({**inherited, **environment}) as port:
        yield port


@pytest.fixture(scope="module")
def hub_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[int]:
    """The Hub under gunicorn for the test module (``hub_serving``); yields the port.

    The session's organizations (``alpha``, ``beta``) are committed, so the server sees them; data a
    test wants the server to see must be committed too (``committed_db``)."""
    with hub_serving() as port:
        yield port
