"""The client's contract report over the control plane (GET /_sandbox/report): coverage, each kind of
violation with its journal entry, state-rule refusals, the journal's bound, and which sessions it reads."""
from __future__ import annotations

import pytest

from sandbox import errors, spec
from sandbox.app import create_app
from sandbox.control import report
from tests.conftest import BASE, auth

TASK = "task_abcdef123456"
CONTRACT = spec.Contract(spec.load_public())
DECLARED = sum(len(statuses) for statuses in CONTRACT.statuses.values())


def sess(name: str) -> dict:
    return {"X-Sandbox-Session": name}


def get_report(client, header: str | None = None, **params) -> dict:
    """The report of the session named by X-Sandbox-Session `header`, or by the query's `session` or `prefix`."""
    answer = client.get("/_sandbox/report", headers=sess(header) if header else {}, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["payload"]


def counts(found: dict) -> dict[tuple[str, int], int]:
    """(operation, status) -> count, for every pair some answer had."""
    return {(o["operation"], s["status"]): s["count"] for o in found["coverage"]["operations"]
            for s in o["statuses"] if s["count"]}


def journal(client, session: str) -> list[dict]:
    return client.get("/_sandbox/journal", headers=sess(session)).json()["payload"]


def app_with(store, **options):
    """An app of its own (a journal bound, say), on the store the suite runs on."""
    return create_app(**options, **({} if store is None else {"store": store[0], "namespace": store[1]}))


def test_a_clean_client_breaks_nothing_and_its_coverage_is_counted(client):
    h = {**auth(), **sess("clean")}
    assert client.get(f"{BASE}/task/{TASK}", headers=h).status_code == 200
    assert client.get(f"{BASE}/task/{TASK}", headers=h).status_code == 200
    assert client.get(f"{BASE}/task/task_nope", headers=h).status_code == 404  # a missing task is no violation
    assert client.get(f"{BASE}/task", headers=h).status_code == 200
    assert client.post(f"{BASE}/task/{TASK}/complete", headers=h).status_code == 200

    found = get_report(client, "clean")
    assert found["sessions"] == ["clean"] and found["requests"] == 5
    assert found["journal"] == {"recorded": 5, "kept": 5, "dropped": 0}
    assert found["violations"]["count"] == 0 and found["violations"]["entries"] == []
    assert found["refusals"]["count"] == 0
    assert counts(found) == {("getTask", 200): 2, ("getTask", 404): 1, ("listTasks", 200): 1,
                             ("completeTask", 200): 1}
    coverage = found["coverage"]
    assert (coverage["declared"], coverage["exercised"], coverage["operations_exercised"]) == (DECLARED, 4, 3)
    assert coverage["percent"] == round(400 / DECLARED, 1)
    # every operation and every status the contract declares is listed, exercised or not
    listed = {(o["operation"], s["status"]) for o in coverage["operations"] for s in o["statuses"]}
    assert listed == {(op, s) for op, statuses in CONTRACT.statuses.items() for s in statuses}
    never = next(o for o in coverage["operations"] if o["operation"] == "moveUpload")
    assert never["requests"] == 0 and never["method"] == "POST" and "{folder_id}" in never["path"]


PAGE_TOKEN_OF_NOTHING = "not-a-token"
VIOLATIONS = [
    # name, method, path, key (None: no Authorization), extra request arguments, kind, code, status
    ("body", "POST", f"{BASE}/task/{TASK}/report", "YOUR_API_KEY", {"json": {}}, "invalid_request", "invalid_request", 400),
    ("query", "GET", f"{BASE}/task?limit=0", "YOUR_API_KEY", {}, "invalid_request", "invalid_request", 400),
    ("json", "POST", f"{BASE}/task/{TASK}/report", "YOUR_API_KEY",
     {"content": b"{", "headers": {"Content-Type": "application/json"}}, "invalid_request", "invalid_json", 400),
    ("token", "GET", f"{BASE}/task?token={PAGE_TOKEN_OF_NOTHING}", "YOUR_API_KEY", {}, "invalid_request",
     "invalid_pagination_token", 400),
    ("media type", "POST", f"{BASE}/task/{TASK}/report", "YOUR_API_KEY",
     {"content": b"issues", "headers": {"Content-Type": "text/plain"}}, "invalid_request", "unsupported_media_type", 415),
    ("size", "POST", f"{BASE}/task/{TASK}/report", "YOUR_API_KEY",
     {"content": b"x" * (1024 * 1024 + 1), "headers": {"Content-Type": "application/json"}}, "invalid_request",
     "payload_too_large", 413),
    ("scope", "POST", f"{BASE}/task/{TASK}/complete", "key_task_read_only", {}, "auth", "insufficient_scope", 403),
    ("project", "GET", f"{BASE}/task/{TASK}", "key_no_project", {}, "auth", "project_not_granted", 403),
    ("route", "GET", f"{BASE}/tasks", "YOUR_API_KEY", {}, "unknown_route", "route_not_found", 404),
    ("method", "PUT", f"{BASE}/task/{TASK}", "YOUR_API_KEY", {}, "wrong_method", "method_not_allowed", 405),
]


@pytest.mark.parametrize("name, method, path, key, extra, kind, code, status", VIOLATIONS,
                         ids=[v[0] for v in VIOLATIONS])
def test_each_kind_of_violation_is_named_with_its_journal_entry(client, name, method, path, key, extra, kind,
                                                                 code, status):
    h = {**sess("v"), **(auth(key) if key else {}), **extra.pop("headers", {})}
    assert client.get(f"{BASE}/task/{TASK}", headers={**auth(), **sess("v")}).status_code == 200
    answer = client.request(method, path, headers=h, **extra)
    assert (answer.status_code, answer.json()["code"]) == (status, code)

    found = get_report(client, "v")
    violations = found["violations"]
    assert violations["count"] == 1 and violations["by"][kind] == 1
    assert sum(violations["by"].values()) == 1
    [entry] = violations["entries"]
    assert (entry["kind"], entry["code"], entry["status"], entry["method"]) == (kind, code, status, method)
    assert entry["session"] == "v" and entry["error"] == answer.json()["error"]
    [shown] = [e for e in journal(client, "v") if e["seq"] == entry["seq"]]  # the journal entry that shows it
    assert (shown["path"], shown["status"]) == (entry["path"], status)
    assert entry["problems"] == shown["problems"]
    assert found["requests"] == 2 and found["refusals"]["count"] == 0
    assert report.failures(found) == [f"1 request broke the contract (1 {kind.replace('_', ' ')})"]


def test_a_body_violation_names_each_problem(client):
    h = {**auth(), **sess("p")}
    answer = client.post(f"{BASE}/task/{TASK}/report", json={"issues": [{"label": "x"}]}, headers=h)
    assert answer.status_code == 400
    [entry] = get_report(client, "p")["violations"]["entries"]
    assert "body.issues[0].value" in [p["location"] for p in entry["problems"]]
    assert entry["request"]["body"] == {"issues": [{"label": "x"}]}


def test_state_rule_refusals_are_counted_by_code_apart_from_violations(client):
    h = {**auth(), **sess("s")}
    assert client.post(f"{BASE}/task/{TASK}/complete", headers=h).status_code == 200
    refused = client.post(f"{BASE}/task/{TASK}/complete", headers=h)
    assert (refused.status_code, refused.json()["code"]) == (400, "task_not_reviewing")
    assert client.post(f"{BASE}/task/{TASK}/complete", headers=h).status_code == 400
    unlocked = client.post(f"{BASE}/task/task_email000body/unlock", headers=h)
    assert (unlocked.status_code, unlocked.json()["code"]) == (400, "task_not_unlockable")

    found = get_report(client, "s")
    assert found["violations"]["count"] == 0 and report.failures(found) == []
    refusals = found["refusals"]
    assert refusals["count"] == 3 and refusals["by"] == {"task_not_reviewing": 2, "task_not_unlockable": 1}
    assert [(e["kind"], e["code"], e["operation"]) for e in refusals["entries"]] == [
        ("state_rule", "task_not_reviewing", "completeTask"), ("state_rule", "task_not_reviewing", "completeTask"),
        ("state_rule", "task_not_unlockable", "unlockTask")]
    assert counts(found)[("completeTask", 400)] == 2


def test_a_capped_journal_still_counts_every_violation_and_says_what_it_dropped(store):
    with app_with(store, journal_size=3).test_client() as client:
        h = {**auth(), **sess("cap")}
        assert client.put(f"{BASE}/task/{TASK}", headers=h).status_code == 405
        for _ in range(4):  # a key without the project: the session's own, so in its journal
            assert client.get(f"{BASE}/task/{TASK}", headers={**h, **auth("key_no_project")}).status_code == 403
        for _ in range(10):
            assert client.get(f"{BASE}/task/{TASK}", headers=h).status_code == 200

        found = get_report(client, "cap")
        assert found["journal"] == {"recorded": 15, "kept": 3, "dropped": 12}
        assert len(journal(client, "cap")) == 3
        violations = found["violations"]
        assert violations["count"] == 5 and violations["by"]["auth"] == 4 and violations["by"]["wrong_method"] == 1
        # the entries share the journal's bound, apart from it: the newest three violations
        assert (violations["kept"], violations["not_kept"]) == (3, 2)
        assert [e["code"] for e in violations["entries"]] == ["project_not_granted"] * 3
        assert counts(found) == {("getTask", 403): 4, ("getTask", 200): 10}
        assert found["requests"] == 15


def test_injected_faults_count_as_exercised_and_are_no_violation(client):
    h = {**auth(), **sess("f")}
    assert client.post("/_sandbox/faults", json={"operation": "getTask", "status": 503, "times": 1},
                       headers=sess("f")).status_code == 201
    assert client.get(f"{BASE}/task/{TASK}", headers=h).status_code == 503
    assert client.get(f"{BASE}/task/{TASK}", headers={**h, "Prefer": "code=401"}).status_code == 401
    assert client.get(f"{BASE}/task/{TASK}", headers={**h, "Prefer": "code=299"}).status_code == 400  # the sandbox's own header

    found = get_report(client, "f")
    assert found["violations"]["count"] == 0 and found["refusals"]["count"] == 0
    rows = {s["status"]: s for o in found["coverage"]["operations"] if o["operation"] == "getTask" for s in o["statuses"]}
    assert rows[401] == {"status": 401, "declared": True, "count": 1}
    assert rows[503] == {"status": 503, "declared": False, "count": 1}  # met, but outside the declared pairs
    assert found["coverage"]["exercised"] == 2  # 401 and 400; 503 is not a declared pair


def test_the_dashboards_own_calls_are_not_the_clients(client):
    h = {**sess("d"), "X-Sandbox-Client": "dashboard"}
    assert client.get(f"{BASE}/task/{TASK}", headers={**h, **auth("key_no_project")}).status_code == 403
    assert client.get(f"{BASE}/task/{TASK}", headers={**h, **auth()}).status_code == 200
    found = get_report(client, "d")
    assert found["requests"] == 0 and found["violations"]["count"] == 0 and counts(found) == {}
    assert found["journal"]["recorded"] == 2  # journalled all the same


def test_a_report_reads_sessions_by_name_or_prefix_without_making_any(client, app):
    calls = [("ci-1", "YOUR_API_KEY", 200), ("ci-1", "key_other_team", 404), ("ci-2", "key_no_project", 403),
             ("other", "YOUR_API_KEY", 200)]
    for name, key, status in calls:
        assert client.get(f"{BASE}/task/{TASK}", headers={**sess(name), **(auth(key) if key else {})}
                          ).status_code == status
    one = get_report(client, session="ci-1")
    # on a laptop (no admin token) every key works in the one session a name names
    assert one["sessions"] == ["ci-1"] and one["requests"] == 2
    both = get_report(client, prefix="ci-")
    assert both["sessions"] == ["ci-1", "ci-2"] and both["requests"] == 3
    assert [e["session"] for e in both["violations"]["entries"]] == ["ci-2"]
    assert get_report(client, "other")["sessions"] == ["other"]  # no query: the caller's session

    before = client.get("/_sandbox/sessions").json()["payload"]
    for params in ({"session": "ci"}, {"prefix": "nothing-"}):
        answer = client.get("/_sandbox/report", params=params)
        assert (answer.status_code, answer.json()["code"]) == (404, "session_not_found")
    assert client.get("/_sandbox/sessions").json()["payload"] == before


@pytest.mark.parametrize("params, location", [
    ({"session": "a", "prefix": "b"}, "query"),
    ({"prefix": ""}, "query.prefix"),
    ({"session": "x" * 65}, "query.session"),
])
def test_bad_report_queries_are_refused_in_the_envelope(client, params, location):
    answer = client.get("/_sandbox/report", params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid_request" and location in [d["location"] for d in body["details"]]


def test_a_prefix_report_is_the_merge_of_its_sessions_reports(client):
    for name, key in (("m-1", "YOUR_API_KEY"), ("m-2", "key_no_project"), ("m-3", "key_task_read_only")):
        h = {**sess(name), **auth(key)}
        client.get(f"{BASE}/task/{TASK}", headers=h)
        client.post(f"{BASE}/task/{TASK}/complete", headers=h)
        client.post(f"{BASE}/task/{TASK}/complete", headers=h)
    parts = [get_report(client, session=name) for name in ("m-1", "m-2", "m-3")]
    assert report.merge(parts) == get_report(client, prefix="m-")


@pytest.mark.parametrize("empty", ["reset", "clear"])
def test_reset_and_emptying_the_journal_start_the_report_afresh(client, empty):
    h = {**sess("e")}
    assert client.get(f"{BASE}/task/{TASK}", headers={**h, **auth("key_no_project")}).status_code == 403
    assert get_report(client, "e")["violations"]["count"] == 1
    if empty == "reset":
        assert client.post("/_sandbox/reset", headers=sess("e"), json={}).status_code == 200
    else:
        assert client.delete("/_sandbox/journal", headers={**sess("e"), "X-Sandbox-Client": "tests"}).status_code == 204
    found = get_report(client, "e")
    assert (found["requests"], found["violations"]["count"], found["journal"]["recorded"]) == (0, 0, 0)
    assert client.get(f"{BASE}/task/{TASK}", headers={**h, **auth()}).status_code == 200
    assert counts(get_report(client, "e")) == {("getTask", 200): 1}


def test_every_error_code_has_one_blame_the_report_knows():
    kinds = set(report.VIOLATIONS) | {report.STATE_RULE, None}
    assert set(errors.BLAME_BY_CODE.values()) <= kinds
    declared = [cls.code for cls in errors._kinds(errors.SandboxError) if "code" in vars(cls)]
    assert len(declared) == len(set(declared)), "two error classes declare one code"
    # every lifecycle rule's refusal is a refusal, never a violation; a move naming another
    # upload in its body is a named rule too, but a wrong request, not a lost state
    for cls in errors._kinds(errors.StateRuleRefused):
        if "code" in vars(cls):
            expected = "invalid_request" if cls is errors.UploadIdMismatch else report.STATE_RULE
            assert report.blame(cls.code) == expected, cls


def test_one_refusal_met_on_two_operations_adds_up(client):
    h = {**auth(), **sess("twice")}
    assert client.post(f"{BASE}/task/{TASK}/complete", headers=h).status_code == 200
    for action in ("complete", "discard", "complete"):
        answer = client.post(f"{BASE}/task/{TASK}/{action}", headers=h)
        assert (answer.status_code, answer.json()["code"]) == (400, "task_not_reviewing")
    refusals = get_report(client, "twice")["refusals"]
    assert (refusals["count"], refusals["by"], refusals["kept"], refusals["not_kept"]) == (
        3, {"task_not_reviewing": 3}, 3, 0)


def test_refusals_never_push_the_violations_out(store):
    with app_with(store, journal_size=2).test_client() as client:
        h = {**auth(), **sess("crowd")}
        assert client.get(f"{BASE}/task/{TASK}", headers={**h, **auth("key_no_project")}).status_code == 403
        for _ in range(5):  # a client stuck on a task it thinks is still in review
            assert client.post(f"{BASE}/task/task_email000att2/complete", headers=h).status_code == 400
        found = get_report(client, "crowd")
        assert [e["code"] for e in found["violations"]["entries"]] == ["project_not_granted"]
        assert (found["refusals"]["count"], found["refusals"]["kept"], found["refusals"]["not_kept"]) == (5, 2, 3)


def test_limit_shows_the_newest_entries_and_keeps_the_counts(client):
    assert client.get(f"{BASE}/task/{TASK}", headers={**sess("lim"), **auth()}).status_code == 200
    for key in ("key_no_project",) * 3:
        client.get(f"{BASE}/task/{TASK}", headers={**sess("lim"), **auth(key)})
    newest = get_report(client, "lim", limit=1)["violations"]
    assert (newest["count"], newest["kept"], [e["code"] for e in newest["entries"]]) == (
        3, 3, ["project_not_granted"])
    assert get_report(client, "lim", limit=0)["violations"]["entries"] == []
    assert len(get_report(client, "lim")["violations"]["entries"]) == 3


def test_a_violation_with_a_long_answer_is_counted(client):
    """1,500 unknown parameters fit in a URL; the answer lists the first 50, and the violation
    is counted from the error itself, not from a journalled body that may be cut short."""
    query = "&".join(f"p{i}=1" for i in range(1500))
    answer = client.get(f"{BASE}/task?{query}", headers={**auth(), **sess("long")})
    assert answer.status_code == 400 and len(answer.json()["details"]) == 51
    violations = get_report(client, "long")["violations"]
    assert violations["by"]["invalid_request"] == 1 and violations["entries"][0]["operation"] == "listTasks"


def test_a_control_character_in_an_id_is_an_unknown_route_of_no_operation(client):
    answer = client.get(f"{BASE}/task/task_%1b[31mRED%01", headers={**auth(), **sess("ctl")})
    assert (answer.status_code, answer.json()["code"]) == (404, "route_not_found")
    found = get_report(client, "ctl")
    [entry] = found["violations"]["entries"]
    assert (entry["kind"], entry["operation"]) == ("unknown_route", None)
    assert counts(found) == {}  # no getTask 404 was exercised


def test_an_options_call_that_is_no_preflight_is_a_wrong_method(client):
    # Without an Origin no browser sent it: it is the client's, not a CORS preflight.
    answer = client.options(f"{BASE}/task/{TASK}", headers={**auth(), **sess("opt"),
                                                             "Access-Control-Request-Method": "GET"})
    assert answer.status_code == 405
    assert client.options(f"{BASE}/task/{TASK}", headers={**sess("opt"), "Origin": "http://localhost:3000",
                                                          "Access-Control-Request-Method": "GET"}).status_code == 200
    found = get_report(client, "opt")
    assert found["violations"]["by"]["wrong_method"] == 1 and found["requests"] == 1


def test_a_move_naming_another_upload_is_a_wrong_request_not_a_lost_state(client):
    answer = client.post(f"{BASE}/upload/upl_123456789/move/folder_123457", json={"upload_id": "upl_email0001"},
                         headers={**auth(), **sess("mv")})
    assert (answer.status_code, answer.json()["code"]) == (400, "upload_id_mismatch")
    found = get_report(client, "mv")
    assert found["violations"]["by"]["invalid_request"] == 1 and found["refusals"]["count"] == 0


@pytest.mark.parametrize("headers", [{}, auth("nope"), {"Authorization": "Basic YWxhZGRpbjpvcGVu"},
                                     {"Authorization": "Bearer\tYOUR_API_KEY"}])
def test_a_request_without_a_valid_key_reaches_no_session_and_is_counted_for_the_server(client, headers):
    answer = client.get(f"{BASE}/task/{TASK}", headers={**sess("anon"), **headers})
    assert answer.status_code == 401
    assert "anon" not in client.get("/_sandbox/sessions").json()["payload"]  # made no session
    found = get_report(client)  # the developer's report of the default session
    assert found["requests"] == 0 and found["violations"]["count"] == 0
    assert found["unauthenticated"] == {"requests": 1, "answers": [
        {"operation": "getTask", "status": 401, "code": answer.json()["code"], "count": 1}]}


def _proxied(kinds: list[str], client_code: str | None, status: int = 200) -> dict:
    """One journal's tally and kept entry, as a proxy writes them for an exchange (sandbox/proxy/journal.py)."""
    marks = [report.mark("getTask", status, client_code)] + [report.mark("getTask", status, report.UPSTREAM + k)
                                                             for k in kinds]
    entry = {"seq": 1, "time": "2026-12-03T10:00:00.000Z", "operation": "getTask", "method": "GET",
             "path": f"{BASE}/task/t", "task_id": "t", "status": status, "code": client_code,
             "request": {"headers": {}, "body": None}, "response": {"body": None},
             "problems": [{"location": "query.x", "message": "is not a parameter"}] if client_code else [],
             "verdicts": {"client": {"code": client_code} if client_code else None,
                          "upstream": [{"kind": k, "location": "body", "message": "off"} for k in kinds]}}
    return {"kept": 1, "tally": {"#": 1, **{m: 1 for m in marks}}, "violations": [entry], "refusals": []}


@pytest.mark.parametrize("kinds, client_code, requests, by_side, shown", [
    pytest.param(["response_body"], None, 1, {"client": 0, "upstream": 1}, [("upstream", "response_body")],
                 id="the-upstream-broke-it"),
    pytest.param([], "invalid_request", 1, {"client": 1, "upstream": 0}, [("client", "invalid_request")],
                 id="the-client-broke-it"),
    pytest.param(["undeclared_status", "missing_header"], "invalid_request", 1, {"client": 1, "upstream": 2},
                 [("client", "invalid_request"), ("upstream", "undeclared_status")], id="both-broke-it"),
    pytest.param(["response_body"], "task_not_reviewing", 1, {"client": 0, "upstream": 1},
                 [("upstream", "response_body")], id="a-refusal-the-upstream-answered-off-its-schema"),
])
def test_a_proxys_exchange_counts_once_as_a_request_and_once_for_each_side_that_broke_it(
        kinds, client_code, requests, by_side, shown):
    contract = spec.Contract(spec.load_public())
    found = report.build(contract, {"s": _proxied(kinds, client_code)})
    assert found["requests"] == requests
    assert found["violations"]["by_side"] == by_side
    assert [(e["side"], e["kind"]) for e in found["violations"]["entries"]] == shown
    assert sum(o["requests"] for o in found["coverage"]["operations"]) == requests
    merged = report.merge([found, found])
    assert merged["violations"]["by_side"] == {k: 2 * n for k, n in by_side.items()}


@pytest.mark.parametrize("by_side, upstream, failing", [
    ({"client": 0, "upstream": 2}, False, []),
    ({"client": 0, "upstream": 2}, True, ["2 upstream answers broke the contract (2 response body)"]),
    ({"client": 1, "upstream": 2}, False, ["1 request broke the contract (1 invalid request)"]),
])
def test_only_the_clients_violations_fail_unless_the_upstreams_are_asked_for(by_side, upstream, failing):
    by = {kind: 0 for kind in report.VIOLATIONS}
    by["invalid_request"], by["response_body"] = by_side["client"], by_side["upstream"]
    found = {"violations": {"count": sum(by.values()), "by": by, "by_side": by_side}, "coverage": {"percent": 100}}
    assert report.failures(found, upstream=upstream) == failing
    assert report.client_violations(found) == by_side["client"]


def test_a_refusal_whose_answer_the_upstream_also_broke_is_shown_with_the_refusals_too():
    found = report.build(spec.Contract(spec.load_public()), {"s": _proxied(["response_body"], "task_not_reviewing")})
    refusals = found["refusals"]
    assert (refusals["count"], refusals["kept"], refusals["not_kept"]) == (1, 1, 0)
    assert refusals["entries"][0]["code"] == "task_not_reviewing" and refusals["entries"][0]["side"] == "client"
