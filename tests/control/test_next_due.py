"""GET /_sandbox/clock names when the session started and the next transition due: what, on
which task or upload, when and in how long, skipping transitions gone stale."""
from __future__ import annotations

from sandbox.domain.clock import format_timestamp, parse_timestamp
from tests.conftest import BASE, auth


def frozen(client, name: str) -> dict:
    """A new named session (its clock follows real time), its clock frozen where it stands."""
    headers = {"X-Sandbox-Session": name}
    answer = client.post("/_sandbox/clock", headers=headers, json={"freeze": True})
    assert answer.status_code == 200, answer.text
    return headers


def later(stamp: str, seconds: float) -> str:
    return format_timestamp(parse_timestamp(stamp) + seconds)


def clock(client, headers: dict) -> dict:
    answer = client.get("/_sandbox/clock", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["payload"]


def test_the_clock_names_the_next_transition_and_when_the_session_started(client):
    headers = frozen(client, "next")
    shown = clock(client, headers)
    # the fixtures' PROCESSING task is read 30 s after the session started (its project's delay)
    assert shown["started_at"] <= shown["now"] and shown["frozen"] is True
    assert shown["next_due"] == {"at": later(shown["started_at"], 30), "kind": "read", "target": "task_email000att1",
                                 "in_seconds": shown["next_due"]["in_seconds"]}
    assert 29 < shown["next_due"]["in_seconds"] <= 30
    assert client.get("/_sandbox/session", headers=headers).json()["payload"]["clock"] == shown


def test_a_completed_task_is_next_and_in_how_long(client):
    headers = frozen(client, "after-complete")
    client.post("/_sandbox/clock", headers=headers, json={"advance_seconds": 3600})  # the fixtures' own settle
    assert clock(client, headers)["next_due"] is None
    done = client.post(f"{BASE}/task/task_abcdef123456/complete", headers={**auth(), **headers})
    assert done.status_code == 200, done.text
    now = clock(client, headers)["now"]
    assert clock(client, headers)["next_due"] == {
        "at": later(now, 30), "in_seconds": 30.0, "kind": "advance", "target": "task_abcdef123456"}
    moved = client.post("/_sandbox/clock", headers=headers, json={"advance_seconds": 10}).json()["payload"]
    assert moved["next_due"]["in_seconds"] == 20.0  # the answer to a move says it too
    client.post("/_sandbox/clock", headers=headers, json={"advance_seconds": 20})
    # it completed its last step: every task of its upload is final, so the upload's export is next
    assert clock(client, headers)["next_due"] == {
        "at": later(now, 330), "in_seconds": 300.0, "kind": "export", "target": "upl_123456789"}


def test_a_transition_gone_stale_is_skipped(client):
    headers = frozen(client, "stale")
    client.post("/_sandbox/clock", headers=headers, json={"advance_seconds": 3600})
    client.post(f"{BASE}/task/task_abcdef123456/complete", headers={**auth(), **headers})
    # forced out of PROCESSING, the task's pending advance will do nothing: it is not shown
    forced = client.put("/_sandbox/tasks/task_abcdef123456/status", headers=headers, json={"status": "REVIEWING"})
    assert forced.status_code == 200, forced.text
    assert clock(client, headers)["next_due"] is None


def test_reading_the_clock_applies_what_fell_due_first(client, clock):
    assert clock_of(client)["next_due"]["target"] == "task_email000att1"  # the default session: at NOW + 30
    clock.advance(31)  # the process's clock moves with no request in between: nothing has applied it yet
    shown = clock_of(client)
    assert shown["now"] == "2025-03-01T12:00:31Z"
    assert shown["next_due"]["target"] != "task_email000att1" and shown["next_due"]["at"] > shown["now"]
    task = client.get(f"{BASE}/task/task_email000att1", headers=auth()).json()["payload"]
    assert task["status"] == "REVIEWING"


def clock_of(client) -> dict:
    return clock(client, {})
