"""The control plane's notifications: subscriptions (create, list, update, delete), secrets shown
once, allowed hosts, events on demand, deliveries and inboxes, and every refusal in the envelope."""
from __future__ import annotations

import asyncio

import pytest

from sandbox.app import create_app

SUBS = "/_sandbox/subscriptions"
HOOK = "http://127.0.0.1:9/hooks"
SECRET = "whsec_" + "A" * 32


def create(client, **fields):
    return client.post(SUBS, json={"project_id": "proj_123456", "url": HOOK, **fields})


def test_a_subscription_is_made_listed_changed_and_deleted(client):
    made = create(client, events=["upload.processed"], description="ERP")
    assert made.status_code == 201
    sub = made.json()["payload"]
    assert sub["secret"].startswith("whsec_") and sub["events"] == ["upload.processed"] and sub["enabled"]
    assert [s["id"] for s in client.get(SUBS).json()["payload"]] == [sub["id"]]
    assert client.get(SUBS, params={"project_id": "proj_234567"}).json()["payload"] == []
    changed = client.patch(f"{SUBS}/{sub['id']}", json={"enabled": False, "events": ["upload.in_review"]})
    assert changed.status_code == 200
    assert changed.json()["payload"]["enabled"] is False and changed.json()["payload"]["events"] == ["upload.in_review"]
    assert client.patch(f"{SUBS}/{sub['id']}", json={"enabled": True}).json()["payload"]["disabled_reason"] is None
    assert client.delete(f"{SUBS}/{sub['id']}", headers={"X-Sandbox-Client": "tests"}).status_code == 204
    assert client.get(SUBS).json()["payload"] == []
    assert client.get(f"{SUBS}/{sub['id']}").status_code == 404


def test_the_secret_is_shown_once_and_never_again(client):
    sub = create(client, secret=SECRET).json()["payload"]
    assert sub["secret"] == SECRET
    answers = [client.get(SUBS), client.get(f"{SUBS}/{sub['id']}"),
               client.patch(f"{SUBS}/{sub['id']}", json={"description": "x"}),
               client.get("/_sandbox/deliveries"), client.get("/_sandbox/journal")]
    for answer in answers:
        assert answer.status_code == 200 and SECRET not in answer.text and "secret" not in answer.text


def test_subscriptions_belong_to_their_session(client):
    create(client)
    assert client.get(SUBS, headers={"X-Sandbox-Session": "other"}).json()["payload"] == []


@pytest.mark.parametrize("method, path, body, status, code", [
    ("POST", SUBS, {"project_id": "proj_nope", "url": HOOK}, 404, "project_not_found"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": "http://example.com/hook"}, 400, "invalid_subscription"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": "ftp://127.0.0.1/hook"}, 400, "invalid_subscription"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": "http://127.0.0.1:99999/"}, 400, "invalid_subscription"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": "http://127.0.0.1/a\nb"}, 400, "invalid_subscription"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": HOOK, "secret": "whsec_" + "A" * 33}, 400, "invalid_subscription"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": HOOK, "secret": "plain"}, 400, "invalid_request"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": HOOK, "events": ["upload.deleted"]}, 400, "invalid_request"),
    ("POST", SUBS, {"project_id": "proj_123456", "url": HOOK, "events": []}, 400, "invalid_request"),
    ("POST", SUBS, {"url": HOOK}, 400, "invalid_request"),
    ("GET", f"{SUBS}/sub_nope", None, 404, "subscription_not_found"),
    ("PATCH", f"{SUBS}/sub_nope", {"enabled": True}, 404, "subscription_not_found"),
    ("DELETE", f"{SUBS}/sub_nope", None, 404, "subscription_not_found"),
    ("GET", "/_sandbox/deliveries/dlv_nope", None, 404, "delivery_not_found"),
    ("POST", "/_sandbox/deliveries/dlv_nope/resend", None, 404, "delivery_not_found"),
    ("GET", "/_sandbox/deliveries?status=lost", None, 400, "invalid_request"),
    ("POST", "/_sandbox/events", {"upload_id": "upl_nope", "type": "upload.processed"}, 404, "upload_not_found"),
    ("POST", "/_sandbox/events", {"upload_id": "upl_123456789", "type": "upload.processed"}, 400, "invalid_event"),
    ("POST", "/_sandbox/events", {"upload_id": "upl_email0001", "type": "upload.in_review"}, 400, "invalid_event"),
    ("POST", "/_sandbox/events", {"upload_id": "upl_123456789", "type": "upload.gone"}, 400, "invalid_request"),
    ("POST", "/_sandbox/inbox/-bad-", {"a": 1}, 400, "invalid_request"),
])
def test_refusals_are_clear_and_in_the_envelope(client, method, path, body, status, code):
    answer = client.request(method, path, json=body, headers={"X-Sandbox-Client": "tests"})
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and answer.json()["error"]


def test_a_patch_to_a_disallowed_host_changes_nothing(client):
    sub = create(client).json()["payload"]
    answer = client.patch(f"{SUBS}/{sub['id']}", json={"url": "http://10.0.0.1/hook", "enabled": False})
    assert answer.status_code == 400 and answer.json()["details"][0]["location"] == "body.url"
    assert client.get(f"{SUBS}/{sub['id']}").json()["payload"] == {k: v for k, v in sub.items() if k != "secret"}


@pytest.mark.parametrize("allowed, url, status", [
    ((), "http://localhost:8080/hook", 201),
    ((), "http://[::1]:8080/hook", 201),
    (("hooks.example.com",), "https://hooks.example.com/in", 201),
    (("hooks.example.com",), "https://evil.example.com/in", 400),
    (("*",), "https://anything.example.org/in", 201),
])
def test_hosts_beyond_loopback_need_the_operator(allowed, url, status):
    with create_app(webhook_hosts=allowed).test_client() as client:
        assert create(client, url=url).status_code == status


def test_an_event_fired_on_demand_goes_out_like_any_other(client):
    sub = create(client).json()["payload"]
    fired = client.post("/_sandbox/events", json={"upload_id": "upl_123456789", "type": "upload.in_review"})
    assert fired.status_code == 201
    event = fired.json()["payload"]
    assert event["body"]["event"] == "IN_REVIEW" and event["body"]["upload"]["status"] == "IN_REVIEW"
    deliveries = client.get("/_sandbox/deliveries", params={"event_id": event["id"]}).json()["payload"]
    assert [(d["subscription_id"], d["event_id"]) for d in deliveries] == [(sub["id"], event["id"])]


def test_the_inbox_takes_posts_without_the_admin_token_and_shows_them_only_with_it():
    with create_app(admin_token="T").test_client() as client:
        assert client.post("/_sandbox/inbox/ci", json={"hello": 1}).status_code == 204
        assert client.get("/_sandbox/inbox/ci").status_code == 403
        got = client.get("/_sandbox/inbox/ci", headers={"X-Sandbox-Admin-Token": "T"}).json()
        assert got["count"] == 1 and got["payload"][0]["body"] == {"hello": 1}
        assert client.delete("/_sandbox/inbox/ci", headers={"X-Sandbox-Client": "tests"}).status_code == 403


def test_an_inbox_refuses_big_bodies_and_makes_no_session():
    with create_app(admin_token="T").test_client() as client:
        big = client.post("/_sandbox/inbox/ci", json={"pad": "x" * 70_000})
        assert big.status_code == 413 and big.json()["code"] == "payload_too_large"
        assert client.post("/_sandbox/inbox/ci", json={}, headers={"X-Sandbox-Session": "made-up"}).status_code == 204
        names = client.get("/_sandbox/sessions", headers={"X-Sandbox-Admin-Token": "T"}).json()["payload"]
        assert names == []  # no team has used the sandbox yet


# -- the inboxes' byte bound: all names together, oldest entries dropped first --

def inbox_app(store, **options):
    return create_app(**options) if store is None else create_app(store=store[0], namespace=store[1], **options)


def inbox_bytes(app) -> int:
    """The store's own count of what the inboxes keep."""
    async def read():
        try:
            return await app.store.inbox_bytes()
        finally:
            await app.store.release()
    return asyncio.run(read())


def one_entry_bytes(store) -> int:
    with inbox_app(store).test_client() as client:
        client.post("/_sandbox/inbox/size", json={"n": 0})
        return inbox_bytes(client.app)


@pytest.mark.parametrize("posts, kept", [(3, [0, 1, 2]), (4, [1, 2, 3]), (7, [4, 5, 6])])
def test_inboxes_keep_their_byte_budget_dropping_the_oldest_whatever_the_name(store, posts, kept):
    size = one_entry_bytes(store)  # each post below has the same size: a name of 4, a body like it
    app = inbox_app(store, inbox_bytes=3 * size)
    with app.test_client() as client:
        for n in range(posts):
            assert client.post(f"/_sandbox/inbox/{('even', 'odds')[n % 2]}", json={"n": n}).status_code == 204
        found = sorted(e["body"]["n"] for name in ("even", "odds")
                       for e in client.get(f"/_sandbox/inbox/{name}").json()["payload"])
        assert found == kept
        assert inbox_bytes(app) == len(kept) * size


def test_inboxes_stay_under_budget_after_far_more_posts_across_many_names(store):
    budget = 64 * 1024
    app = inbox_app(store, inbox_bytes=budget)
    with app.test_client() as client:
        for n in range(400):  # about 1.6 MB over 80 names: 25 times the budget
            assert client.post(f"/_sandbox/inbox/name{n % 80}", json={"n": n, "pad": "x" * 4000}).status_code == 204
            assert inbox_bytes(app) <= budget
        newest = client.get("/_sandbox/inbox/name79").json()["payload"]
        assert [e["body"]["n"] for e in newest] == [399]
        assert client.get("/_sandbox/inbox/name0").json()["count"] == 0
        kept = sum(client.get(f"/_sandbox/inbox/name{i}").json()["count"] for i in range(80))
        assert 10 <= kept <= budget // 4000
        if store is None:  # the old names themselves are gone, not only their entries
            assert len(app.store._inboxes) == kept and "name0" not in app.store._inboxes


def test_a_cleared_inbox_leaves_the_others_and_the_order_consistent(store):
    size = one_entry_bytes(store)
    app = inbox_app(store, inbox_bytes=3 * size)
    with app.test_client() as client:
        client.post("/_sandbox/inbox/aaaa", json={"n": 0})
        client.post("/_sandbox/inbox/bbbb", json={"n": 1})
        assert client.delete("/_sandbox/inbox/aaaa", headers={"X-Sandbox-Client": "test"}).status_code == 204
        client.post("/_sandbox/inbox/aaaa", json={"n": 2})
        client.post("/_sandbox/inbox/cccc", json={"n": 3})  # over: the cleared entry's record goes first
        assert [e["body"]["n"] for e in client.get("/_sandbox/inbox/aaaa").json()["payload"]] == [2]
        assert client.get("/_sandbox/inbox/bbbb").json()["count"] == 1
        client.post("/_sandbox/inbox/cccc", json={"n": 4})  # now bbbb's, the oldest kept
        assert client.get("/_sandbox/inbox/bbbb").json()["count"] == 0
        assert [e["body"]["n"] for e in client.get("/_sandbox/inbox/aaaa").json()["payload"]] == [2]
        assert inbox_bytes(app) == 3 * size
