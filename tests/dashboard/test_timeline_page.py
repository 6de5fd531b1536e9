"""The dashboard's timeline and upload view in a real browser: changes made over HTTP show with
their cause once the page refreshes its state, its filters, an upload's tasks, folder and
history, and hostile text kept as text. TASK_SANDBOX_SCREENSHOTS=<dir> saves timeline.png."""
from __future__ import annotations

import httpx

from tests.browser import browser, watched_page  # noqa: F401  the fixture
from tests.conftest import BASE, auth
from tests.dashboard.test_dashboard import TASK, open_session, page, shot  # noqa: F401  page: the fixture

UPLOAD = "upl_123456789"


def session_headers(session: str) -> dict:
    return {**auth(), "X-Sandbox-Session": session, "X-Sandbox-Client": "test"}


def refresh(page) -> None:
    page.get_by_role("button", name="Refresh", exact=True).click()


def timeline_lines(page) -> list[str]:
    return [li.text_content() for li in page.locator("#timeline > li").all()]


def test_a_change_over_http_shows_in_the_timeline_with_its_cause_and_the_filters_work(page, live):
    open_session(page, "ui-timeline")
    h = session_headers("ui-timeline")
    assert httpx.post(f"{live.url}{BASE}/task/{TASK}/complete", headers=h).status_code == 200
    assert httpx.post(f"{live.url}/_sandbox/clock", headers=h, json={"advance_seconds": 30}).status_code == 200
    assert httpx.put(f"{live.url}/_sandbox/tasks/task_email000body/status", headers=h,
                     json={"status": "FAILED"}).status_code == 200
    # no click: the live channel tells the page
    page.wait_for_selector("#timeline li:has-text('forced on the control plane')")
    lines = timeline_lines(page)
    assert lines[0].endswith("task task_email000body: REVIEWING at EXTRACT → FAILED at EXTRACT "
                             "(forced on the control plane)")  # newest first
    assert any(f"task {TASK}: REVIEWING at EXTRACT → PROCESSING at EXTRACT (by the API call completeTask)" in line
               for line in lines)
    assert any(f"task {TASK}: PROCESSING at EXTRACT → COMPLETED at EXTRACT (by the clock: it fell due)" in line
               for line in lines)
    assert any(f"upload {UPLOAD}: PROCESSING in Inbox (folder_123456) → COMPLETED in Processed (folder_123457)" in line
               for line in lines)
    assert any("setClock: now " in line and "(by the control action setClock)" in line for line in lines)
    shot(page, "timeline", "#timeline-section")

    page.get_by_label("Timeline kind").select_option("control")
    page.wait_for_function("[...document.querySelectorAll('#timeline > li')].every(li => li.className === 'timeline-control')")
    assert [line.split(": ")[0].split(" ")[-1] for line in timeline_lines(page)] == ["setClock"]
    page.get_by_label("Timeline kind").select_option("")
    page.get_by_label("Timeline of task").fill(TASK)
    page.get_by_label("Timeline of task").dispatch_event("change")
    page.wait_for_function("document.querySelectorAll('#timeline > li').length === 2")
    assert all(f"task {TASK}:" in line for line in timeline_lines(page))
    page.get_by_label("Timeline of task").fill("")
    page.get_by_label("Timeline of upload").fill(UPLOAD)
    page.get_by_label("Timeline of upload").dispatch_event("change")
    page.wait_for_function("document.querySelectorAll('#timeline > li').length === 4")  # its task's two, its own two
    assert not any("task_email000body" in line for line in timeline_lines(page))


def test_an_upload_row_opens_its_fields_tasks_folder_and_history(page, live):
    open_session(page, "ui-upload")
    h = session_headers("ui-upload")
    assert httpx.put(f"{live.url}/_sandbox/tasks/{TASK}/status", headers=h, json={"status": "DISCARDED"}).status_code == 200
    refresh(page)
    page.locator(f"#uploads tbody tr[data-upload='{UPLOAD}'] td").first.click()
    page.wait_for_selector("#upload-detail:not([hidden])")
    assert page.text_content("#upload-id") == UPLOAD
    fields = page.text_content("#upload-fields")
    assert "nameInvoice-2023-001" in fields and "statusCOMPLETED" in fields
    assert "folderProcessed (folder_123457)" in fields
    row = page.locator(f"#upload-tasks tbody tr[data-task='{TASK}'] td")
    assert row.nth(2).text_content() == "DISCARDED"
    history = [li.text_content() for li in page.locator("#upload-history > li").all()]
    assert len(history) == 2 and all("(forced on the control plane)" in line for line in history)
    assert "IN_REVIEW in Inbox (folder_123456) → COMPLETED in Processed (folder_123457)" in history[0]
    # a change made elsewhere shows in the open view once the page refreshes
    assert httpx.put(f"{live.url}/_sandbox/tasks/{TASK}/status", headers=h, json={"status": "REVIEWING"}).status_code == 200
    refresh(page)
    page.wait_for_function("document.querySelectorAll('#upload-history > li').length === 4")
    assert row.nth(2).text_content() == "REVIEWING"
    # the row's folder picker does what it says, without opening the view for it
    page.get_by_role("button", name="Close").click()
    assert page.locator("#upload-detail").is_hidden()
    page.locator(f"#uploads tbody tr[data-upload='{UPLOAD}'] select").click()
    assert page.locator("#upload-detail").is_hidden()
    page.locator(f"#uploads tbody tr[data-upload='{UPLOAD}']").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#upload-detail:not([hidden])")


def test_hostile_text_in_the_upload_view_and_the_timeline_stays_text(page, live):
    hostile = '<img src=x onerror="window.__xss = 1">'
    loaded = httpx.post(f"{live.url}/_sandbox/fixtures", headers=session_headers("ui-hostile"), json={
        "uploads": [{"id": "upl_hostile0001", "project_id": "proj_123456", "name": hostile,
                     "folder_id": "folder_123456", "created_at": "2099-01-01T00:00:00Z",
                     "meta": [{"name": "note", "value": hostile}]}],
        "tasks": [{"id": "task_hostile0001", "name": hostile, "created_at": "2099-01-01T00:00:00Z",
                   "status": "REVIEWING", "upload_id": "upl_hostile0001"}]})
    assert loaded.status_code == 201, loaded.text
    open_session(page, "ui-hostile")
    page.locator("#uploads tbody tr[data-upload='upl_hostile0001'] td").first.click()
    page.wait_for_selector("#upload-detail:not([hidden])")
    assert f"name{hostile}" in page.text_content("#upload-fields")
    assert page.locator("#upload-tasks tbody tr[data-task='task_hostile0001'] td").nth(1).text_content() == hostile
    page.get_by_label("Timeline of task").fill(hostile)  # a filter is sent as typed, and matches nothing
    page.get_by_label("Timeline of task").dispatch_event("change")
    page.wait_for_selector("#timeline li.none")
    assert page.locator("#upload-detail img, #timeline img").count() == 0
    assert page.evaluate("window.__xss") is None
