"""The landing page, the dashboard and Swagger UI's session, through clicks and typing in a real
browser (Chromium, driven by Playwright). TASK_SANDBOX_SCREENSHOTS=<dir> also saves the README's
screenshots (`make screenshots`)."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.browser import browser, watched_page  # noqa: F401  the fixture
from tests.conftest import BASE, auth

TASK = "task_abcdef123456"
SHOTS = os.environ.get("TASK_SANDBOX_SCREENSHOTS")


@pytest.fixture
def page(browser, live):
    with watched_page(browser, live.url) as opened:  # the CSP header is checked to be sent, below
        yield opened


def shot(page, name: str, selector: str | None = None) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        target = page.locator(selector) if selector else page
        target.screenshot(path=str(Path(SHOTS) / f"{name}.png"), **({} if selector else {"full_page": True}))


def open_session(page, name: str) -> None:
    page.goto("/_sandbox/")
    page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")
    page.get_by_label("New session").fill(name)
    page.get_by_role("button", name="Use", exact=True).click()
    page.wait_for_function("name => document.getElementById('status').textContent.startsWith('session ' + name)", arg=name)
    page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")


def row_status(page, task: str) -> str:
    return page.locator(f"#tasks tbody tr[data-task='{task}'] td").nth(2).text_content()


def wait_row(page, task: str, status: str) -> None:
    page.wait_for_function(
        "([task, status]) => { const row = document.querySelector(`#tasks tbody tr[data-task='${task}']`);"
        " return row && row.cells[2].textContent === status; }", arg=[task, status])


def session_get(live, session: str, path: str, **kwargs):
    return httpx.get(live.url + path, headers={**auth(), "X-Sandbox-Session": session}, **kwargs)


def test_the_landing_page_says_what_this_is_and_links_everything(page):
    page.goto("/")
    assert page.get_by_role("heading", name="Task API Sandbox").is_visible()
    assert "YOUR_API_KEY" in page.text_content("table")
    for name in ("Dashboard", "Swagger UI of the API", "Swagger UI of the control plane", "openapi.yaml"):
        assert page.get_by_role("link", name=name).first.is_visible()
    shot(page, "landing")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_selector("#tasks tbody tr")
    assert page.title().startswith("Dashboard")


def test_a_session_is_picked_and_a_forced_status_shows(page, live):
    open_session(page, "ui-force")
    page.locator(f"#tasks tbody tr[data-task='{TASK}']").click()
    page.wait_for_selector("#task-detail:not([hidden])")
    assert '"status": "REVIEWING"' in page.text_content("#task-json")  # the task as the API answers it
    page.get_by_label("Force status").select_option("FAILED")
    page.get_by_role("button", name="Force", exact=True).click()
    wait_row(page, TASK, "FAILED")
    shot(page, "dashboard")
    assert session_get(live, "ui-force", f"{BASE}/task/{TASK}").json()["payload"]["status"] == "FAILED"
    assert httpx.get(f"{live.url}{BASE}/task/{TASK}", headers=auth()).json()["payload"]["status"] == "REVIEWING"
    assert "ui-force" in [o.text_content() for o in page.locator("#session option").all()]


def test_advancing_the_clock_settles_a_processing_task(page):
    open_session(page, "ui-clock")
    page.get_by_role("button", name="Freeze", exact=True).click()
    page.wait_for_function("document.getElementById('clock-frozen').textContent === '(frozen)'")
    page.locator(f"#tasks tbody tr[data-task='{TASK}']").click()
    page.get_by_role("button", name="Complete", exact=True).click()
    page.wait_for_selector("#task-actions li[data-action='complete'] .answer:has-text('Task processing started')")
    wait_row(page, TASK, "PROCESSING")
    page.get_by_label("Advance by (seconds)").fill("30")
    page.get_by_role("button", name="Advance", exact=True).click()
    wait_row(page, TASK, "COMPLETED")
    page.wait_for_selector(f"#fell-due li:has-text('{TASK}: PROCESSING → COMPLETED')")
    shot(page, "clock", "#clock-section")


def test_a_request_from_another_tab_appears_in_the_live_journal(page, live):
    open_session(page, "ui-journal")
    other = page.context.new_page()
    other.goto("/")
    for path in (f"{BASE}/task/{TASK}", f"{BASE}/task?limit=0"):
        other.evaluate("([path, session]) => fetch(path, {headers: {Authorization: 'Bearer YOUR_API_KEY',"
                       " 'X-Sandbox-Session': session}})", [path, "ui-journal"])
    page.wait_for_selector(f"#journal li:has-text('GET {BASE}/task/{TASK} → 200')")
    refused = page.locator("#journal li.refused", has_text="→ 400")
    refused.wait_for()
    assert "query.limit" in refused.text_content()  # its validation problem, marked
    shot(page, "journal", "#journal-section")


def test_the_contract_report_names_the_clients_violations_not_the_dashboards(page, live):
    h = {"X-Sandbox-Session": "ui-report"}
    assert httpx.get(f"{live.url}{BASE}/task/{TASK}", headers={**h, **auth()}).status_code == 200
    assert httpx.get(f"{live.url}{BASE}/task/{TASK}", headers={**h, **auth("key_no_project")}).status_code == 403
    assert httpx.post(f"{live.url}{BASE}/task/{TASK}/report", headers={**h, **auth()},
                      json={"issues": "none"}).status_code == 400
    open_session(page, "ui-report")
    page.wait_for_selector("#report-violations li:has-text('project_not_granted')")
    violations = page.locator("#report-violations > li")
    assert violations.count() == 2
    assert "body.issues: 'none' is not of type 'array'" in violations.nth(1).text_content()
    row = page.locator("#report-coverage tr[data-operation='getTask'] td")
    assert (row.nth(0).text_content(), row.nth(1).text_content()) == ("200×1  403×1", "400 401 404 500")
    # the page's own refused action is the dashboard's, not the client's
    page.locator(f"#tasks tbody tr[data-task='{TASK}']").click()
    for answer in ("Task processing started", "task_not_reviewing"):
        page.get_by_role("button", name="Complete", exact=True).click()
        page.wait_for_selector(f"#task-actions li[data-action='complete'] .answer:has-text('{answer}')")
    httpx.delete(f"{live.url}{BASE}/task/{TASK}", headers={**h, **auth()})  # another violation, from the client
    page.get_by_role("button", name="Refresh report").click()
    page.wait_for_selector("#report-violations li:has-text('method_not_allowed')")
    assert page.text_content("#report-summary").startswith(
        "4 request(s) of the client; 3 violation(s); 0 state-rule refusal(s); coverage 3 of 78")
    assert page.text_content("#report-refusals") == "none"
    shot(page, "report", "#report-section")


def test_a_fault_rule_added_in_the_page_takes_effect(page, live):
    open_session(page, "ui-faults")
    page.get_by_label("Fault on operation").select_option("getTask")
    page.get_by_label("Fault status").fill("503")
    page.get_by_label("Fault times").fill("1")
    page.get_by_role("button", name="Add fault", exact=True).click()
    page.wait_for_selector("#faults li:has-text('getTask')")
    assert session_get(live, "ui-faults", f"{BASE}/task/{TASK}").status_code == 503
    assert session_get(live, "ui-faults", f"{BASE}/task/{TASK}").status_code == 200
    page.get_by_label("Fault status").fill("500")
    page.get_by_label("Fault times").fill("")
    page.get_by_role("button", name="Add fault", exact=True).click()
    page.wait_for_selector("#faults li:has-text('500')")
    assert session_get(live, "ui-faults", f"{BASE}/task/{TASK}").status_code == 500
    page.get_by_role("button", name="Remove fault", exact=False).first.click()
    page.wait_for_function("document.querySelectorAll('#faults li').length === 0")
    assert session_get(live, "ui-faults", f"{BASE}/task/{TASK}").status_code == 200


def test_hostile_text_is_shown_as_text(page, live):
    hostile = '<img src=x onerror="window.__xss = 1">'
    loaded = httpx.post(f"{live.url}/_sandbox/fixtures", headers={"X-Sandbox-Session": "ui-xss", **auth()}, json={
        "tasks": [{"id": "task_hostile0001", "name": hostile, "created_at": "2099-01-01T00:00:00Z",
                   "status": "REVIEWING", "upload_id": "upl_123456789"}]})
    assert loaded.status_code == 201, loaded.text
    httpx.post(f"{live.url}{BASE}/task/{TASK}/report", headers={**auth(), "X-Sandbox-Session": "ui-xss"},
               json={"message": hostile, "issues": [{"label": hostile, "value": "poor_quality"}]})
    open_session(page, "ui-xss")
    page.locator("#tasks tbody tr[data-task='task_hostile0001']").click()
    page.wait_for_selector("#task-detail:not([hidden])")
    page.wait_for_selector("#journal li:has-text('/report')")
    page.locator("#journal details").first.click()
    assert page.locator("#tasks tbody tr[data-task='task_hostile0001'] td").nth(1).text_content() == hostile
    assert hostile.replace('"', '\\"') in page.text_content("#task-json")
    page.wait_for_selector("#report-violations li")
    assert page.locator("#journal img, #tasks img, #task-json img, #report-section img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_try_it_out_runs_in_its_own_session(page, live):
    page.goto("/ui/")
    session = page.get_by_label('"Try it out" runs in the session').input_value()
    assert session.startswith("swagger-")
    page.locator("#operations-tasks-getTask .opblock-summary").click()
    page.get_by_role("button", name="Try it out", exact=True).click()
    page.get_by_role("button", name="Execute", exact=True).click()
    page.wait_for_selector("#operations-tasks-getTask .live-responses-table")
    shot(page, "swagger", "#operations-tasks-getTask")
    mine = httpx.get(f"{live.url}/_sandbox/journal", headers={"X-Sandbox-Session": session}).json()["payload"]
    assert [e["operation"] for e in mine] == ["getTask"]
    assert httpx.get(f"{live.url}/_sandbox/journal").json()["payload"] == []  # the default session saw nothing


def test_try_it_out_deletes_a_session_on_the_control_plane(page, live):
    # a body-less DELETE, which the control plane takes only from a tool that names itself
    page.goto("/_sandbox/ui/")
    session = page.get_by_label('"Try it out" runs in the session').input_value()
    assert session_get(live, session, f"{BASE}/task/{TASK}").status_code == 200
    assert session in httpx.get(f"{live.url}/_sandbox/sessions").json()["payload"]
    page.locator("#operations-sessions-deleteSession .opblock-summary").click()
    page.get_by_role("button", name="Try it out", exact=True).click()
    page.get_by_role("button", name="Execute", exact=True).click()
    page.wait_for_selector("#operations-sessions-deleteSession .live-responses-table .response-col_status")
    assert "204" in page.text_content("#operations-sessions-deleteSession .live-responses-table")
    assert session not in httpx.get(f"{live.url}/_sandbox/sessions").json()["payload"]


def test_the_dashboard_is_behind_the_control_planes_guard():
    from sandbox.app import create_app

    with create_app().test_client() as client:  # the test client names no address: loopback
        assert client.get("/_sandbox/").status_code == 200
        csp = client.get("/_sandbox/").headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    from starlette.testclient import TestClient

    remote = TestClient(create_app(), client=("203.0.113.7", 5000))
    answer = remote.get("/_sandbox/")
    assert answer.status_code == 403 and answer.json()["code"] == "control_plane_forbidden"
    assert remote.get("/").status_code == 200  # the landing page holds nothing private


def test_under_its_own_content_security_policy_the_page_works(browser, live):
    context = browser.new_context(base_url=live.url)  # no bypass: the CSP the page is sent applies
    page = context.new_page()
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: complaints.append(str(error)))
    page.goto("/_sandbox/")
    page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")
    page.wait_for_selector("#faults-section select option[value='getTask']", state="attached")
    context.close()
    assert complaints == []


def test_an_existing_session_is_picked_from_the_list(page, live):
    httpx.put(f"{live.url}/_sandbox/tasks/{TASK}/status", json={"status": "DISCARDED"},
              headers={"X-Sandbox-Session": "picked", **auth()})
    page.goto("/_sandbox/")
    page.wait_for_selector("#session option[value='picked']", state="attached")
    page.get_by_label("Session", exact=True).select_option("picked")
    wait_row(page, TASK, "DISCARDED")
    assert page.get_by_label("Session", exact=True).input_value() == "picked"


def test_a_key_without_task_read_shows_the_apis_refusal(page):
    open_session(page, "ui-scopes")
    page.get_by_label("Key", exact=True).select_option("key_task_edit_only")
    page.wait_for_selector("#tasks tbody td.problems")
    assert "insufficient_scope" in page.text_content("#status") or "task.read" in page.text_content("#tasks tbody")
    assert page.locator(f"#tasks tbody tr[data-task='{TASK}']").count() == 0  # no rows left from the other key
    page.get_by_label("Key", exact=True).select_option("YOUR_API_KEY")
    page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")


def test_the_dashboards_own_reads_never_spend_fault_rules(page, live):
    open_session(page, "ui-spare")
    headers = {"X-Sandbox-Session": "ui-spare", **auth()}
    rule = httpx.post(f"{live.url}/_sandbox/faults", headers=headers,
                      json={"operation": "listTasks", "status": 503, "times": 1})
    assert rule.status_code == 201
    page.get_by_role("button", name="Refresh", exact=True).click()
    page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")
    assert httpx.get(f"{live.url}{BASE}/task", headers=headers).status_code == 503  # still there for the app


def test_with_an_admin_token_the_page_works_as_a_team_and_shows_only_its_sessions(browser):
    from sandbox.app import create_app
    from sandbox.http.server import ServerThread

    with ServerThread(create_app(admin_token="T0k")) as server:
        theirs = {**auth("key_other_team"), "X-Sandbox-Session": "globex-only"}
        assert httpx.get(f"{server.url}/v2/team_654321/project/proj_654321/task", headers=theirs).status_code == 200
        context = browser.new_context(base_url=server.url, bypass_csp=True)
        page = context.new_page()
        page.goto("/_sandbox/")  # its key (YOUR_API_KEY, team_123456) opens that team's sessions, no token needed
        page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")
        names = page.eval_on_selector_all("#session option", "options => options.map(o => o.value)")
        assert "globex-only" not in names
        keys = page.eval_on_selector_all("#key option", "options => options.map(o => o.value)")
        assert "key_other_team" not in keys  # another team's key is never shown to this one
        page.get_by_label("Admin token or API key").fill("T0k")
        page.get_by_label("Admin token or API key").press("Enter")
        page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")
        assert page.url.endswith("/_sandbox/")  # Enter applied the token, and did not reload
        fresh = context.new_page()
        fresh.goto("/_sandbox/#token=T0k")  # or given once in the address, kept out of history
        fresh.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")
        assert "#token" not in fresh.url
        # another team's key typed in: the control plane is that team's, whatever key was picked before
        page.get_by_label("Admin token or API key").fill("key_other_team")
        page.get_by_label("Admin token or API key").press("Enter")
        page.wait_for_function("() => [...document.querySelectorAll('#session option')].some(o => o.value === 'globex-only')")
        keys = page.eval_on_selector_all("#key option", "options => options.map(o => o.value)")
        assert keys == ["key_other_team"]
        context.close()


@pytest.mark.parametrize("path", ["/", "/_sandbox/"])
def test_a_page_loads_with_no_error_and_no_failed_load_favicon_included(browser, live, path):
    with watched_page(browser, live.url, strict=True) as opened:
        opened.goto(path)
        if path == "/_sandbox/":  # its data shown, and its live channel open (never idle: it is a stream)
            opened.wait_for_selector("#report-coverage tbody tr")
            opened.wait_for_selector("#live.live-on")
        else:
            opened.wait_for_load_state("networkidle")
    icon = httpx.get(live.url + "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_the_journal_is_numbered_by_seq_and_marks_an_injected_fault(page, live):
    open_session(page, "ui-numbers")
    for _ in range(3):  # the dashboard's own calls are journalled too, and hidden: the numbers have gaps
        session_get(live, "ui-numbers", f"{BASE}/task/{TASK}")
    httpx.get(live.url + f"{BASE}/task/{TASK}", headers={**auth(), "X-Sandbox-Session": "ui-numbers", "Prefer": "code=503"})
    page.wait_for_selector("#journal li:has-text('→ 503')")
    mine = httpx.get(f"{live.url}/_sandbox/journal", headers={"X-Sandbox-Session": "ui-numbers"}).json()["payload"]
    shown = page.eval_on_selector_all("#journal > li", "items => items.map(i => [i.value, i.textContent])")
    theirs = [e["seq"] for e in mine if e["request"]["headers"].get("x-sandbox-client") != "dashboard"]
    assert sorted(value for value, _ in shown) == theirs
    faulted = [text for _, text in shown if "→ 503" in text]
    assert len(faulted) == 1 and faulted[0].startswith("injected fault")


def test_delete_asks_first_and_keeps_the_session_when_the_answer_is_no(page, live):
    open_session(page, "ui-keep")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#delete-session")
    page.wait_for_timeout(300)
    assert "ui-keep" in httpx.get(f"{live.url}/_sandbox/sessions").json()["payload"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-session")
    page.wait_for_function("() => document.getElementById('session').value === 'default'")
    assert "ui-keep" not in httpx.get(f"{live.url}/_sandbox/sessions").json()["payload"]


def test_the_pages_name_the_host_and_port_they_are_served_on_and_a_hostile_host_stays_text(page, live):
    page.goto("/")
    assert f"curl {live.url}/v2/team_123456/" in page.text_content("main")
    hostile = httpx.get(live.url + "/", headers={"Host": '"><img src=x onerror=alert(1)>'}).text
    assert "<img src=x" not in hostile and "&lt;img src=x onerror=alert(1)&gt;" in hostile
    open_session(page, "ui-origin")
    assert page.get_attribute("#subscription-url", "placeholder") == f"{live.url}/_sandbox/inbox/mine"


def test_the_scenario_picker_shows_the_sessions_scenario_after_a_reset(page, live):
    open_session(page, "ui-scenario")
    page.select_option("#scenario", "empty")
    page.click("#reset-session")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('session ui-scenario')")
    page.reload()
    page.wait_for_function("() => document.getElementById('scenario').options.length > 1")
    assert page.input_value("#scenario") == "empty"


def test_a_fault_rule_shows_every_field_and_how_often_it_fired_without_a_click(page, live):
    open_session(page, "ui-fired")
    page.select_option("#fault-operation", "getTask")
    page.fill("#fault-status", "503")
    page.fill("#fault-times", "2")
    page.fill("#fault-latency", "5")
    page.fill("#fault-task", TASK)
    page.fill("#fault-probability", "1")
    page.get_by_role("button", name="Add fault", exact=True).click()
    rule = page.locator("#faults li", has_text=TASK)
    rule.wait_for()
    assert "→ 503, +5 ms, 2 more time(s)" in rule.text_content() and "fired 0 time(s)" in rule.text_content()
    other = "task_invalid000001"  # the rule is the task's: another task's call does not fire it
    assert session_get(live, "ui-fired", f"{BASE}/task/{other}").status_code == 200
    assert session_get(live, "ui-fired", f"{BASE}/task/{TASK}").status_code == 503
    page.wait_for_selector(f"#faults li:has-text('fired 1 time(s)')", timeout=5000)
    assert "1 more time(s)" in rule.text_content()
    assert session_get(live, "ui-fired", f"{BASE}/task/{TASK}").status_code == 503
    page.wait_for_function("() => !document.querySelector('#faults li')", timeout=5000)  # spent: gone


def test_the_journal_filters_by_operation_status_violation_and_text(page, live):
    open_session(page, "ui-filters")
    session_get(live, "ui-filters", f"{BASE}/task/{TASK}")                       # getTask 200
    session_get(live, "ui-filters", f"{BASE}/task/task_missing00001")            # getTask 404
    session_get(live, "ui-filters", f"{BASE}/task?limit=0")                      # listTasks 400, a violation
    page.wait_for_selector("#journal li:has-text('limit=0'), #journal li:has-text('/task →')")

    def shown() -> list[str]:
        page.wait_for_timeout(400)
        return [line.split(" ", 1)[1] for line in page.locator("#journal li .line").all_text_contents()]

    page.check("#journal-violations")
    assert shown() == [f"GET {BASE}/task → 400 listTasks"]
    page.uncheck("#journal-violations")
    page.select_option("#journal-operation", "getTask")
    assert sorted(shown()) == sorted([f"GET {BASE}/task/{TASK} → 200 getTask", f"GET {BASE}/task/task_missing00001 → 404 getTask"])
    page.fill("#journal-status", "404")
    page.press("#journal-status", "Enter")
    assert shown() == [f"GET {BASE}/task/task_missing00001 → 404 getTask"]
    page.fill("#journal-status", "")
    page.select_option("#journal-operation", "")
    page.fill("#journal-text", "MISSING0")
    assert shown() == [f"GET {BASE}/task/task_missing00001 → 404 getTask"]


def test_an_event_fired_in_the_page_is_listed_and_its_delivery_shows_each_attempt(page, live):
    open_session(page, "ui-events")
    inbox = f"{live.url}/_sandbox/inbox/ui-events"
    page.fill("#subscription-url", inbox)
    page.get_by_role("button", name="Subscribe", exact=True).click()
    page.wait_for_selector("#subscriptions li")
    page.select_option("#event-type", "upload.in_review")
    page.fill("#event-upload", "upl_123456789")
    page.get_by_role("button", name="Fire", exact=True).click()
    page.wait_for_selector("#events li:has-text('upload.in_review for upl_123456789')")
    deadline = 10
    while deadline and "delivered" not in page.text_content("#deliveries"):
        page.click("#refresh-tasks")  # the notifications are read with the session's state
        page.wait_for_timeout(500)
        deadline -= 1
    delivery = page.locator("#deliveries > li").first
    assert f"upload.in_review for upl_123456789 → {inbox}: delivered" in delivery.text_content()
    attempt = delivery.locator(".attempts li").first.text_content()
    assert ": 2" in attempt and " ms" in attempt  # a 2xx of the inbox, and how long it took


@pytest.mark.parametrize("width", [820, 1400])
def test_ids_and_statuses_never_break_mid_word_from_a_laptop_screen_to_a_wide_one(browser, live, width):
    with watched_page(browser, live.url) as opened:
        opened.set_viewport_size({"width": width, "height": 900})
        open_session(opened, "ui-wrap")
        opened.wait_for_selector("#tasks tbody tr")
        broken = opened.eval_on_selector_all(
            "#tasks tbody td:not(:nth-child(2)), #uploads tbody td:nth-child(1), #uploads tbody td:nth-child(3),"
            " #uploads tbody td:nth-child(4)",
            """cells => cells.filter(cell => {
                 const range = document.createRange(); range.selectNodeContents(cell);
                 const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                 return lines.size > 1;
               }).map(cell => cell.textContent)""")
        assert broken == []


def test_a_running_clock_ticks_in_the_page_without_a_click(page, live):
    open_session(page, "ui-ticking")
    page.click("#unfreeze")
    page.wait_for_function("document.getElementById('clock-frozen').textContent === '(running)'")
    first = page.text_content("#clock-now")
    page.wait_for_function("(first) => document.getElementById('clock-now').textContent !== first", arg=first,
                           timeout=3000)
    assert page.text_content("#clock-now") > first and page.text_content("#clock-now").endswith("Z")
    page.click("#freeze")
    page.wait_for_function("document.getElementById('clock-frozen').textContent === '(frozen)'")
    held = page.text_content("#clock-now")
    page.wait_for_timeout(1500)
    assert page.text_content("#clock-now") == held, "a frozen clock stands still"


def test_a_journal_entry_shows_its_request_headers_with_the_key_masked(page, live):
    open_session(page, "ui-headers")
    httpx.get(live.url + f"{BASE}/task/{TASK}", headers={**auth(), "X-Sandbox-Session": "ui-headers",
                                                         "X-Trace-Id": "trace-42"})
    entry = page.locator("#journal li", has_text=f"GET {BASE}/task/{TASK}").first
    entry.wait_for()
    entry.locator("details summary").click()
    shown = entry.locator("pre").text_content()
    assert '"x-trace-id": "trace-42"' in shown and '"authorization": "Bearer ••••"' in shown
    assert "YOUR_API_KEY" not in shown
