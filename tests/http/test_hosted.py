"""Many teams on one hosted sandbox (started with an admin token), tried as a hostile client would:
no session without credentials, sessions per (team, name), a control plane for each team."""
from __future__ import annotations

import unicodedata

import pytest

from sandbox.app import create_app
from tests.conftest import BASE

TOKEN = "T0ken"
ADMIN = {"X-Sandbox-Admin-Token": TOKEN}
A_KEY, B_KEY = "YOUR_API_KEY", "key_other_team"
A_TASK, B_TASK = f"{BASE}/task/task_abcdef123456", "/v2/team_654321/project/proj_654321/task/task_globex000001"


def key(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def sess(name: str) -> dict:
    return {"X-Sandbox-Session": name}


@pytest.fixture
def hosted(clock, store):
    """A hosted sandbox on the suite's store, with a small cap on each team's sessions."""
    options = dict(clock=clock, admin_token=TOKEN, max_sessions=5, allowed_hosts=["testserver"],
                   inbox_bytes=256 * 1024)
    if store is not None:
        options.update(store=store[0], namespace=store[1])
    with create_app(**options).test_client() as client:
        yield client


def team_a_state(client) -> dict:
    """What team A's session `ci-42` holds: its task, journal, faults and clock, read with A's key."""
    h = {**key(A_KEY), **sess("ci-42")}
    return {"task": client.get(A_TASK, headers={**h, "X-Sandbox-Client": "dashboard"}).json()["payload"]["status"],
            "journal": [(e["seq"], e["status"]) for e in client.get("/_sandbox/journal", headers=h).json()["payload"]
                        if e["request"]["headers"].get("x-sandbox-client") != "dashboard"],  # not this read's own
            "faults": client.get("/_sandbox/faults", headers=h).json()["payload"],
            "clock": client.get("/_sandbox/clock", headers=h).json()["payload"],
            "sessions": client.get("/_sandbox/sessions", headers=key(A_KEY)).json()["payload"]}


@pytest.fixture
def team_a(hosted):
    """Team A works in its session ci-42: a discarded task, a one-shot fault rule, a moved clock."""
    h = {**key(A_KEY), **sess("ci-42")}
    assert hosted.post(f"{A_TASK}/discard", headers=h).status_code == 200
    assert hosted.post("/_sandbox/faults", headers=h, json={
        "operation": "unlockTask", "status": 503, "times": 1}).status_code == 201
    assert hosted.post("/_sandbox/clock", headers=h, json={"advance_seconds": 60, "freeze": True}).status_code == 200
    return team_a_state(hosted)


def sessions_of_everyone(client) -> list[str]:
    return client.get("/_sandbox/sessions", headers=ADMIN).json()["payload"]


# Each probe: what a client without credentials, or with another team's, sends; the answer it gets.
PROBES = [
    # name, method, path, headers, status, code
    ("keyless control call, new name", "GET", "/_sandbox/clock", sess("x1"), 403, "control_plane_forbidden"),
    ("keyless control call, A's name", "POST", "/_sandbox/reset", sess("ci-42"), 403, "control_plane_forbidden"),
    ("wrong admin token", "DELETE", "/_sandbox/session", {**sess("ci-42@team_123456"), "X-Sandbox-Admin-Token": "t0ken"},
     403, "control_plane_forbidden"),
    ("unknown key on the control plane", "GET", "/_sandbox/journal", {**key("nope"), **sess("ci-42")}, 403,
     "control_plane_forbidden"),
    ("keyless unknown route", "GET", "/v2/x", sess("x2"), 404, "route_not_found"),
    ("keyless OPTIONS", "OPTIONS", A_TASK, sess("x3"), 405, "method_not_allowed"),
    ("keyless action in A's session", "POST", f"{A_TASK}/unlock", sess("ci-42"), 401, "missing_api_key"),
    ("unknown key in A's session", "POST", f"{A_TASK}/unlock", {**key("nope"), **sess("ci-42")}, 401,
     "invalid_api_key"),
    ("another scheme", "GET", A_TASK, {"Authorization": f"Basic {A_KEY}", **sess("ci-42")}, 401, "missing_api_key"),
    ("B's key on A's task in the same name", "POST", f"{A_TASK}/unlock", {**key(B_KEY), **sess("ci-42")}, 404,
     "team_not_found"),
    ("B resets its own ci-42", "POST", "/_sandbox/reset", {**key(B_KEY), **sess("ci-42")}, 200, None),
    ("B deletes its own ci-42", "DELETE", "/_sandbox/session", {**key(B_KEY), **sess("ci-42")}, 204, None),
    ("B names A's session as the admin does", "GET", "/_sandbox/journal", {**key(B_KEY), **sess("ci-42@team_123456")},
     400, "invalid_session"),
    ("B moves its own clock", "POST", "/_sandbox/clock", {**key(B_KEY), **sess("ci-42")}, 200, None),
    ("B clears its own faults", "DELETE", "/_sandbox/faults", {**key(B_KEY), **sess("ci-42")}, 204, None),
    ("B forces its own copy of A's task", "PUT", "/_sandbox/tasks/task_abcdef123456/status",
     {**key(B_KEY), **sess("ci-42")}, 200, None),
    ("B loads a key", "POST", "/_sandbox/fixtures", {**key(B_KEY), **sess("ci-42")}, 400, "invalid_fixture"),
    ("admin without a team", "POST", "/_sandbox/reset", {**ADMIN, **sess("ci-42")}, 400, "invalid_session"),
    ("admin with an unknown team", "POST", "/_sandbox/reset", {**ADMIN, **sess("ci-42@team_999999")}, 400,
     "invalid_session"),
]
BODIES = {"keyless control call, A's name": {}, "B moves its own clock": {"advance_seconds": 7200}, "B forces its own copy of A's task": {"status": "COMPLETED"},
          "B loads a key": {"keys": [{"key": "key_b2", "team_id": "team_654321", "scopes": ["task.read"]}]}}


@pytest.mark.parametrize("name, method, path, headers, status, code", PROBES, ids=[p[0] for p in PROBES])
def test_a_probe_gets_its_answer_and_changes_no_other_teams_session(hosted, team_a, name, method, path, headers,
                                                                     status, code):
    before = sessions_of_everyone(hosted)
    answer = hosted.request(method, path, headers=headers, json=BODIES.get(name))
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["code"] == code
    assert team_a_state(hosted) == team_a  # nothing of team A's moved: not its fault rule, journal, clock or task
    made = set(sessions_of_everyone(hosted)) - set(before)
    assert made <= {"ci-42@team_654321"}, "only B's own session of the name may be made"
    if status in (401, 403) or name.startswith(("keyless", "admin")):
        assert not made


def test_a_keyless_request_spends_no_fault_rule_and_is_counted_for_the_server_not_the_team(hosted, team_a):
    h = {**key(A_KEY), **sess("ci-42")}
    assert hosted.post(f"{A_TASK}/unlock", headers=sess("ci-42")).status_code == 401
    assert hosted.post(f"{A_TASK}/unlock", headers=h).status_code == 503  # A's one-shot rule is still there
    mine = hosted.get("/_sandbox/report", headers=h).json()["payload"]
    assert mine["violations"]["count"] == 0 and "unauthenticated" not in mine
    server = hosted.get("/_sandbox/report", headers=ADMIN).json()["payload"]
    assert {"operation": "unlockTask", "status": 401, "code": "missing_api_key", "count": 1} in \
        server["unauthenticated"]["answers"]


def test_keyless_requests_naming_new_sessions_evict_nothing(hosted, team_a):
    for i in range(20):  # four times the cap, each a new name
        assert hosted.get("/_sandbox/clock", headers=sess(f"flood-{i}")).status_code == 403
        assert hosted.get(f"/v2/flood-{i}", headers=sess(f"flood-{i}")).status_code == 404
        assert hosted.get(A_TASK, headers=sess(f"flood-{i}")).status_code == 401
    assert team_a_state(hosted) == team_a
    assert sessions_of_everyone(hosted) == ["ci-42@team_123456"]


def test_one_teams_churn_never_evicts_another_teams_sessions(hosted, team_a):
    for i in range(12):  # more than the cap of 5, in B's own names
        assert hosted.get(B_TASK, headers={**key(B_KEY), **sess(f"run-{i}")}).status_code == 200
    assert team_a_state(hosted) == team_a
    everyone = sessions_of_everyone(hosted)
    assert [s for s in everyone if s.endswith("@team_654321")] == [f"run-{i}@team_654321" for i in range(7, 12)]


def test_one_name_is_two_sessions_for_two_teams_whichever_came_first(hosted, team_a):
    b = {**key(B_KEY), **sess("ci-42")}
    assert team_a["task"] == "DISCARDED"
    assert hosted.post(f"{B_TASK}/discard", headers=b).status_code == 200
    # B's copy of the world is its own: A's task there is untouched by A's discard
    assert hosted.put("/_sandbox/tasks/task_abcdef123456/status", headers=b, json={"status": "REVIEWING"}
                       ).status_code == 200
    assert hosted.get("/_sandbox/report", headers=b, params={"session": "ci-42"}).json()["payload"]["sessions"] == ["ci-42"]
    assert [e["path"] for e in hosted.get("/_sandbox/journal", headers=b).json()["payload"]] == [f"{B_TASK}/discard"]
    assert hosted.get("/_sandbox/sessions", headers=key(B_KEY)).json()["payload"] == ["ci-42"]
    assert sessions_of_everyone(hosted) == ["ci-42@team_123456", "ci-42@team_654321"]
    assert team_a_state(hosted) == team_a
    both = hosted.get("/_sandbox/report", headers=ADMIN, params={"session": "ci-42"}).json()["payload"]
    assert both["sessions"] == ["ci-42@team_123456", "ci-42@team_654321"]


def test_without_a_session_header_each_team_works_in_its_own_default_session(hosted):
    assert hosted.post(f"{A_TASK}/discard", headers=key(A_KEY)).status_code == 200
    assert hosted.get(B_TASK, headers=key(B_KEY)).json()["payload"]["status"] == "REVIEWING"
    assert hosted.get("/_sandbox/session", headers=key(B_KEY)).json()["payload"]["name"] == "default"
    assert hosted.get("/_sandbox/journal", headers=key(B_KEY)).json()["count"] == 1
    assert hosted.get("/_sandbox/journal", headers=key(A_KEY)).json()["count"] == 1
    assert hosted.get("/_sandbox/session", headers={**ADMIN, **sess("default@team_123456")}
                      ).json()["payload"]["name"] == "default@team_123456"


def test_the_admin_acts_on_a_teams_session_by_naming_its_team(hosted, team_a):
    h = {**ADMIN, **sess("ci-42@team_123456")}
    assert hosted.get("/_sandbox/faults", headers=h).json()["payload"] == team_a["faults"]
    assert hosted.post("/_sandbox/reset", headers=h).status_code == 200
    assert hosted.get(A_TASK, headers={**key(A_KEY), **sess("ci-42")}).json()["payload"]["status"] == "REVIEWING"


# Between "Bearer" and a key: RFC 6750 allows spaces only. Every other Unicode whitespace or control
# character, as UTF-8 and (where it fits) as the single byte a latin-1 client would send, is refused.
ODD = sorted({chr(c) for c in range(0x110000)
              if (chr(c).isspace() or unicodedata.category(chr(c)) in ("Cc", "Zs", "Zl", "Zp")) and chr(c) != " "})
SEPARATORS = [(f"U+{ord(c):04X}/{encoding}", c.encode(encoding)) for c in ODD
              for encoding in ("utf-8", "latin-1") if encoding == "utf-8" or ord(c) < 0x100]


@pytest.mark.parametrize("separator", [s for _, s in SEPARATORS], ids=[i for i, _ in SEPARATORS])
def test_only_spaces_part_bearer_from_the_key(hosted, team_a, separator):
    header = b"Bearer" + separator + B_KEY.encode()
    for path in (B_TASK, A_TASK):
        answer = hosted.get(path, headers=[(b"authorization", header), (b"x-sandbox-session", b"ci-42")])
        assert answer.status_code == 401 and answer.json()["code"] in ("invalid_api_key", "missing_api_key")
    control = hosted.get("/_sandbox/journal", headers=[(b"authorization", header), (b"x-sandbox-session", b"ci-42")])
    assert control.status_code == 403
    assert team_a_state(hosted) == team_a
    assert sessions_of_everyone(hosted) == ["ci-42@team_123456"]


def test_a_team_sees_only_its_own_keys_teams_and_projects(hosted):
    world = hosted.get("/_sandbox/world", headers=key(B_KEY)).json()["payload"]
    assert {k["key"] for k in world["keys"]} == {B_KEY}
    assert {t["id"] for t in world["teams"]} == {"team_654321"}
    assert {p["team_id"] for p in world["projects"]} == {"team_654321"}
    everything = hosted.get("/_sandbox/world", headers={**ADMIN, **sess("default@team_654321")}).json()["payload"]
    assert A_KEY in {k["key"] for k in everything["keys"]}  # the admin sees every team's


# Probes of the bounds, each sent with a valid key of team B (or none), on top of team A's work.
B_H = {**key(B_KEY), **sess("ci-42")}
META = [{"name": f"n{i}", "value": "v"} for i in range(51)]
RESOURCE_PROBES = [
    # name, method, path, headers, request arguments, status, code
    ("a clock past its latest instant", "POST", "/_sandbox/clock", B_H, {"json": {"now": "9999-12-31T23:59:59Z"}},
     400, "invalid_request"),
    ("advance by a 5,000-digit number", "POST", "/_sandbox/clock", {**B_H, "Content-Type": "application/json"},
     {"content": b'{"advance_seconds": ' + b"9" * 5000 + b"}"}, 400, "invalid_request"),
    ("a report holding a 5,000-digit number", "POST", f"{B_TASK}/report", {**B_H, "Content-Type": "application/json"},
     {"content": b'{"issues": [{"label": "x", "value": ' + b"9" * 5000 + b"}]}"}, 400, "invalid_request"),
    ("upload meta with too many entries", "POST", "/v2/team_654321/project/proj_654321/upload", B_H,
     {"files": [("file", ("a.pdf", b"%PDF", "application/pdf"))], "data": {"meta": __import__("json").dumps(META)}},
     400, "invalid_meta"),
    ("a body over 1 MiB", "POST", f"{B_TASK}/report", {**B_H, "Content-Type": "application/json"},
     {"content": b"x" * (1024 * 1024 + 1)}, 413, "payload_too_large"),
    ("an inbox post over 64 KiB, no credentials", "POST", "/_sandbox/inbox/flood", {}, {"json": {"p": "x" * 70_000}},
     413, "payload_too_large"),
    ("another Host (DNS rebinding)", "GET", "/_sandbox/journal", {**B_H, "Host": "evil.example"}, {}, 400,
     "host_not_allowed"),
    ("a cross-site form post to reset", "POST", "/_sandbox/reset", sess("ci-42"),
     {"data": {"scenario": "empty"}}, 403, "control_call_unmarked"),
    ("a control preflight from another origin", "OPTIONS", "/_sandbox/reset",
     {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, {}, 400, "cors_preflight_refused"),
]


@pytest.mark.parametrize("name, method, path, headers, arguments, status, code", RESOURCE_PROBES,
                         ids=[p[0] for p in RESOURCE_PROBES])
def test_a_bound_answers_its_4xx_and_leaves_every_session_working(hosted, team_a, name, method, path, headers,
                                                                 arguments, status, code):
    answer = hosted.request(method, path, headers=headers, **arguments)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert team_a_state(hosted) == team_a
    for h in ({**key(A_KEY), **sess("ci-42")}, B_H):  # no state left behind makes a later request fail
        assert hosted.get("/_sandbox/session", headers=h).status_code == 200
        assert hosted.post("/_sandbox/reset", headers=h, json={}).status_code == 200


def test_a_flood_of_inbox_posts_keeps_the_inboxes_under_their_bound(hosted, team_a):
    for n in range(40):  # 40 x 60 KiB over 40 names: about ten times the bound of 256 KiB
        assert hosted.post(f"/_sandbox/inbox/flood-{n}", json={"pad": "x" * 60_000}).status_code == 204
    kept = [hosted.get(f"/_sandbox/inbox/flood-{n}", headers=ADMIN).json()["count"] for n in range(40)]
    assert 0 < sum(kept) <= 4 and kept[-1] == 1 and kept[0] == 0  # the newest kept, the oldest dropped
    assert team_a_state(hosted) == team_a


@pytest.mark.parametrize("name, status", [("ci", 403), ("team_123456-ci", 403), ("team_654321", 200),
                                          ("team_654321-ci", 200), ("team_654321.x", 200)])
def test_a_team_reads_and_clears_only_inboxes_named_after_it(hosted, name, status):
    assert hosted.post(f"/_sandbox/inbox/{name}", json={"secret": "of someone"}).status_code == 204
    read = hosted.get(f"/_sandbox/inbox/{name}", headers=key(B_KEY))
    assert read.status_code == status
    if status == 403:
        assert read.json()["code"] == "control_plane_forbidden" and "secret" not in read.text
    assert hosted.delete(f"/_sandbox/inbox/{name}", headers=key(B_KEY)).status_code == (204 if status == 200 else 403)
    assert hosted.get(f"/_sandbox/inbox/{name}", headers=ADMIN).json()["count"] == (0 if status == 200 else 1)


def test_a_teams_subscriptions_events_and_deliveries_are_its_own(hosted, team_a):
    sub = hosted.post("/_sandbox/subscriptions", headers=B_H, json={
        "project_id": "proj_654321", "url": "http://127.0.0.1:9/hooks"})
    assert sub.status_code == 201, sub.text
    fired = hosted.post("/_sandbox/events", headers=B_H, json={"upload_id": "upl_globex0001", "type": "upload.in_review"})
    assert fired.status_code == 201, fired.text
    a = {**key(A_KEY), **sess("ci-42")}
    for path in ("/_sandbox/subscriptions", "/_sandbox/events", "/_sandbox/deliveries"):
        theirs = {e["id"] for e in hosted.get(path, headers=B_H).json()["payload"]}
        mine = {e["id"] for e in hosted.get(path, headers=a).json()["payload"]}
        assert theirs and not theirs & mine, path  # A's session has events of its own, never B's
    sub_id = sub.json()["payload"]["id"]
    assert hosted.get(f"/_sandbox/subscriptions/{sub_id}", headers=a).status_code == 404
    assert hosted.delete(f"/_sandbox/subscriptions/{sub_id}", headers=a).status_code == 404
    assert hosted.get(f"/_sandbox/subscriptions/{sub_id}", headers=B_H).status_code == 200
    assert team_a_state(hosted) == team_a


def test_a_sessions_own_records_are_bounded_and_a_refused_unit_leaves_nothing(store):
    options = dict(admin_token=TOKEN, session_records=12)
    if store is not None:
        options.update(store=store[0], namespace=store[1])
    with create_app(**options).test_client() as client:
        upload = "/v2/team_654321/project/proj_654321/upload"
        files = [("file", (f"{i}.pdf", b"%PDF", "application/pdf")) for i in range(5)]
        assert client.post(upload, headers=B_H, files=files).status_code == 201  # an upload and 5 tasks: 6
        refused = client.post(upload, headers=B_H, files=files + files[:2])  # 8 more would make 14
        assert (refused.status_code, refused.json()["code"]) == (400, "session_full")
        listed = client.get("/v2/team_654321/project/proj_654321/task", headers=B_H, params={"limit": 100})
        assert listed.json()["count"] == 6  # the seeded task and the 5 uploaded: nothing of the refused one
        assert client.post("/_sandbox/reset", headers=B_H, json={}).status_code == 200
        assert client.post(upload, headers=B_H, files=files + files[:2]).status_code == 201  # room again


def test_fault_rules_and_a_tasks_reports_are_bounded(hosted):
    for _ in range(100):
        assert hosted.post("/_sandbox/faults", headers=B_H, json={"operation": "getTask", "latency_ms": 1}
                           ).status_code == 201
    refused = hosted.post("/_sandbox/faults", headers=B_H, json={"operation": "getTask", "latency_ms": 1})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_fault")
    for _ in range(50):
        assert hosted.post(f"{B_TASK}/report", headers=B_H, json={"issues": [{"label": "a", "value": "b"}]}
                           ).status_code == 201
    full = hosted.post(f"{B_TASK}/report", headers=B_H, json={"issues": [{"label": "a", "value": "b"}]})
    assert (full.status_code, full.json()["code"]) == (400, "session_full")


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"a": 1e400}', b'{"b": 123456789012345678901234567890}'],
                         ids=["deep", "infinite", "huge-int"])
def test_a_refused_body_in_the_journal_never_breaks_a_read(hosted, body):
    answer = hosted.post(f"{B_TASK}/report", headers={**B_H, "Content-Type": "application/json"}, content=body)
    assert answer.status_code == 400
    journal = hosted.get("/_sandbox/journal", headers=B_H)
    assert journal.status_code == 200 and journal.json()["payload"][-1]["request"]["body"].startswith(body.decode()[:100])
    assert hosted.get("/_sandbox/report", headers=B_H).status_code == 200
    assert hosted.get("/_sandbox/report", headers=ADMIN).status_code == 200
    assert hosted.get("/_sandbox/report", headers=ADMIN, params={"prefix": "ci"}).status_code == 200


@pytest.mark.parametrize("project, upload, delivered", [("proj_654321", "upl_globex0001", 1),
                                                        ("proj_123456", "upl_123456789", 0)], ids=["own", "other-team"])
def test_a_teams_session_sends_only_its_own_projects_events(hosted, project, upload, delivered):
    assert hosted.post("/_sandbox/subscriptions", headers=B_H, json={
        "project_id": project, "url": "http://127.0.0.1:9/hooks"}).status_code == 201
    fired = hosted.post("/_sandbox/events", headers=B_H, json={"upload_id": upload, "type": "upload.in_review"})
    assert fired.status_code == 201, fired.text
    assert hosted.get("/_sandbox/deliveries", headers=B_H).json()["count"] == delivered


def test_a_team_lists_only_its_own_projects_subscriptions(hosted):
    for project in ("proj_123456", "proj_654321"):  # both in B's own copy of the world
        assert hosted.post("/_sandbox/subscriptions", headers=B_H, json={
            "project_id": project, "url": f"http://127.0.0.1:9/{project}"}).status_code == 201
    listed = hosted.get("/_sandbox/subscriptions", headers=B_H).json()["payload"]
    assert [s["project_id"] for s in listed] == ["proj_654321"]
    everything = hosted.get("/_sandbox/subscriptions", headers={**ADMIN, **sess("ci-42@team_654321")}).json()
    assert len(everything["payload"]) == 2  # the admin sees the session whole
