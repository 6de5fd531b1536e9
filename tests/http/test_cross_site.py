"""A page of another origin, in a real Chromium, against the sandbox on the developer's machine:
it can read the public API (CORS, as a frontend needs) but neither read the control plane nor
change it with a form post or a fetch."""
from __future__ import annotations

import httpx
import pytest

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from tests.browser import browser  # noqa: F401  the fixture
from tests.conftest import BASE, auth

TASK = f"{BASE}/task/task_abcdef123456"
READ = """async ([url, init]) => {
  try { const answer = await fetch(url, init); return "read " + answer.status + " " + (await answer.text()).slice(0, 40); }
  catch (error) { return "blocked " + error.name; }
}"""
FORM = """([url, enctype]) => {
  const sink = document.createElement("iframe");
  sink.name = "sink";
  document.body.append(sink);
  const form = document.createElement("form");
  Object.assign(form, { action: url, method: "POST", enctype, target: "sink" });
  const field = document.createElement("input");
  Object.assign(field, { name: "scenario", value: "empty" });
  form.append(field);
  document.body.append(form);
  form.submit();
}"""


@pytest.fixture
def attacker(browser, live):  # noqa: F811
    """A page of another origin (another port of 127.0.0.1), with a task of the sandbox discarded."""
    assert httpx.post(f"{live.url}{TASK}/discard", headers=auth()).status_code == 200
    with ServerThread(create_app()) as elsewhere:
        context = browser.new_context()
        page = context.new_page()
        page.goto(elsewhere.url + "/")
        yield page
        context.close()
    assert httpx.get(live.url + TASK, headers=auth()).json()["payload"]["status"] == "DISCARDED"  # no reset


def test_the_page_reads_the_api_but_not_the_journal(attacker, live):
    api = attacker.evaluate(READ, [live.url + TASK, {"headers": auth()}])
    assert api.startswith("read 200"), api  # the same page, the same server: only CORS differs
    assert attacker.evaluate(READ, [live.url + "/_sandbox/journal", {}]) == "blocked TypeError"
    assert attacker.evaluate(READ, [live.url + "/_sandbox/journal", {"headers": {"X-Sandbox-Client": "x"}}]) \
        == "blocked TypeError"


@pytest.mark.parametrize("enctype", ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"])
def test_a_form_post_cannot_reset_the_session(attacker, live, enctype):
    with attacker.expect_response(live.url + "/_sandbox/reset") as answered:
        attacker.evaluate(FORM, [live.url + "/_sandbox/reset", enctype])
    assert answered.value.status == 403  # it reached the sandbox, which refused it


@pytest.mark.parametrize("init", [
    {"method": "POST", "mode": "no-cors"},
    {"method": "POST", "mode": "no-cors", "body": '{"scenario": "empty"}', "headers": {"Content-Type": "text/plain"}},
    # a no-cors request silently drops headers a form could not send either
    {"method": "POST", "mode": "no-cors", "headers": {"X-Sandbox-Client": "x", "Content-Type": "application/json"}},
], ids=["empty", "json-as-text", "marks-dropped"])
def test_a_no_cors_fetch_cannot_reset_the_session(attacker, live, init):
    with attacker.expect_response(live.url + "/_sandbox/reset") as answered:
        attacker.evaluate(READ, [live.url + "/_sandbox/reset", init])
    assert answered.value.status == 403


def test_a_marked_fetch_is_stopped_at_its_preflight(attacker, live):
    init = {"method": "POST", "headers": {"X-Sandbox-Client": "x", "Content-Type": "application/json"}, "body": "{}"}
    assert attacker.evaluate(READ, [live.url + "/_sandbox/reset", init]) == "blocked TypeError"
