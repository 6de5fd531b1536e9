"""The control plane's notifications: subscriptions (create, list, update, delete), secrets shown
once, allowed hosts, events on demand, deliveries and inboxes, and every refusal in the envelope."""
from __future__ import annotations

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
