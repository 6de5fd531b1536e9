"""Bounds across the API and the control plane: numbers past what a field can hold, and the
clock's latest instant, answer 400 and leave the session working (never a 500 later)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandbox import spec
from sandbox.domain.clock import LATEST_ISO, MAX_DELAY, format_timestamp, parse_timestamp
from tests.conftest import BASE, auth

TASK = f"{BASE}/task/task_abcdef123456"
S = {"X-Sandbox-Session": "bounds"}
H = {**auth(), **S}
HUGE = "9" * 5000
INT64_MAX = 2**63 - 1


def json_post(client, path: str, raw: str):
    return client.post(path, headers={**H, "Content-Type": "application/json"}, content=raw.encode())


def assert_still_works(client) -> None:
    assert client.get("/_sandbox/session", headers=S).status_code == 200
    assert client.get(TASK, headers=H).status_code == 200


# (method, path, body as raw JSON or None, the detail's location: None when it is accepted)
NUMBERS = [
    pytest.param("POST", f"{TASK}/report", '{"issues": [{"label": "a", "value": %s}]}' % HUGE,
                 "body.issues[0].value", id="report-5000-digits"),
    pytest.param("POST", f"{TASK}/report", '{"issues": [{"label": "a", "value": -%s}]}' % HUGE,
                 "body.issues[0].value", id="report-negative-5000-digits"),
    pytest.param("POST", "/_sandbox/clock", '{"advance_seconds": %s}' % HUGE, "body.advance_seconds",
                 id="advance-5000-digits"),
    pytest.param("POST", "/_sandbox/clock", '{"advance_seconds": %d}' % MAX_DELAY, None, id="advance-100-years"),
    pytest.param("POST", "/_sandbox/clock", '{"advance_seconds": %d}' % (MAX_DELAY + 1), "body.advance_seconds",
                 id="advance-past-100-years"),
    pytest.param("POST", "/_sandbox/faults", '{"operation": "getUpload", "status": 503, "seed": %d}' % INT64_MAX,
                 None, id="seed-int64-max"),
    pytest.param("POST", "/_sandbox/faults", '{"operation": "getUpload", "status": 503, "seed": %d}' % (INT64_MAX + 1),
                 "body.seed", id="seed-past-int64"),
    pytest.param("POST", "/_sandbox/faults", '{"operation": "getUpload", "status": 503, "seed": %d}' % (-INT64_MAX - 2),
                 "body.seed", id="seed-below-int64"),
    pytest.param("POST", "/_sandbox/faults", '{"operation": "getUpload", "times": %s}' % HUGE, "body.times",
                 id="times-5000-digits"),
    pytest.param("POST", "/_sandbox/fixtures", '{"tasks": [{"x": [1, %s]}]}' % HUGE, "body.tasks[0].x[1]",
                 id="fixtures-5000-digits"),
    pytest.param("GET", f"/_sandbox/journal?status={INT64_MAX}", None, None, id="query-int64-max"),
    pytest.param("GET", f"/_sandbox/journal?status={INT64_MAX + 1}", None, "query.status", id="query-past-int64"),
    pytest.param("GET", f"/_sandbox/journal?limit={HUGE}", None, "query.limit", id="query-5000-digits"),
    pytest.param("GET", f"{BASE}/task?limit={HUGE}", None, "query.limit", id="public-query-5000-digits"),
]


@pytest.mark.parametrize("method, path, raw, location", NUMBERS)
def test_numbers_past_their_type_are_a_400_naming_where(client, method, path, raw, location):
    response = json_post(client, path, raw) if method == "POST" else client.get(path, headers=H)
    if location is None:
        assert response.status_code < 300, response.text
    else:
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "invalid_request"
        assert location in [d["location"] for d in body["details"]], body
    assert_still_works(client)


# -- the clock's latest instant --

def test_the_clock_goes_to_its_latest_instant_and_no_further(client):
    shown = client.post("/_sandbox/clock", headers=S, json={"now": LATEST_ISO, "freeze": True}).json()["payload"]
    assert (shown["now"], shown["frozen"], shown["next_due"]) == (LATEST_ISO, True, None)
    for body in ({"now": "3000-01-01T00:00:00Z"}, {"advance_seconds": 1}):
        response = client.post("/_sandbox/clock", headers=S, json=body)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
        assert LATEST_ISO in response.json()["error"]
    assert client.get("/_sandbox/clock", headers=S).json()["payload"]["now"] == LATEST_ISO


@pytest.mark.parametrize("body", [{"now": "9999-12-31T23:59:59Z"}, {"now": "3000-01-01T00:00:00Z"}])
def test_setting_past_the_latest_instant_names_it(client, body):
    response = client.post("/_sandbox/clock", headers=S, json=body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    assert LATEST_ISO in response.json()["error"]
    assert_still_works(client)


SLOW = {"projects": [{"id": "proj_slow01", "team_id": "team_123456", "name": "Slow",
                      "processing_delay": MAX_DELAY, "export_delay": MAX_DELAY}]}


@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "running"])
def test_a_session_at_the_latest_instant_keeps_answering(client, freeze):
    assert client.post("/_sandbox/fixtures", headers=S, json=SLOW).status_code == 201
    assert client.post("/_sandbox/clock", headers=S, json={"now": LATEST_ISO, "freeze": freeze}).status_code == 200
    calls = [
        ("POST", f"{TASK}/complete", {}),
        ("POST", f"{BASE}/upload", {"files": [("file", ("a.pdf", b"%PDF", "application/pdf"))]}),
        ("POST", f"/v2/team_123456/project/proj_slow01/upload", {"files": [("file", ("b.pdf", b"x"))]}),
        ("GET", f"{BASE}/task", {}),
        ("GET", "/v2/team_123456/project/proj_slow01/task", {}),
        ("POST", "/_sandbox/clock", {"json": {"freeze": not freeze}}),
        ("POST", "/_sandbox/clock", {"json": {"freeze": freeze}}),
        ("GET", "/_sandbox/session", {}),
        ("GET", "/_sandbox/world", {}),
        ("GET", "/_sandbox/events", {}),
        ("GET", "/_sandbox/journal", {}),
        ("GET", "/_sandbox/report", {}),
        ("POST", "/_sandbox/reset", {}),
        ("GET", f"{BASE}/task", {}),
    ]
    for method, path, kwargs in calls:
        response = client.request(method, path, headers=H, **kwargs)
        assert response.status_code < 500, (method, path, response.text)
    assert client.post(f"{TASK}/approve", headers=H).status_code == 200


def test_every_delay_a_fixture_can_declare_fits_after_the_latest_instant():
    """What the clock, a fixture's delays and one advance may add must stay showable."""
    schema = yaml.safe_load((Path(spec.__file__).parent / "fixture_schema.yaml").read_text())
    project = schema["projects"]["properties"]
    assert project["processing_delay"]["maximum"] == project["export_delay"]["maximum"] == MAX_DELAY
    control = spec.load_control()
    clock = control["paths"]["/clock"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert clock["properties"]["advance_seconds"]["maximum"] == MAX_DELAY
    far = parse_timestamp(LATEST_ISO) + 3 * MAX_DELAY  # a delay on a delay on an advance
    assert format_timestamp(far) > LATEST_ISO


@pytest.mark.parametrize("delay, status", [(MAX_DELAY, 201), (MAX_DELAY + 1, 400)])
def test_a_fixtures_delay_is_bounded(client, delay, status):
    body = {"projects": [{**SLOW["projects"][0], "processing_delay": delay}]}
    assert client.post("/_sandbox/fixtures", headers=S, json=body).status_code == status
    assert_still_works(client)
