"""Deliveries to real receivers on loopback: signed, retried on the virtual clock, failed, disabled
by 410, never held up by a hanging receiver; on both stores."""
from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from standardwebhooks import Webhook

from sandbox.app import create_app
from sandbox.domain.outbox import ATTEMPTS, BACKOFF, Send
from tests.conftest import BASE, auth
from tests.receivers import Receiver, refused_url
from tests.waiting import sender_looked, until

EMAIL = "upl_email0001"


@pytest.fixture
def receivers():
    made = []

    def make(*answers) -> Receiver:
        made.append(Receiver(*answers))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


def subscribe(client, url: str, **fields) -> dict:
    answer = client.post("/_sandbox/subscriptions", json={"project_id": "proj_123456", "url": url, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()["payload"]


def in_review(client) -> dict:
    """upl_email0001 needs review: the event, once its att1 settles."""
    assert client.post("/_sandbox/clock", json={"advance_seconds": 30}).status_code == 200
    return client.get("/_sandbox/events", params={"upload_id": EMAIL}).json()["payload"][-1]


def delivery(client, until, timeout: float = 10.0) -> dict:
    """The only delivery, once `until(delivery)` holds (sending happens beside the request);
    the test fails at `timeout`, showing the delivery as it last was."""
    deadline = time.monotonic() + timeout
    while True:
        found = client.get("/_sandbox/deliveries").json()["payload"]
        if found and until(found[-1]):
            return found[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"no delivery as expected within {timeout:g} s; last seen: {found[-1] if found else None}")
        time.sleep(0.02)


def attempts(n: int):
    return lambda d: len(d.get("attempts", ())) >= n


def advance(client, seconds: float) -> None:
    assert client.post("/_sandbox/clock", json={"advance_seconds": seconds}).status_code == 200


def test_events_arrive_signed_and_verify_with_standardwebhooks(client, receivers):
    receiver = receivers(200)
    sub = subscribe(client, receiver.url)
    event = in_review(client)
    headers, body = receiver.wait_for(1)[0]
    assert Webhook(sub["secret"]).verify(body, headers) == event["body"]
    assert headers["webhook-id"] == event["id"] and headers["content-type"] == "application/json"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300  # the host's clock, as receivers check
    done = delivery(client, lambda d: d["status"] == "delivered")
    assert done["status"] == "delivered" and done["attempts"][0]["status"] == 200
    assert done["attempts"][0]["response"] == "ok"


def test_a_receiver_failing_twice_gets_retries_on_the_virtual_clock(client, receivers):
    receiver = receivers(500, 503, 200)
    subscribe(client, receiver.url)
    event = in_review(client)
    assert delivery(client, attempts(1))["status"] == "pending"
    sender_looked(client.app.sender)
    assert len(receiver.received) == 1  # the clock is frozen: no retry until it moves
    advance(client, BACKOFF[0])
    delivery(client, attempts(2))
    advance(client, BACKOFF[1])
    done = delivery(client, lambda d: d["status"] == "delivered")
    assert [a["status"] for a in done["attempts"]] == [500, 503, 200]
    assert {h["webhook-id"] for h, _ in receiver.received} == {event["id"]}  # the same event each time


def test_a_refused_connection_is_retried_until_the_attempts_run_out(client):
    subscribe(client, refused_url())
    in_review(client)
    for wait in BACKOFF:
        delivery(client, attempts(BACKOFF.index(wait) + 1))
        advance(client, wait)
    done = delivery(client, lambda d: d["status"] == "failed")
    assert done["status"] == "failed" and len(done["attempts"]) == ATTEMPTS
    assert all(a["status"] is None and "could not connect" in a["error"] for a in done["attempts"])
    assert done["next_attempt_at"] is None


def test_410_disables_the_subscription(client, receivers):
    receiver = receivers(410)
    sub = subscribe(client, receiver.url)
    in_review(client)
    done = delivery(client, lambda d: d["status"] == "failed")
    assert done["status"] == "failed" and len(done["attempts"]) == 1
    now = client.get(f"/_sandbox/subscriptions/{sub['id']}").json()["payload"]
    assert now["enabled"] is False and "410" in now["disabled_reason"]
    advance(client, 1000)
    client.post(f"{BASE}/task/task_email000body/complete", headers=auth())
    assert len(client.get("/_sandbox/deliveries").json()["payload"]) == 1  # nothing new goes to it


def test_a_hanging_receiver_holds_up_neither_answers_nor_other_deliveries(store, receivers):
    options = {} if store is None else {"store": store[0], "namespace": store[1]}
    app = create_app(webhook_timeout=1.0, **options)
    slow, quick = receivers("hang"), receivers(200)
    with app.test_client() as client:
        client.post("/_sandbox/clock", json={"freeze": True})
        subscribe(client, slow.url)
        subscribe(client, quick.url)
        in_review(client)
        assert slow.hanging.wait(10)
        assert quick.wait_for(1)  # while the other is held
        answer = client.get(f"{BASE}/task/task_abcdef123456", headers=auth())
        assert answer.status_code == 200 and slow.hanging.is_set() and not slow._release.is_set()
        def attempted():
            found = {d["subscription_id"]: d for d in client.get("/_sandbox/deliveries").json()["payload"]}
            return found if found and all(d["attempts"] for d in found.values()) else None
        found = until(attempted, "an attempt of each delivery")
        errors = sorted(str(d["attempts"][0]["error"]) for d in found.values())
        assert errors == ["None", "no answer within 1 s"]
    app.sender.stop()


def test_resend_sends_the_same_event_again(client, receivers):
    receiver = receivers(200)
    subscribe(client, receiver.url)
    event = in_review(client)
    first = delivery(client, lambda d: d["status"] == "delivered")
    answer = client.post(f"/_sandbox/deliveries/{first['id']}/resend", headers={"X-Sandbox-Client": "tests"})
    assert answer.status_code == 202 and answer.json()["payload"]["status"] == "pending"
    again = delivery(client, attempts(2))
    assert again["status"] == "delivered" and len(receiver.wait_for(2)) == 2
    assert [h["webhook-id"] for h, _ in receiver.received] == [event["id"]] * 2


def test_deleting_a_subscription_fails_its_pending_deliveries_unsent(client):
    sub = subscribe(client, refused_url())
    in_review(client)
    delivery(client, attempts(1))
    assert client.delete(f"/_sandbox/subscriptions/{sub['id']}", headers={"X-Sandbox-Client": "tests"}).status_code == 204
    advance(client, BACKOFF[0])
    done = delivery(client, lambda d: d["status"] == "failed")
    assert done["attempts"][-1]["error"] == "the subscription was deleted"


def test_the_inbox_receives_what_is_sent_to_it(app, receivers):
    from sandbox.http.server import ServerThread

    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        client.post("/_sandbox/clock", json={"freeze": True})
        subscribe(client, f"{server.url}/_sandbox/inbox/mine")
        event = in_review(client)
        got = until(lambda: (answer := client.get("/_sandbox/inbox/mine").json())["count"] and answer,
                    "the inbox receiving the event")
        received = got["payload"][0]
        assert received["body"] == event["body"]
        assert received["headers"]["webhook-id"] == event["id"]
        assert client.delete("/_sandbox/inbox/mine", headers={"X-Sandbox-Client": "tests"}).status_code == 204
        assert client.get("/_sandbox/inbox/mine").json() == {"count": 0, "payload": []}
    app.sender.stop()


def test_an_event_that_breaks_the_contract_is_never_sent(app, receivers):
    receiver = receivers(200)
    send = Send("default", "dlv_x", "evt_x", receiver.url, "whsec_" + "A" * 32,
                {"id": "evt_x", "event": "DELETED"}, 1, "token")
    outcome = asyncio.run(_attempt(app.sender, send))
    assert outcome["status"] is None and "does not conform to UploadEvent" in outcome["error"]
    # attempt() returns only after any POST it made was answered, so one would be here already
    assert receiver.received == []


def test_a_fixture_subscription_to_a_host_not_allowed_fails_unsent(client):
    loaded = client.post("/_sandbox/fixtures", json={"subscriptions": [{
        "id": "sub_far", "project_id": "proj_123456", "url": "http://example.com/hooks", "secret": "whsec_" + "A" * 32}]})
    assert loaded.status_code == 201
    in_review(client)
    done = delivery(client, lambda d: d["status"] != "pending" or len(d["attempts"]) >= 1)
    assert done["attempts"][0]["status"] is None and "example.com is not allowed" in done["attempts"][0]["error"]


def test_secrets_stay_out_of_the_logs(client, receivers, caplog):
    caplog.set_level(logging.DEBUG)
    sub = subscribe(client, receivers(200).url)
    in_review(client)
    delivery(client, lambda d: d["status"] == "delivered")
    assert "webhook evt_" in caplog.text and sub["secret"] not in caplog.text


async def _attempt(sender, send):
    async with httpx.AsyncClient(timeout=2) as client:
        return await sender.attempt(client, send)


def test_on_a_running_clock_events_go_out_with_nobody_calling(client, receivers):
    receiver = receivers(200)
    running = {"X-Sandbox-Session": "running-clock"}  # a named session's clock follows the host's
    loaded = client.post("/_sandbox/fixtures", headers=running, json={
        "projects": [{"id": "proj_quick", "team_id": "team_123456", "name": "Quick", "processing_delay": 1}],
        "uploads": [{"id": "upl_quick", "project_id": "proj_quick", "name": "q.pdf", "created_at": "2025-01-01T00:00:00Z"}],
        "tasks": [{"id": "task_quick", "name": "q.pdf", "created_at": "2025-01-01T00:00:00Z", "status": "PROCESSING",
                   "upload_id": "upl_quick"}],
        "subscriptions": [{"id": "sub_quick", "project_id": "proj_quick", "url": receiver.url,
                           "secret": "whsec_" + "A" * 32}]})
    assert loaded.status_code == 201, loaded.text
    headers, body = receiver.wait_for(1, timeout=15)[0]  # no call moves anything meanwhile
    assert b'"IN_REVIEW"' in body and b"upl_quick" in body


def served_app(store, **options):
    extra = {} if store is None else {"store": store[0], "namespace": store[1]}
    return create_app(**extra, **options)


def fire(client, upload: str = "upl_123456789") -> dict:
    answer = client.post("/_sandbox/events", json={"upload_id": upload, "type": "upload.in_review"})
    assert answer.status_code == 201, answer.text
    return answer.json()["payload"]


def test_an_attempt_from_before_a_reset_never_counts_for_a_delivery_after_it(store, receivers):
    app = served_app(store, webhook_timeout=10)
    old, new = receivers("hang"), receivers(500, 200)
    with app.test_client() as client:
        client.post("/_sandbox/clock", json={"freeze": True})
        subscribe(client, old.url)
        fire(client)
        assert old.hanging.wait(10)
        pending = client.get("/_sandbox/deliveries").json()["payload"][0]
        resend = client.post(f"/_sandbox/deliveries/{pending['id']}/resend", headers={"X-Sandbox-Client": "tests"})
        assert resend.status_code == 409 and resend.json()["code"] == "delivery_in_flight"
        assert client.post("/_sandbox/reset", json={}).status_code == 200
        subscribe(client, new.url)  # the same ids again after the reset
        fire(client)
        new.wait_for(1)
        after_reset = delivery(client, attempts(1))
        assert after_reset["id"] == pending["id"]
        old.release()  # the old attempt now answers 200
        sender_looked(app.sender)  # it is over: recorded, or (as it must be) not
        found = client.get("/_sandbox/deliveries").json()["payload"][0]
        assert found["status"] == "pending" and [a["status"] for a in found["attempts"]] == [500]
    app.sender.stop()


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_timeout(store, receivers):
    app = served_app(store, webhook_timeout=1)
    with app.test_client() as client:
        client.post("/_sandbox/clock", json={"freeze": True})
        receiver = receivers("drip")
        subscribe(client, receiver.url)
        fire(client)
        done = delivery(client, attempts(1), timeout=8)
        assert done["attempts"][0]["error"] == "no answer within 1 s"
        receiver.release()
    app.sender.stop()


def test_fixture_subscriptions_send_from_start_up_with_nobody_calling(tmp_path, store, receivers):
    import shutil

    import yaml

    from sandbox.fixtures import default_dir

    receiver = receivers(200)
    directory = tmp_path / "fixtures"
    shutil.copytree(default_dir(), directory)
    (directory / "quick.yaml").write_text(yaml.safe_dump({
        "projects": [{"id": "proj_quick", "team_id": "team_123456", "name": "Quick", "processing_delay": 1}],
        "uploads": [{"id": "upl_quick", "project_id": "proj_quick", "name": "q.pdf",
                     "created_at": "2025-01-01T00:00:00Z"}],
        "tasks": [{"id": "task_quick", "name": "q.pdf", "created_at": "2025-01-01T00:00:00Z",
                   "status": "PROCESSING", "upload_id": "upl_quick"}],
        "subscriptions": [{"id": "sub_quick", "project_id": "proj_quick", "url": receiver.url,
                           "secret": "whsec_" + "A" * 32}]}))
    app = served_app(store, fixtures_dir=directory)  # the default session's clock runs
    try:
        _, body = receiver.wait_for(1, timeout=15)[0]  # no request at all
        assert b"upl_quick" in body and b'"IN_REVIEW"' in body
    finally:
        app.sender.stop()


def test_answers_stay_right_while_the_sender_works_beside_them(client, receivers):
    subscribe(client, receivers(200).url)
    statuses, fired = [], set()
    for _ in range(40):
        answer = client.post("/_sandbox/events", json={"upload_id": "upl_123456789", "type": "upload.in_review"})
        statuses.append(answer.status_code)
        fired.add(answer.json()["payload"]["id"])
        statuses.append(client.get(f"{BASE}/upload/upl_123456789", headers=auth()).status_code)
    assert set(statuses) == {200, 201}

    # Judged on one read of the deliveries (a predicate reading them again could pass on a newer
    # read than the one it returns from).
    deadline = time.monotonic() + 60
    while True:
        # only this test's events: moving the clock below may settle seeded work, whose events go out too
        found = [d for d in client.get("/_sandbox/deliveries").json()["payload"] if d["event_id"] in fired]
        if all(d["status"] == "delivered" for d in found) or time.monotonic() > deadline:
            break
        # Under a loaded CI an attempt may time out (or a store call, and a lease run out first,
        # 15 s): its retry then waits on the session's frozen clock, so move it on.
        if any(d["status"] == "pending" and d["attempts"] for d in found):
            advance(client, 320)
        time.sleep(0.02)
    assert len(found) == 40 and [d for d in found if d["status"] != "delivered"] == []


def test_a_claim_whose_confirmation_was_lost_still_sends_what_it_holds(client, receivers, monkeypatch):
    from sandbox import errors
    from sandbox.domain import outbox

    receiver = receivers(200)
    subscribe(client, receiver.url)
    real_claim = outbox.claim

    def claim_then_lose_the_answer(tx, *args):
        sends = real_claim(tx, *args)
        if sends:  # the unit lands (below); its answer does not reach the sender
            claim_then_lose_the_answer.lost += 1
        return sends
    claim_then_lose_the_answer.lost = 0
    store = client.app.sender.store
    real_run = store.run_existing

    async def run_existing(sid, fn, *args):
        result = await real_run(sid, claim_then_lose_the_answer if fn is real_claim else fn, *args)
        if fn is real_claim and result:
            raise errors.StoreUncertain()
        return result
    monkeypatch.setattr(store, "run_existing", run_existing)
    in_review(client)
    receiver.wait_for(1, timeout=10)
    assert len(receiver.received) == 1 and claim_then_lose_the_answer.lost >= 1  # sent at once, not after the lease
