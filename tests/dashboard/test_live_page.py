"""The dashboard's live channel in Chromium: a change made anywhere (curl, another tab, the running
clock, another worker) shows up in the open page without a click, and without the page polling."""
from __future__ import annotations

import httpx
import pytest

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from tests import redis_server
from tests.browser import browser, watched_page  # noqa: F401  the fixture
from tests.conftest import BASE, auth
from tests.dashboard.test_dashboard import TASK, open_session, wait_row

FIVE_SECONDS = 5000  # ms: a change is told within a second; a loaded machine gets some slack


@pytest.fixture
def page(browser, live):
    with watched_page(browser, live.url, strict=True) as opened:
        yield opened


def curl(live_url: str, method: str, path: str, session: str, body=None) -> httpx.Response:
    answer = httpx.request(method, live_url + path, json=body,
                           headers={**auth(), "X-Sandbox-Session": session, "X-Sandbox-Client": "curl"})
    assert answer.status_code < 300, answer.text
    return answer


def no_polling(page) -> list[str]:
    """What the page asks the sandbox over two quiet seconds: nothing, when nothing changed."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.wait_for_timeout(2000)
    return asked


def test_changes_made_with_curl_show_up_in_every_section_without_a_click(page, live):
    open_session(page, "live-curl")
    page.wait_for_selector("#live.live-on")
    assert no_polling(page) == [], "an idle page asks nothing: it is told"
    curl(live.url, "POST", "/_sandbox/events", "live-curl", {"upload_id": "upl_123456789", "type": "upload.in_review"})
    page.wait_for_selector("#events li:has-text('upload.in_review for upl_123456789')", timeout=FIVE_SECONDS)
    curl(live.url, "PUT", f"/_sandbox/tasks/{TASK}/status", "live-curl", {"status": "FAILED"})
    wait_row(page, TASK, "FAILED")
    curl(live.url, "GET", f"{BASE}/task/{TASK}", "live-curl")
    page.wait_for_selector(f"#journal li:has-text('GET {BASE}/task/{TASK} → 200')", timeout=FIVE_SECONDS)
    curl(live.url, "POST", "/_sandbox/faults", "live-curl", {"operation": "listTasks", "status": 503, "times": 2})
    page.wait_for_selector("#faults li:has-text('listTasks')", timeout=FIVE_SECONDS)
    moved = curl(live.url, "POST", "/_sandbox/clock", "live-curl", {"advance_seconds": 3600, "freeze": True})
    page.wait_for_function("now => document.getElementById('clock-now').textContent === now",
                           arg=moved.json()["payload"]["now"], timeout=FIVE_SECONDS)


def test_a_change_made_in_another_tab_shows_up_in_this_one(page, browser, live):
    open_session(page, "live-tabs")
    page.wait_for_selector("#live.live-on")
    with watched_page(browser, live.url, strict=True) as other:
        open_session(other, "live-tabs")
        other.get_by_label("Fault on operation").select_option("completeTask")
        other.get_by_label("Fault status").fill("503")
        other.get_by_role("button", name="Add fault").click()
        page.wait_for_selector("#faults li:has-text('completeTask')", timeout=FIVE_SECONDS)
        other.get_by_role("button", name="Reset").click()
        page.wait_for_selector("#faults li", state="detached", timeout=FIVE_SECONDS)


def test_a_transition_falling_due_on_the_running_clock_shows_up_with_no_request(page, live):
    open_session(page, "live-clock")
    curl(live.url, "PUT", f"/_sandbox/tasks/{TASK}/status", "live-clock", {"status": "PROCESSING"})
    wait_row(page, TASK, "PROCESSING")
    # the project processes for 30 s (fixtures/world.yaml): the clock runs from half a second before
    curl(live.url, "POST", "/_sandbox/clock", "live-clock", {"advance_seconds": 29.5, "freeze": False})
    wait_row(page, TASK, "REVIEWING")
    assert page.text_content("#clock-frozen") == "(running)"


@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_a_change_made_through_another_worker_shows_up(browser, request, kind):
    url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
    prefix = redis_server.namespace()
    try:
        with ServerThread(create_app(store=url, namespace=prefix)) as one, \
                ServerThread(create_app(store=url, namespace=prefix)) as two, \
                watched_page(browser, one.url, strict=True) as page:
            open_session(page, "live-workers")
            page.wait_for_selector("#live.live-on")
            curl(two.url, "POST", f"{BASE}/task/{TASK}/complete", "live-workers")
            wait_row(page, TASK, "PROCESSING")
    finally:
        redis_server.drop(url, prefix)
