"""The proxy's page in a real browser (Chromium, driven by Playwright): a request sent with curl's
equal shows up with both verdicts and in the report without a click, and hostile text stays text."""
from __future__ import annotations

import httpx
import pytest

from sandbox.http.server import ServerThread
from sandbox.proxy.app import create_proxy_app
from tests.browser import browser, watched_page  # noqa: F401  the fixture
from tests.conftest import BASE, auth
from tests.upstreams import Upstream, json_answer

HOSTILE = '<img src=x onerror="window.__xss = 1">'


@pytest.fixture
def proxied():
    """A proxy in front of an upstream that answers getTask off its schema, with hostile text in it."""
    upstream = Upstream(json_answer(200, {"payload": {"id": HOSTILE}}))
    with ServerThread(upstream.app) as server, ServerThread(create_proxy_app(server.url)) as proxy:
        yield proxy


@pytest.fixture
def page(browser, proxied):
    with watched_page(browser, proxied.url, strict=True) as opened:
        yield opened


def test_a_request_through_the_proxy_shows_up_with_both_verdicts_and_in_the_report_without_a_click(page, proxied):
    page.goto("/_sandbox/")
    page.wait_for_selector("#report-summary:has-text('0 request(s)')")
    httpx.get(proxied.url + f"{BASE}/task/task_abcdef123456?colour={HOSTILE}", headers=auth())
    entry = page.locator("#journal li[data-seq='1'] .line")
    entry.wait_for(timeout=5000)
    assert "client: invalid_request; upstream: response_body" in entry.text_content()
    page.wait_for_selector("#report-summary:has-text('1 request(s) of the client; 2 violation(s)')", timeout=5000)
    lines = page.locator("#report-violations li .line").all_text_contents()
    assert any(line.startswith("upstream answer (response_body) #1") for line in lines), lines
    assert any(line.startswith("#1 GET") and "invalid_request" in line for line in lines), lines
    assert "<img src=x onerror=" in page.text_content("#journal") and page.evaluate("window.__xss") is None
