"""The dashboard's task view (taskview.js) in Chromium: the task's fields, its pages drawn to scale
with one labelled shape per annotation, checkbox, segment and signature where the API puts it, and
only the actions the key's scopes allow, each showing the API's answer."""
from __future__ import annotations

import re

import httpx
import pytest

from tests.browser import browser, watched_page  # noqa: F401  the fixture
from tests.conftest import BASE, auth
from tests.dashboard.test_accessibility import axe, serious  # noqa: F401  the fixture
from tests.dashboard.test_dashboard import TASK, open_session, page, session_get, shot  # noqa: F401  page: the fixture

HOSTILE = '<img src=x onerror="window.__xss = 1">'
KINDS = ("annotations", "checkboxes", "segments", "signatures")


def corners(x: float, y: float, w: float, h: float) -> list[list[float]]:
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


# Two pages of different sizes and shapes: a portrait page holding each kind more than once (a
# skewed segment among them), and a landscape one, so a drawing that ignored a page's own size shows.
PAGES = [
    {"id": "page_a", "width": 1000, "height": 1400,
     "annotations": [{"id": "ann_a", "entity_id": "invoice_number", "confidence": 0.9, "content": "INV-7",
                      "top": 200, "left_of_line": 100},
                     {"id": "ann_b", "entity_id": "total_amount", "confidence": 0.4, "content": "",
                      "top": 1300, "left_of_line": 700}],
     "checkboxes": [{"id": "cb_on", "confidence": 0.9, "checked": True, "coordinates": corners(80, 600, 40, 40)},
                    {"id": "cb_off", "confidence": 0.7, "checked": False, "coordinates": corners(80, 700, 40, 40)}],
     "segments": [{"id": "seg_skew", "confidence": 0.8, "coordinates": [[500, 100], [950, 150], [900, 500], [450, 450]]}],
     "signatures": [{"id": "sig_a", "confidence": 0.6, "coordinates": corners(600, 1100, 300, 120)},
                    {"id": "sig_b", "confidence": 0.5, "coordinates": corners(100, 1100, 250, 100)}]},
    {"id": "page_b", "width": 842, "height": 595, "annotations": [], "checkboxes": [],
     "segments": [{"id": "seg_b", "confidence": 0.9, "coordinates": corners(42, 40, 758, 200)}],
     "signatures": []},
]


def load_task(live, session: str, task_id: str, name: str, pages: list[dict]) -> None:
    loaded = httpx.post(f"{live.url}/_sandbox/fixtures", headers={"X-Sandbox-Session": session, **auth()}, json={
        "tasks": [{"id": task_id, "name": name, "created_at": "2099-01-01T00:00:00Z", "status": "REVIEWING",
                   "upload_id": "upl_123456789", "meta": [{"name": "source", "value": name}], "pages": pages}]})
    assert loaded.status_code == 201, loaded.text


def open_task(page, task_id: str) -> None:
    page.locator(f"#tasks tbody tr[data-task='{task_id}']").click()
    wait_field(page, "id", task_id)


def wait_field(page, name: str, value: str) -> None:
    page.wait_for_function("([name, value]) => { const shown = document.querySelector(`#task-fields dd[data-field='${name}']`);"
                           " return shown && shown.textContent === value; }", arg=[name, value])


def answer_of(page, action: str):
    return page.locator(f"#task-actions li[data-action='{action}'] .answer .line")


def test_each_page_is_drawn_to_scale_with_one_shape_per_mark_where_the_api_puts_it(browser, live):
    load_task(live, "tv-scale", "task_drawn000001", "Drawn", PAGES)
    task = session_get(live, "tv-scale", f"{BASE}/task/task_drawn000001").json()["payload"]
    with watched_page(browser, live.url, strict=True) as page:  # no console error, no failed load
        open_session(page, "tv-scale")
        open_task(page, "task_drawn000001")
        assert len(task["pages"]) == 2
        for p in task["pages"]:
            drawing = page.locator(f"svg.page[data-page='{p['id']}']")
            assert drawing.get_attribute("viewBox") == f"0 0 {p['width']} {p['height']}"
            outline = drawing.locator(".page-outline")
            assert (float(outline.get_attribute("width")), float(outline.get_attribute("height"))) == (p["width"], p["height"])
            for kind in KINDS:  # one shape per mark, none more
                singular = {"checkboxes": "checkbox"}.get(kind, kind[:-1])
                assert drawing.locator(f"g[data-kind='{singular}']").count() == len(p[kind]), (p["id"], kind)
            # the coordinates drawn are the API's, in the page's own units
            for kind in ("checkboxes", "segments", "signatures"):
                for shape in p[kind]:
                    points = drawing.locator(f"g[data-id='{shape['id']}'] polygon").get_attribute("points")
                    assert [[float(n) for n in pair.split(",")] for pair in points.split()] == shape["coordinates"]
            for a in p["annotations"]:
                mark = drawing.locator(f"g[data-id='{a['id']}'] circle")
                assert (float(mark.get_attribute("cx")), float(mark.get_attribute("cy"))) == (a["left_of_line"], a["top"])
            # and on screen each lands at its place relative to the page's outline, whatever the scale
            placed = drawing.evaluate("""svg => {
                const page = svg.querySelector('.page-outline').getBoundingClientRect();
                return [...svg.querySelectorAll('g[data-id] polygon, g[data-id] circle')].map(shape => {
                    const box = shape.getBoundingClientRect();
                    return [shape.parentNode.dataset.id, (box.left + box.right) / 2 - page.left,
                            (box.top + box.bottom) / 2 - page.top, page.width, page.height];
                });
            }""")
            assert placed
            centres = {s["id"]: (sum(c[0] for c in s["coordinates"]) / 4, sum(c[1] for c in s["coordinates"]) / 4)
                       for kind in ("checkboxes", "segments", "signatures") for s in p[kind]}
            centres.update({a["id"]: (a["left_of_line"], a["top"]) for a in p["annotations"]})
            for shape_id, x, y, width, height in placed:
                assert width / height == pytest.approx(p["width"] / p["height"], rel=0.01)  # to scale
                want_x, want_y = centres[shape_id]
                if shape_id != "seg_skew":  # a skewed quadrilateral's box centre is not its corners' mean
                    assert x / width == pytest.approx(want_x / p["width"], abs=0.01), shape_id
                    assert y / height == pytest.approx(want_y / p["height"], abs=0.01), shape_id
        # each shape says what it is, and its label or value
        titles = page.locator("#task-pages g[data-id] title").all_text_contents()
        assert "checkbox cb_on, checked, confidence 0.9" in titles
        assert "checkbox cb_off, unchecked, confidence 0.7" in titles
        assert "annotation ann_a, invoice_number: INV-7, confidence 0.9" in titles
        assert "annotation ann_b, total_amount: (empty), confidence 0.4" in titles
        assert "signature sig_a, confidence 0.6" in titles and "segment seg_skew, confidence 0.8" in titles
        # kinds look different, and the legend says which is which
        looks = page.evaluate("""() => ['annotation', 'checkbox', 'segment', 'signature'].map(kind => {
            const mark = document.querySelector(`#task-pages g[data-kind='${kind}'] :is(polygon, circle)`);
            const style = getComputedStyle(mark);
            return [style.stroke, style.fill, style.strokeDasharray].join(' ');
        })""")
        assert len(set(looks)) == 4, looks
        assert page.locator("#task-legend li").all_text_contents() == [
            " segment: a region of the page", " signature: where a signature was found",
            " checkbox: filled when checked", " annotation: an extracted entity at its line, with its content"]
        fields = dict(zip(page.locator("#task-fields dt").all_text_contents(),
                          page.locator("#task-fields dd").all_text_contents()))
        assert list(fields) == list(task)  # every field of the API's Task, in its order
        assert fields["status"] == "REVIEWING" and fields["exported_at"] == "null" and fields["meta"] == "source = Drawn"
        assert '"id": "task_drawn000001"' in page.text_content("#task-raw pre")


def test_a_key_without_the_scope_an_action_needs_is_not_offered_it(page, live):
    spec = httpx.get(f"{live.url}/openapi.json").json()
    needs = {path.rsplit("/", 1)[1]: item["post"]["x-required-scopes"] for path, item in spec["paths"].items()
             if re.search(r"/task/\{task_id\}/[a-z]+$", path) and "post" in item}
    assert set(needs) == {"complete", "discard", "unlock", "approve", "disapprove", "report"}
    open_session(page, "tv-scopes")
    page.get_by_label("Key", exact=True).select_option("key_task_read_only")  # task.read alone
    open_task(page, TASK)
    page.wait_for_selector("#task-withheld:has-text('Not offered')")
    assert page.locator("#task-actions li").count() == 0
    assert "key_task_read_only lacks task.edit" in page.text_content("#task-withheld")
    assert page.locator("#task-pages svg.page").count() == 1  # what it may read is still shown
    page.get_by_label("Key", exact=True).select_option("YOUR_API_KEY")  # every scope
    open_task(page, TASK)
    page.wait_for_selector("#task-actions li")
    offered = page.eval_on_selector_all("#task-actions li", "items => items.map(i => i.dataset.action)")
    assert sorted(offered) == sorted(needs) and page.text_content("#task-withheld") == ""


def test_an_action_shows_the_apis_answer_and_a_refresh_keeps_what_the_user_opened(page, live):
    open_session(page, "tv-actions")
    open_task(page, TASK)
    page.locator("#task-raw summary").click()  # opened by the user: stays open through every refresh
    page.locator("#task-pages details[data-page='page_1'] summary").click()  # and a page folded stays folded
    page.get_by_role("button", name="Approve", exact=True).click()
    answer_of(page, "approve").filter(has_text="200").wait_for()
    assert answer_of(page, "approve").text_content() == "200 · status REVIEWING"
    wait_field(page, "approved", "true")
    page.get_by_role("button", name="Approve", exact=True).click()  # again: refused by the state rule
    answer_of(page, "approve").filter(has_text="400").wait_for()
    assert answer_of(page, "approve").text_content() == (
        "400 task_already_approved: " + session_get(live, "tv-actions", "/_sandbox/journal?operation=approveTask")
        .json()["payload"][-1]["response"]["body"]["error"])
    assert "refused" in page.get_attribute("#task-actions li[data-action='approve'] .answer", "class")
    page.get_by_label("issue label").fill("Blurry scan")
    page.get_by_role("button", name="Report", exact=True).click()
    answer_of(page, "report").filter(has_text="201").wait_for()
    # a change made elsewhere shows when refreshState runs (the live channel calls it on every change)
    forced = httpx.put(f"{live.url}/_sandbox/tasks/{TASK}/status", json={"status": "COMPLETED"},
                       headers={"X-Sandbox-Session": "tv-actions", **auth()})
    assert forced.status_code == 200
    page.evaluate("() => refreshState()")
    wait_field(page, "status", "COMPLETED")
    assert page.locator("#task-raw").get_attribute("open") is not None
    assert page.locator("#task-pages details[data-page='page_1']").get_attribute("open") is None
    assert answer_of(page, "approve").text_content().startswith("400 task_already_approved")  # still shown
    assert page.input_value("#report-label") == "Blurry scan"  # what the user typed stays too
    page.locator("#task-pages details[data-page='page_1'] summary").click()
    page.get_by_role("button", name="Complete", exact=True).click()
    answer_of(page, "complete").filter(has_text="400").wait_for()
    assert answer_of(page, "complete").text_content().startswith("400 task_not_reviewing: ")
    page.locator("#task-raw summary").click()
    page.set_viewport_size({"width": 1400, "height": 2400})  # all of it in the window: no scrolling under the sticky header
    page.mouse.wheel(0, -100000)
    shot(page, "task-view", "#task-detail")


def test_a_failed_validation_lists_each_problem_next_to_the_button(page, live):
    open_session(page, "tv-invalid")
    open_task(page, "task_invalid000001")
    page.get_by_role("button", name="Complete", exact=True).click()
    answer_of(page, "complete").filter(has_text="400").wait_for()
    assert answer_of(page, "complete").text_content().startswith("400 validation_failed: ")
    problems = page.locator("#task-actions li[data-action='complete'] .answer .problems li").all_text_contents()
    body = session_get(live, "tv-invalid", "/_sandbox/journal?operation=completeTask").json()["payload"][-1]
    assert problems == [f"{d['location']}: {d['message']}" for d in body["response"]["body"]["details"]]


def test_hostile_text_in_a_task_and_its_pages_stays_text(browser, live):
    page_ = {"id": HOSTILE, "width": 600, "height": 800, "checkboxes": [], "signatures": [],
             "annotations": [{"id": HOSTILE, "entity_id": HOSTILE, "confidence": 0.5, "content": HOSTILE,
                              "top": 100, "left_of_line": 50}],
             "segments": [{"id": HOSTILE, "confidence": 0.5, "coordinates": corners(10, 10, 100, 50)}]}
    load_task(live, "tv-xss", "task_hostile0002", HOSTILE, [page_])
    with watched_page(browser, live.url, strict=True) as page:
        open_session(page, "tv-xss")
        open_task(page, "task_hostile0002")
        page.wait_for_selector("#task-pages svg.page")
        assert page.text_content("#task-fields dd[data-field='name']") == HOSTILE
        assert page.locator("#task-pages g[data-kind='segment'] text").text_content() == HOSTILE
        assert page.locator("#task-pages g[data-kind='annotation'] title").text_content() == (
            f"annotation {HOSTILE}, {HOSTILE}: {HOSTILE}, confidence 0.5")
        assert page.locator("#task-detail img, #task-detail foreignObject").count() == 0
        assert page.evaluate("window.__xss") is None


def test_the_task_view_has_no_serious_or_critical_violation(browser, live, axe):
    with watched_page(browser, live.url) as page:
        open_session(page, "tv-axe")
        open_task(page, TASK)
        page.wait_for_selector("#task-actions li")
        page.get_by_role("button", name="Approve", exact=True).click()
        answer_of(page, "approve").filter(has_text="200").wait_for()
        assert serious(page, axe) == []
