"""A real browser for the dashboard's tests: Playwright for Python driving Debian's Chromium."""
from __future__ import annotations

import contextlib
import os
import shutil

import pytest

HOW = ("the browser tests need Debian's Chromium: `sudo apt-get install chromium` (or set "
       "TASK_SANDBOX_CHROMIUM to a Chromium executable); Playwright's own download is not used")


def executable() -> str | None:
    given = os.environ.get("TASK_SANDBOX_CHROMIUM")
    if given:
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


def required() -> bool:
    """In CI (`.ci/run` installs Chromium) a missing browser fails the tests instead of skipping them."""
    return os.environ.get("CI", "").lower() in ("1", "true") or bool(os.environ.get("TASK_SANDBOX_REQUIRE_BROWSER"))


def find() -> str:
    path = executable()
    if path is None:
        if required():
            pytest.fail(f"no Chromium found: {HOW}", pytrace=False)
        pytest.skip(f"SKIPPED browser tests: {HOW}")
    return path


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module, driven by Playwright."""
    path = find()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        how = "Playwright for Python is missing (`make test` installs it)"
        if required():
            pytest.fail(how, pytrace=False)
        pytest.skip(f"SKIPPED browser tests: {how}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@contextlib.contextmanager
def watched_page(launched, base_url: str, strict: bool = False):
    """A page of its own, failing the test on any script error; `strict`: on console errors, failed
    loads and 4xx or 5xx answers too. Playwright's waits evaluate strings, which the pages' CSP
    forbids: the tests prove the pages render text as text without it."""
    context = launched.new_context(base_url=base_url, viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    if strict:
        opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        # the live channel's stream, which the page ends itself on a switch of session, is no failed load
        opened.on("requestfailed", lambda request: None if request.url.endswith("/_sandbox/live") and
                  request.failure == "net::ERR_ABORTED" else problems.append(f"{request.url} failed: {request.failure}"))
        opened.on("response", lambda answer: problems.append(f"{answer.url} {answer.status}")
                  if answer.status >= 400 else None)
    yield opened
    seen = list(problems)  # closing the page ends its open streams: that is no problem of the page's
    context.close()
    assert seen == [], seen
