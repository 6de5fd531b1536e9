"""listTasks (B11): newest-first order, filters, keyset paging and query errors."""
from __future__ import annotations

import asyncio

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sandbox.store.direct import Direct

from tests.conftest import BASE, PROJECT, auth

LIST = f"{BASE}/task"
# proj_123456's tasks, newest first by created_at (fixtures/tasks.yaml).
NEWEST_FIRST = [
    "task_invalid000002", "task_invalid000001", "task_email000att3", "task_email000att2", "task_email000att1", "task_email000body",
    "task_abcdef123456", "task_filtered0001", "task_failed000001", "task_exported0001",
]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def list_tasks(client, **params):
    response = client.get(LIST, headers=auth(), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def all_pages(client, limit: int, **filters) -> list[dict]:
    pages, token = [], None
    while True:
        params = {"limit": limit, **filters, **({"token": token} if token else {})}
        page = list_tasks(client, **params)
        pages.append(page)
        token = page["paginationToken"]
        if not page["more"]:
            return pages
        assert len(pages) <= 20, "paging does not end"


def ids(page: dict) -> list[str]:
    return [t["id"] for t in page["payload"]]


def assert_bad_query(response, code: str, location: str) -> dict:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {"error", "code"} <= set(body) <= {"error", "code", "details"}
    assert body["code"] == code, body
    assert location in [d["location"] for d in body["details"]], body
    return body


# -- order and filters --

def test_newest_first(client):
    page = list_tasks(client)
    assert ids(page) == NEWEST_FIRST
    stamps = [t["created_at"] for t in page["payload"]]
    assert stamps == sorted(stamps, reverse=True)
    assert (page["count"], page["more"], page["paginationToken"]) == (10, False, None)


FILTERS = [
    ({"upload_id": "upl_123456789"}, 1),
    ({"upload_id": "upl_email0001"}, 4),
    ({"upload_id": "upl_archived01"}, 3),
    ({"upload_id": "upl_contract01"}, 0),  # another project's upload: nothing here
    ({"upload_id": "upl_doesnotexist"}, 0),
    ({"upload_id": "upl_invalid001"}, 2),
    ({"status": "REVIEWING"}, 4),
    ({"status": "PROCESSING"}, 1),
    ({"status": "COMPLETED"}, 2),
    ({"status": "FAILED"}, 1),
    ({"status": "DISCARDED"}, 1),
    ({"status": "FILTERED"}, 1),
    ({"step_type": "EXTRACT"}, 10),
    ({"step_type": "CLASSIFY"}, 0),
    ({"upload_id": "upl_email0001", "status": "REVIEWING"}, 1),
    ({"upload_id": "upl_archived01", "status": "COMPLETED", "step_type": "EXTRACT"}, 1),
]


@pytest.mark.parametrize("filters, expected", FILTERS, ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v))
def test_filters(client, world, filters, expected):
    page = list_tasks(client, **filters)
    assert all(task[k] == v for task in page["payload"] for k, v in filters.items())
    matching = [t.id for t in world.records.tasks.values()
                if t.project_id == PROJECT and all(getattr(t, k) == v for k, v in filters.items())]
    assert page["count"] == len(page["payload"]) == len(matching) == expected
    assert ids(page) == [i for i in NEWEST_FIRST if i in matching]


@pytest.mark.parametrize("filters, expected", [
    ({"upload_id": "upl_invalid001"}, 2),
    ({"status": "REVIEWING"}, 4), ({"upload_id": "upl_email0001"}, 4), ({}, 10)])
def test_count_is_the_total_across_pages(client, filters, expected):
    page = list_tasks(client, limit=1, **filters)
    assert page["count"] == expected and len(page["payload"]) == 1
    assert page["more"] is (expected > 1)


# -- paging --

@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 10, 100])
def test_paging_visits_every_task_once_in_order(client, limit):
    pages = all_pages(client, limit)
    assert [i for page in pages for i in ids(page)] == NEWEST_FIRST
    assert len(pages) == -(-len(NEWEST_FIRST) // limit)  # no trailing empty page
    for page in pages[:-1]:
        assert page["more"] is True and isinstance(page["paginationToken"], str)
        assert len(page["payload"]) == limit and page["count"] == len(NEWEST_FIRST)
    last = pages[-1]
    assert last["more"] is False and last["paginationToken"] is None and last["count"] == len(NEWEST_FIRST)


def test_paging_with_a_filter(client):
    pages = all_pages(client, 1, upload_id="upl_email0001")
    assert [i for page in pages for i in ids(page)] == [
        "task_email000att3", "task_email000att2", "task_email000att1", "task_email000body"]
    assert all(page["count"] == 4 for page in pages)


def test_paging_with_equal_timestamps(client):
    # Seven tasks created in one second (the clock is frozen): a page boundary among them must
    # still neither skip nor repeat one.
    files = [("file", (f"page{i}.pdf", b"%PDF-1.4", "application/pdf")) for i in range(7)]
    created = client.post(LIST.replace("/task", "/upload"), headers=auth(), files=files)
    assert created.status_code == 201, created.text
    whole = ids(list_tasks(client, limit=50))
    new = whole[:7]
    assert len({task["created_at"] for task in list_tasks(client, limit=7)["payload"]}) == 1
    assert sorted(whole[7:]) == sorted(NEWEST_FIRST) and set(new).isdisjoint(NEWEST_FIRST)
    assert [i for page in all_pages(client, 3) for i in ids(page)] == whole


def test_page_boundary_survives_completing_a_task_on_the_next_page(client):
    first = list_tasks(client, limit=4)
    assert ids(first) == NEWEST_FIRST[:4]
    # task_email000body is on page 2; completing it changes its status, not its place.
    done = client.post(f"{BASE}/task/task_email000body/complete", headers=auth())
    assert done.status_code == 200
    rest = all_pages(client, 2, token=first["paginationToken"])
    seen = ids(first) + [i for page in rest for i in ids(page)]
    assert seen == NEWEST_FIRST
    second = {t["id"]: t["status"] for t in rest[0]["payload"]}
    assert second == {"task_email000att1": "PROCESSING", "task_email000body": "PROCESSING"}


def test_page_boundary_survives_a_task_leaving_the_filter(client):
    first = list_tasks(client, limit=1, status="REVIEWING")
    assert ids(first) == ["task_invalid000002"] and first["more"] is True
    # The task already shown leaves the filter; the next page must not skip the one after it.
    assert client.post(f"{BASE}/task/task_invalid000002/discard", headers=auth()).status_code == 200
    second = list_tasks(client, limit=1, status="REVIEWING", token=first["paginationToken"])
    assert ids(second) == ["task_invalid000001"]
    assert (second["count"], second["more"]) == (3, True)


# -- errors --

TOKENS = [
    pytest.param("garbage", id="garbage"),
    pytest.param(b64(b"hello, not json"), id="base64-not-json"),
    pytest.param(b64(b'["2024-01-16T09:00:03Z"]'), id="one-element"),
    pytest.param(b64(b"[1, 2]"), id="not-strings"),
    pytest.param(b64(b'["a", "b", "c"]'), id="three-elements"),
    pytest.param(b64(b'{"created_at": "2024-01-16T09:00:03Z", "id": "task_email000att2"}'), id="object"),
    pytest.param(b64(b'"ab"'), id="two-char-string"),
]


@pytest.mark.parametrize("token", TOKENS)
def test_invalid_token(client, token):
    response = client.get(LIST, headers=auth(), params={"token": token})
    assert_bad_query(response, "invalid_pagination_token", "query.token")


def test_overlong_token_is_a_validation_error(client):
    response = client.get(LIST, headers=auth(), params={"token": "x" * 513})
    assert_bad_query(response, "invalid_request", "query.token")


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", ""])
def test_invalid_limit(client, limit):
    response = client.get(LIST, headers=auth(), params={"limit": limit})
    assert_bad_query(response, "invalid_request", "query.limit")


@pytest.mark.parametrize("name", ["foo", "page", "offset", "project_id"])
def test_unknown_query_parameter_is_named(client, name):
    response = client.get(LIST, headers=auth(), params={name: "1"})
    body = assert_bad_query(response, "invalid_request", f"query.{name}")
    assert name in body["error"]


@pytest.mark.parametrize("param, value", [
    ("status", "DONE"), ("status", "reviewing"), ("status", "IN_REVIEW"),
    ("step_type", "extract"), ("step_type", "OCR"),
])
def test_value_outside_the_enum(client, param, value):
    response = client.get(LIST, headers=auth(), params={param: value})
    assert_bad_query(response, "invalid_request", f"query.{param}")


# -- the index: every page equals a scan and sort of the session's tasks --

ACTIONS = ["complete", "discard", "unlock", "approve"]
FILTERS = [{}, {"status": "REVIEWING"}, {"status": "PROCESSING"}, {"step_type": "EXTRACT"},
           {"upload_id": "upl_email0001"}, {"status": "COMPLETED", "upload_id": "upl_email0001"},
           {"status": "REVIEWING", "step_type": "EXTRACT"}]


def scanned(world, project_id: str, **filters) -> list[str]:
    """What the index replaces: every task of the project, filtered, sorted newest first."""
    tasks = [t for t in world.records.tasks.values() if t.project_id == project_id
             and all(getattr(t, k) == v for k, v in filters.items())]
    return [t.id for t in sorted(tasks, key=lambda t: (t.created_at, t.id), reverse=True)]


@pytest.mark.memory_only
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(ACTIONS + ["upload", "force", "advance"]),
                                st.sampled_from(NEWEST_FIRST), st.integers(1, 3)), max_size=12),
       session=st.sampled_from([None, "indexed"]), limit=st.integers(1, 4))
def test_pages_equal_a_scan_after_any_changes(app, steps, session, limit):
    """Actions, uploads, forced states and due transitions change which list a task is in;
    the pages (and their count) must stay those of a full scan, in either session."""
    asyncio.run(app.store.reset(session or "default", None))
    headers = {**auth(), **({"X-Sandbox-Session": session} if session else {})}
    world = Direct(app.store, session or "default")
    with app.test_client() as client:
        for kind, task_id, n in steps:
            if kind == "upload":
                files = [("file", (f"f{i}.pdf", b"%PDF", "application/pdf")) for i in range(n)]
                client.post(LIST.replace("/task", "/upload"), headers=headers, files=files)
            elif kind == "force":
                world.force(task_id, ["REVIEWING", "COMPLETED", "FILTERED"][n - 1])
            elif kind == "advance":
                world.move_clock(advance=30.0 * n)
            else:
                client.post(f"{BASE}/task/{task_id}/{kind}", headers=headers)
        for filters in FILTERS:
            expected = scanned(world, PROJECT, **filters)
            seen, token = [], None
            while True:
                params = {"limit": limit, **filters, **({"token": token} if token else {})}
                page = client.get(LIST, headers=headers, params=params).json()
                assert page["count"] == len(expected), filters
                seen += ids(page)
                token = page["paginationToken"]
                if not page["more"]:
                    break
            assert seen == expected, filters


def test_a_change_in_one_session_leaves_another_sessions_list_alone(client):
    done = client.post(f"{BASE}/task/task_abcdef123456/complete", headers={**auth(), "X-Sandbox-Session": "a"})
    assert done.status_code == 200
    mine = client.get(LIST, headers={**auth(), "X-Sandbox-Session": "a"}, params={"status": "PROCESSING"}).json()
    theirs = client.get(LIST, headers=auth(), params={"status": "PROCESSING"}).json()
    assert "task_abcdef123456" in ids(mine) and "task_abcdef123456" not in ids(theirs)
    assert mine["count"] == theirs["count"] + 1
