"""The dashboard's layout and keyboard use in Chromium: from a 1280 px laptop to a 2560 px screen and
at 200% zoom (640 CSS px; 320 at 400%), no sideways scrolling and no section over another; every control
reached and worked by the keyboard alone, with a visible focus ring; a heading scrolled to is never
under the header; and the clock card says what falls due next, as the control plane does."""
from __future__ import annotations

import httpx
import pytest

from tests.browser import browser, watched_page  # noqa: F401  the fixture
from tests.conftest import BASE, auth

TASK = "task_abcdef123456"
HOSTILE = '<img src=x onerror="window.__xss = 1">'

BOXES = """() => [...document.querySelectorAll('header, main section')].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.id || s.localName, left: r.left, right: r.right, top: r.top + scrollY, bottom: r.bottom + scrollY,
            scrolls: s.scrollWidth > s.clientWidth};
  })"""


def opened(page, width: int, height: int = 800, session: str = "default") -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/_sandbox/")
    page.wait_for_selector(f"#tasks tbody tr[data-task='{TASK}']")
    page.wait_for_selector("#uploads tbody tr")
    page.wait_for_selector("#report-coverage tbody tr")


def overlap(a: dict, b: dict) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and \
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5


@pytest.mark.parametrize("width,columns", [(320, 1), (640, 1), (1280, 2), (2560, 3)])  # 320: 400% zoom
def test_the_page_never_scrolls_sideways_and_no_section_covers_another(browser, live, width, columns):
    with watched_page(browser, live.url) as page:
        opened(page, width)
        page.locator(f"#tasks tbody tr[data-task='{TASK}']").click()  # its detail makes the tasks card tall
        page.wait_for_selector("#task-detail:not([hidden])")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        boxes = page.evaluate(BOXES)
        assert len(boxes) == 9  # the header and eight sections (the timeline the last added)
        for i, a in enumerate(boxes):
            assert a["left"] >= 0 and a["right"] <= width, a
            assert not a["scrolls"], f"{a['id']} scrolls sideways: only a table's own box may"
            for b in boxes[i + 1:]:
                assert not overlap(a, b), (a, b)
        assert len({round(b["left"]) for b in boxes if b["id"] != "header"}) == columns
        wide = page.eval_on_selector_all(".table-scroll", "boxes => boxes.filter(b => b.scrollWidth > b.clientWidth).length")
        if width >= 1280:  # on a laptop every table fits its card; at 200% zoom a wide one scrolls in its box
            assert wide == 0


@pytest.mark.parametrize("width", [640, 1280, 2560])
def test_each_label_sits_on_the_line_of_its_control(browser, live, width):
    with watched_page(browser, live.url) as page:
        opened(page, width)
        apart = page.eval_on_selector_all("label[for]", """labels => labels.map(label => {
            const control = document.getElementById(label.htmlFor);
            if (!control || !control.offsetParent || !label.offsetParent) return null;
            const a = label.getBoundingClientRect(), b = control.getBoundingClientRect();
            return a.top < b.bottom && b.top < a.bottom ? null : label.textContent;
          }).filter(Boolean)""")
        assert apart == []


@pytest.mark.parametrize("width,height", [(640, 400), (1280, 800)])
def test_a_heading_scrolled_to_is_not_under_the_header(browser, live, width, height):
    # 640 x 400 CSS px is a 1280 x 800 laptop at 200% zoom
    with watched_page(browser, live.url) as page:
        opened(page, width, height)
        for section in ("uploads-section", "report-section", "faults-section", "notifications-section"):
            page.evaluate("id => { location.hash = ''; location.hash = id; }", section)
            hidden = page.evaluate("""id => {
                const heading = document.querySelector(`#${id} h2`), box = heading.getBoundingClientRect();
                const found = document.elementFromPoint(box.left + 4, box.top + box.height / 2);
                return found && heading.contains(found) ? null : [box.top, found && (found.closest('header') ? 'header' : found.localName)];
              }""", section)
            assert hidden is None, (section, hidden)
        assert page.evaluate("scrollY") > 0
        assert page.evaluate("document.querySelector('header').getBoundingClientRect().top + scrollY") == 0


def focus_on(page) -> dict:
    return page.evaluate("""() => {
        const e = document.activeElement, style = getComputedStyle(e), box = e.getBoundingClientRect();
        return {tag: e.localName, id: e.id, text: (e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 40),
                style: style.outlineStyle, width: parseFloat(style.outlineWidth),
                seen: box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight};
      }""")


def test_every_control_shows_where_the_keyboard_is(browser, live):
    httpx.get(f"{live.url}{BASE}/task/{TASK}", headers=auth())  # a journal entry: its folded bodies are a control
    with watched_page(browser, live.url) as page:
        opened(page, 1280)
        page.wait_for_selector("#journal details")
        page.locator(f"#tasks tbody tr[data-task='{TASK}']").click()
        page.wait_for_selector("#task-detail:not([hidden])")
        page.evaluate("window.scrollTo(0, 0)")
        page.mouse.click(3, 3)  # the header's corner, after the skip link: Tab starts from the page's top again
        page.keyboard.press("Shift+Tab")
        seen, first = [], None
        for _ in range(200):
            now = focus_on(page)
            page.keyboard.press("Tab")
            if now["tag"] == "body" or now == first:
                break
            first = first or now
            seen.append(now)
            assert now["style"] not in ("none", "hidden") and now["width"] >= 2, now
            assert now["seen"], f"focused but off screen: {now}"
        assert seen and seen[0]["text"] == "Skip to content", seen[:1]
        kinds = {f["tag"] for f in seen}
        # (the task's JSON, a focusable pre, is folded in the task view: its summary is the stop)
        assert {"a", "button", "select", "input", "tr", "summary"} <= kinds, kinds


def tab_to(page, selector: str, back: bool = False, limit: int = 150) -> None:
    """Tab (or Shift+Tab) until the focus is on `selector`: only keys are pressed."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"Tab never reached {selector}")


def faults(live, session: str) -> list:
    return httpx.get(f"{live.url}/_sandbox/faults", headers={"X-Sandbox-Session": session}).json()["payload"]


def test_a_whole_flow_with_the_keyboard_only(browser, live):
    with watched_page(browser, live.url) as page:
        opened(page, 1280)
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("Tab")
        assert focus_on(page)["text"] == "Skip to content" and focus_on(page)["seen"]
        tab_to(page, "#new-session")
        page.keyboard.type("ui-keys")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('session ui-keys')")
        page.keyboard.press("Shift+Tab")
        tab_to(page, ".skip", back=True)
        page.keyboard.press("Enter")  # skip to content: the next Tab is the first control of the sections
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "freeze"
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('clock-frozen').textContent === '(frozen)'")
        # choose a task row with Enter, complete it, advance the clock past its processing
        tab_to(page, f"#tasks tbody tr[data-task='{TASK}']")
        page.keyboard.press("Enter")
        page.wait_for_selector("#task-detail:not([hidden])")
        tab_to(page, "#task-actions li[data-action='complete'] button")
        page.keyboard.press("Enter")
        page.wait_for_selector("#task-actions li[data-action='complete'] .answer:has-text('Task processing started')")
        tab_to(page, "#advance", back=True)
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#fell-due li:has-text('{TASK}: PROCESSING → COMPLETED')")
        # force a status
        tab_to(page, "#force-status")
        page.keyboard.type("FAI")
        tab_to(page, "#force")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelector(\"#tasks tr[data-task='{TASK}']\").cells[2].textContent === 'FAILED'")
        headers = {**auth(), "X-Sandbox-Session": "ui-keys"}
        assert httpx.get(f"{live.url}{BASE}/task/{TASK}", headers=headers).json()["payload"]["status"] == "FAILED"
        # add a fault; while the keyboard is on its Remove button a call fires it and its list is
        # redrawn: the focus stays on the button, and Enter removes it
        tab_to(page, "#fault-status")
        page.keyboard.type("503")
        page.keyboard.press("Tab")
        page.keyboard.type("2")
        page.keyboard.press("Enter")
        page.wait_for_selector("#faults li:has-text('fired 0 time(s)')")
        tab_to(page, "#faults button")
        assert httpx.get(f"{live.url}{BASE}/task/{TASK}", headers=headers).status_code == 503
        page.wait_for_selector("#faults li:has-text('fired 1 time(s)')")
        assert page.evaluate("document.activeElement.matches('#faults button')"), "the focus left the redrawn list"
        page.keyboard.press("Enter")
        page.wait_for_function("() => !document.querySelector('#faults li')")
        assert faults(live, "ui-keys") == []
        # fire an event: its upload's one task is final now, so upload.processed
        tab_to(page, "#event-type")
        page.keyboard.type("upload.p")
        page.keyboard.press("Tab")
        page.keyboard.type("upl_123456789")
        page.keyboard.press("Enter")
        page.wait_for_selector("#events li:has-text('upload.processed for upl_123456789')")


def test_the_clock_card_says_what_falls_due_next_as_the_control_plane_does(browser, live):
    with watched_page(browser, live.url) as page:
        opened(page, 1280)
        clock = httpx.get(f"{live.url}/_sandbox/clock").json()["payload"]
        due = clock["next_due"]
        assert due["target"] == "task_email000att1" and due["in_seconds"] == 30  # the default session, frozen
        page.wait_for_selector("#clock-next-what")
        assert page.text_content("#clock-started") == clock["started_at"]
        assert page.get_attribute("#clock-next-what", "data-target") == due["target"]
        assert page.get_attribute("#clock-next-what", "data-kind") == due["kind"]
        assert page.text_content("#clock-next-at") == due["at"]
        assert page.text_content("#clock-next-what") == f"task {due['target']} settles at its step (read)"
        assert page.text_content("#clock-next-in").startswith("in 30 s of the session's time (frozen")
        page.get_by_label("Advance by (seconds)").fill("3600")
        page.get_by_role("button", name="Advance", exact=True).click()
        page.wait_for_selector("#fell-due li:has-text('task_email000att1: PROCESSING → REVIEWING')")
        page.wait_for_selector("#clock-next .none")
        assert httpx.get(f"{live.url}/_sandbox/clock").json()["payload"]["next_due"] is None
        assert page.text_content("#clock-next").startswith("nothing pending")


def test_a_running_clock_counts_down_to_what_falls_due(browser, live):
    with watched_page(browser, live.url) as page:
        opened(page, 1280)
        page.click("#unfreeze")
        page.wait_for_function("document.getElementById('clock-frozen').textContent === '(running)'")
        page.wait_for_function("() => /^in 2\\d s$/.test(document.getElementById('clock-next-in').textContent)",
                               timeout=5000)


def test_a_hostile_task_id_falling_due_is_shown_as_text(browser, live):
    headers = {**auth(), "X-Sandbox-Session": "ui-hostile-due"}
    assert httpx.post(f"{live.url}/_sandbox/clock", headers=headers, json={"freeze": True}).status_code == 200
    httpx.post(f"{live.url}/_sandbox/clock", headers=headers, json={"advance_seconds": 3600})  # the fixtures' own settle
    loaded = httpx.post(f"{live.url}/_sandbox/fixtures", headers=headers, json={"tasks": [
        {"id": HOSTILE, "name": "h", "created_at": "2099-01-01T00:00:00Z", "status": "PROCESSING", "upload_id": "upl_123456789"}]})
    assert loaded.status_code == 201, loaded.text
    with watched_page(browser, live.url) as page:
        page.goto("/_sandbox/")
        page.wait_for_selector("#tasks tbody tr")
        page.get_by_label("New session").fill("ui-hostile-due")
        page.get_by_role("button", name="Use", exact=True).click()
        page.wait_for_function("h => document.getElementById('clock-next-what')?.dataset.target === h", arg=HOSTILE)
        assert page.text_content("#clock-next-what") == f"task {HOSTILE} settles at its step (read)"
        assert page.locator("#clock-section img").count() == 0
        assert page.evaluate("window.__xss") is None
