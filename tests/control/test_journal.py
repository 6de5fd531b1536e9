"""The request journal over HTTP: what each public call records, filters, clearing, sessions and the bound (B12)."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from sandbox.app import create_app
from sandbox.control.journal import BODY_BYTES
from tests.conftest import BASE, auth

JOURNAL = "/_sandbox/journal"
TASK = "task_abcdef123456"
FIELDS = {"seq", "time", "operation", "method", "path", "task_id", "status", "code", "request", "response",
          "problems"}


def sess(name: str | None) -> dict:
    return {"X-Sandbox-Session": name} if name else {}


def journal(client, session: str | None = None, **params) -> list[dict]:
    response = client.get(JOURNAL, headers=sess(session), params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["payload"])
    return body["payload"]


def freeze(client, session: str) -> str:
    response = client.post("/_sandbox/clock", json={"freeze": True}, headers=sess(session))
    assert response.status_code == 200, response.text
    return response.json()["payload"]["now"]


def advance(client, session: str, seconds: int) -> str:
    response = client.post("/_sandbox/clock", json={"advance_seconds": seconds}, headers=sess(session))
    assert response.status_code == 200, response.text
    return response.json()["payload"]["now"]


def test_every_public_call_is_recorded_with_what_was_said(client):
    now = freeze(client, "j")
    h = {**auth(), **sess("j")}
    report = {"issues": [{"label": "Poor Document Quality", "value": "poor_quality"}], "message": "blurry"}
    calls = [
        ("GET", f"{BASE}/task/{TASK}", None, "getTask", TASK),
        ("POST", f"{BASE}/task/{TASK}/report", report, "reportTask", TASK),
        ("GET", f"{BASE}/task", None, "listTasks", None),
        ("POST", f"{BASE}/task/task_nope/approve", None, "approveTask", "task_nope"),
        ("GET", f"{BASE}/nowhere", None, None, None),
    ]
    answers = [client.request(m, p, json=b, headers=h) for m, p, b, *_ in calls]
    assert [a.status_code for a in answers] == [200, 201, 200, 404, 404]
    client.get("/_sandbox/session", headers=sess("j"))  # control calls are not recorded

    entries = journal(client, "j")
    assert len(entries) == len(calls)
    for entry, (method, path, body, operation, task_id), answer in zip(entries, calls, answers):
        assert set(entry) == FIELDS
        assert (entry["time"], entry["method"], entry["path"]) == (now, method, path)
        assert (entry["operation"], entry["task_id"], entry["status"]) == (operation, task_id, answer.status_code)
        assert entry["code"] == (answer.json()["code"] if answer.status_code >= 400 else None)
        assert entry["request"]["body"] == body
        assert entry["response"]["body"] == answer.json()
        assert entry["problems"] == []
    assert [e["seq"] for e in entries] == sorted({e["seq"] for e in entries})  # oldest first


@pytest.mark.parametrize("method, path, body, location", [
    ("POST", f"{BASE}/task/{TASK}/report", {}, "body.issues"),
    ("POST", f"{BASE}/task/{TASK}/report", {"issues": [{"label": "x"}]}, "body.issues[0].value"),
    ("GET", f"{BASE}/task?limit=0", None, "query.limit"),
    ("GET", f"{BASE}/task?status=NOPE", None, "query.status"),
    ("POST", f"{BASE}/task/task_invalid000001/complete", None, "entities.total_amount"),
])
def test_problems_of_a_400_are_recorded(client, method, path, body, location):
    answer = client.request(method, path, json=body, headers=auth())
    assert answer.status_code == 400, answer.text
    [entry] = journal(client)
    assert entry["status"] == 400
    assert location in [p["location"] for p in entry["problems"]]
    assert entry["problems"] == answer.json()["details"]


def test_injected_faults_are_recorded_with_their_status(client):
    assert client.post("/_sandbox/faults", json={"operation": "getTask", "status": 503, "times": 1}).status_code == 201
    assert client.get(f"{BASE}/task/{TASK}", headers=auth()).status_code == 503
    assert client.get(f"{BASE}/task/{TASK}", headers={**auth(), "Prefer": "code=404"}).status_code == 404
    assert client.get(f"{BASE}/task/{TASK}", headers=auth()).status_code == 200
    entries = journal(client)
    assert [e["status"] for e in entries] == [503, 404, 200]
    assert [(e["response"]["body"] or {}).get("code") for e in entries] == ["injected_fault"] * 2 + [None]
    assert entries[1]["request"]["headers"].get("prefer") == "code=404"


@pytest.fixture
def recorded(client):
    """Session f: three calls at t0, then the clock moves 60 s, then three more at t1."""
    h = {**auth(), **sess("f")}
    t0 = freeze(client, "f")
    client.get(f"{BASE}/task/{TASK}", headers=h)                      # 0 getTask 200
    client.get(f"{BASE}/task/task_nope", headers=h)                   # 1 getTask 404
    client.post(f"{BASE}/task/{TASK}/approve", headers=h)             # 2 approveTask 200
    t1 = advance(client, "f", 60)
    client.get(f"{BASE}/task", headers=h)                             # 3 listTasks 200
    client.post(f"{BASE}/task/task_email000body/discard", headers=h)  # 4 discardTask 200
    client.get(f"{BASE}/task/{TASK}", headers=h)                      # 5 getTask 200
    entries = journal(client, "f")
    assert [e["status"] for e in entries] == [200, 404, 200, 200, 200, 200]
    assert [e["time"] for e in entries] == [t0] * 3 + [t1] * 3 and t0 < t1
    return {"t0": t0, "t1": t1, "entries": entries}


@pytest.mark.parametrize("params, expected", [
    ({"operation": "getTask"}, [0, 1, 5]),
    ({"operation": "completeTask"}, []),
    ({"task_id": TASK}, [0, 2, 5]),
    ({"status": 404}, [1]),
    ({"status": 200, "operation": "getTask"}, [0, 5]),
    ({"since": "t1"}, [3, 4, 5]),
    ({"since": "t0"}, [0, 1, 2, 3, 4, 5]),
    ({"limit": 2}, [4, 5]),
    ({"limit": 100}, [0, 1, 2, 3, 4, 5]),
    ({"operation": "getTask", "limit": 1}, [5]),
    ({"since": "t1", "task_id": TASK}, [5]),
])
def test_filters(client, recorded, params, expected):
    params = {k: recorded[v] if k == "since" else v for k, v in params.items()}
    found = journal(client, "f", **params)
    assert [e["seq"] for e in found] == [recorded["entries"][i]["seq"] for i in expected]


def test_clear_then_calls_are_recorded_again(client):
    client.get(f"{BASE}/task/{TASK}", headers=auth())
    assert len(journal(client)) == 1
    cleared = client.delete(JOURNAL, headers={"X-Sandbox-Client": "tests"})
    assert cleared.status_code == 204 and cleared.content == b""
    assert journal(client) == []
    assert client.get("/_sandbox/session").json()["payload"]["journal_entries"] == 0
    client.post(f"{BASE}/task/{TASK}/discard", headers=auth())
    assert [e["operation"] for e in journal(client)] == ["discardTask"]


def test_sessions_have_separate_journals(client):
    client.get(f"{BASE}/task/{TASK}", headers={**auth(), **sess("a")})
    client.post(f"{BASE}/task/{TASK}/discard", headers={**auth(), **sess("b")})
    client.get(f"{BASE}/task", headers={**auth(), **sess("b")})
    assert [e["operation"] for e in journal(client, "a")] == ["getTask"]
    assert [e["operation"] for e in journal(client, "b")] == ["discardTask", "listTasks"]
    assert journal(client) == []
    assert client.delete(JOURNAL, headers={**sess("a"), "X-Sandbox-Client": "tests"}).status_code == 204
    assert len(journal(client, "b")) == 2


def test_the_journal_keeps_only_the_newest_entries():
    with create_app(journal_size=5).test_client() as client:
        for _ in range(12):
            assert client.get(f"{BASE}/task/{TASK}", headers=auth()).status_code == 200
        entries = journal(client)
        assert [e["seq"] for e in entries] == [8, 9, 10, 11, 12]
        assert client.get("/_sandbox/session").json()["payload"]["journal_entries"] == 5


def test_a_multipart_upload_body_is_summarised_not_stored(client):
    secret = b"%PDF-1.4 SECRET-CONTENT-OF-THE-FILE" + b"x" * 2000
    answer = client.post(f"{BASE}/upload", headers=auth(), files=[("file", ("scan.pdf", secret, "application/pdf"))],
                         data={"name": "Scan"})
    assert answer.status_code == 201, answer.text
    [entry] = journal(client)
    assert (entry["operation"], entry["status"]) == ("createUpload", 201)
    assert entry["request"]["headers"]["content-type"].startswith("multipart/form-data")
    summary = entry["request"]["body"]
    assert isinstance(summary, str) and "multipart" in summary
    assert "SECRET-CONTENT" not in summary and len(summary) < 200
    assert entry["response"]["body"] == answer.json()


def test_a_call_is_in_the_journal_as_soon_as_its_answer_arrives(live):
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for i in range(1, 101):
            assert http.get(f"{BASE}/task/{TASK}", headers=auth()).status_code == 200
            newest = http.get(JOURNAL, params={"limit": 1}).json()["payload"]
            assert [e["seq"] for e in newest] == [i]


@pytest.mark.parametrize("since,expected", [("2000-01-01T00:00:00Z", 1), ("2000-01-01T00:00:00+00:00", 1),
                                            ("2999-01-01T00:00:00Z", 0), ("yesterday", None)])
def test_since_takes_iso_timestamps(client, since, expected):
    client.get(f"{BASE}/task/{TASK}", headers=auth())
    response = client.get("/_sandbox/journal", params={"since": since})
    if expected is None:
        assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    else:
        assert response.json()["count"] == expected


@pytest.mark.parametrize("task_id", ["ui_task_000001", "task_openapi.json"])
def test_a_task_whose_id_looks_like_a_swagger_path_is_journalled_with_its_id(client, task_id):
    task = {"id": task_id, "name": "Odd id", "created_at": "2024-03-01T00:00:00Z",
            "status": "REVIEWING", "upload_id": "upl_123456789"}
    assert client.post("/_sandbox/fixtures", json={"tasks": [task]}).status_code == 201
    assert client.get(f"{BASE}/task/{task_id}", headers=auth()).status_code == 200
    [entry] = journal(client, task_id=task_id)
    assert entry["operation"] == "getTask"


# -- the journal's bytes: each body cut at a limit, each list under a byte budget --

REPORT = f"{BASE}/task/{TASK}/report"
VALID_REPORT = b'{"issues": [{"label": "a", "value": "b"}]}'


def held(app, sid: str = "default") -> dict:
    """The store's own count of the bytes each of the session's three lists holds."""
    async def read():
        try:
            return await app.store.journal_held(sid)
        finally:
            await app.store.release()
    return asyncio.run(read())


def journal_app(store, **options):
    return create_app(**options) if store is None else create_app(store=store[0], namespace=store[1], **options)


@pytest.mark.parametrize("extra, cut", [(0, 0), (1, 1), (50_000, 50_000)], ids=["at-the-limit", "one-over", "far-over"])
def test_a_journalled_body_is_cut_at_its_limit_and_says_how_much(store, extra, cut):
    raw = VALID_REPORT + b" " * (BODY_BYTES - len(VALID_REPORT) + extra)  # JSON allows trailing spaces
    with journal_app(store).test_client() as client:
        answer = client.post(REPORT, headers={**auth(), "Content-Type": "application/json"}, content=raw)
        assert answer.status_code == 201, answer.text
        [entry] = journal(client)
    body = entry["request"]["body"]
    if not cut:
        assert body == {"issues": [{"label": "a", "value": "b"}]}  # whole: read back as JSON
    else:
        assert body == raw[:BODY_BYTES].decode() + f"[… {cut} more bytes not journalled]"


def test_a_long_answer_is_cut_too():
    with create_app(journal_body_bytes=500).test_client() as client:
        answer = client.get(f"{BASE}/task", headers=auth())
        assert answer.status_code == 200 and len(answer.content) > 500
        [entry] = journal(client)
    assert entry["response"]["body"] == answer.content[:500].decode() + \
        f"[… {len(answer.content) - 500} more bytes not journalled]"


def test_a_journal_fed_huge_bodies_stays_under_its_budget_and_counts_every_call(store):
    budget = 48 * 1024
    app = journal_app(store, journal_bytes=budget)
    big = b'{"issues": [{"label": "a", "value": "b"}], "message": "' + b"m" * 60_000 + b'"}'
    with app.test_client() as client:
        for _ in range(30):  # a message past 5,000 characters: each a 400 the report keeps as a violation
            answer = client.post(REPORT, headers={**auth(), "Content-Type": "application/json"}, content=big)
            assert answer.status_code == 400
        for _ in range(20):  # a state rule: refusals
            client.post(f"{BASE}/task/task_invalid000001/complete", headers=auth())
        entries = journal(client)
        report = client.get("/_sandbox/report").json()["payload"]
        counts = held(app)
    assert set(counts) == {"journal", "violations", "refusals"}
    assert all(0 < n <= budget for n in counts.values()), counts
    assert 0 < len(entries) < 50 and entries[-1]["seq"] == 50
    for entry in entries:
        if entry["operation"] == "reportTask":
            assert entry["request"]["body"].endswith(f"[… {len(big) - BODY_BYTES} more bytes not journalled]")
            assert len(entry["request"]["body"].encode()) < BODY_BYTES + 100
    assert (report["requests"], report["journal"]["recorded"]) == (50, 50)
    assert report["journal"]["kept"] == len(entries) and report["journal"]["dropped"] == 50 - len(entries)
    violations, refusals = report["violations"], report["refusals"]
    assert (violations["count"], refusals["count"]) == (30, 20)
    assert 0 < violations["kept"] < 30 and violations["kept"] + violations["not_kept"] == 30
    assert refusals["kept"] + refusals["not_kept"] == 20


def test_violations_only_keeps_the_calls_that_broke_the_contract_and_limit_counts_among_them(client):
    h = {**auth(), **sess("v")}
    client.get(f"{BASE}/task?limit=0", headers=h)             # a violation: bad parameter
    client.get(f"{BASE}/task/task_nope", headers=h)           # 404: not the client's fault
    client.post(f"{BASE}/task/{TASK}/complete", headers=h)    # 200
    client.post(f"{BASE}/task/{TASK}/complete", headers=h)    # 400 task_not_reviewing: a refusal, allowed
    client.get(f"{BASE}/tasks", headers=h)                    # a violation: unknown route
    found = journal(client, "v", violations="true")
    assert [(e["status"], e["code"]) for e in found] == [(400, "invalid_request"), (404, "route_not_found")]
    assert [e["code"] for e in journal(client, "v", violations="true", limit=1)] == ["route_not_found"]
    assert len(journal(client, "v", violations="false")) == 5


def test_a_calls_headers_are_journalled_with_credentials_masked_and_within_a_bound(client):
    many = {f"X-Pad-{i:03d}": "p" * 40 for i in range(200)}  # 10 KB of headers: more than an entry keeps
    client.get(f"{BASE}/task/{TASK}", headers={**auth(), **sess("hdr"), "X-Trace-Id": "trace-1",
                                              "Cookie": "sid=secret-cookie", "X-Long": "L" * 1000, **many})
    [entry] = journal(client, "hdr")
    headers = entry["request"]["headers"]
    assert headers["authorization"] == "Bearer ••••" and headers["cookie"] == "••••"
    assert headers["x-trace-id"] == "trace-1" and headers["x-long"] == "L" * 256 + "…"
    assert "YOUR_API_KEY" not in str(entry) and "secret-cookie" not in str(entry)
    assert 50 < len(headers) < 100 and sum(len(k) + len(v) for k, v in headers.items()) <= 4096
