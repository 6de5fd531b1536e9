"""GET /_sandbox/live over real HTTP: each change of the session, made anywhere, is told as a
server-sent event; nothing else is; the streams are bounded, a team's own, and end with the server."""
from __future__ import annotations

import json
import queue
import socket
import threading

import httpx
import pytest

from sandbox.app import create_app
from sandbox.control import live as live_module
from sandbox.http.server import ServerThread
from tests.conftest import BASE, auth
from tests import redis_server
from tests.waiting import until

TASK = "task_abcdef123456"
QUIET = 0.6  # how long nothing must come for "nothing is told" (the server gathers changes for 0.1 s)
TOKEN = "T0ken"


class Stream:
    """A client of the live channel, read in a thread of its own: its events queue up in order."""

    def __init__(self, url: str, headers: dict):
        self.client = httpx.Client(timeout=httpx.Timeout(5, read=30))
        self.events: queue.Queue = queue.Queue()
        self.answer = self.client.send(self.client.build_request("GET", url + "/_sandbox/live", headers=headers),
                                       stream=True)
        if self.answer.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        name, data = None, []
        try:
            for line in self.answer.iter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and name:
                    self.events.put((name, json.loads("\n".join(data))))
                    name, data = None, []
        except httpx.HTTPError:
            pass
        self.events.put(("end", None))

    def next(self, timeout: float = 10) -> tuple:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event within {timeout} s")

    def change(self, timeout: float = 10) -> set:
        """The kinds of the next change event; the hello first is passed over."""
        name, data = self.next(timeout)
        while name == "hello":
            name, data = self.next(timeout)
        assert name == "change", (name, data)
        return set(data["kinds"])

    def quiet(self) -> list:
        """What comes within QUIET seconds (nothing, if nothing changed)."""
        found = []
        try:
            while True:
                found.append(self.events.get(timeout=QUIET))
        except queue.Empty:
            return [e for e in found if e[0] != "hello"]

    def close(self) -> None:
        """Leave as a closed browser tab does. A socket closed while the reading thread waits on it
        sends nothing until that wait ends: shut down, it tells the server at once."""
        sock = self.answer.extensions["network_stream"].get_extra_info("socket")
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # gone already
            pass
        self.answer.close()
        self.client.close()


def hosted_app(store):
    """A hosted sandbox (an admin token: every control call needs credentials) on the suite's store."""
    return create_app(admin_token=TOKEN, **({} if store is None else {"store": store[0], "namespace": store[1]}))


@pytest.fixture
def server(app):
    with ServerThread(app) as running:
        yield running


@pytest.fixture
def streams():
    opened: list[Stream] = []

    def open_(url: str, **headers) -> Stream:
        opened.append(Stream(url, headers))
        return opened[-1]
    yield open_
    for stream in opened:
        stream.close()


def session(name: str, **more) -> dict:
    return {"X-Sandbox-Session": name, "X-Sandbox-Client": "curl", **more}


# A change made over HTTP to the watched session "s1", and the kinds the stream tells
CHANGES = [
    pytest.param("PUT", f"/_sandbox/tasks/{TASK}/status", {"status": "FAILED"}, {"state"}, id="a forced status"),
    pytest.param("POST", f"{BASE}/task/{TASK}/complete", None, {"state", "journal"}, id="an API call that changes a task"),
    pytest.param("GET", f"{BASE}/task/{TASK}", None, {"journal"}, id="an API read: journalled"),
    pytest.param("POST", "/_sandbox/faults", {"operation": "getTask", "status": 503}, {"state"}, id="a fault rule added"),
    pytest.param("POST", "/_sandbox/clock", {"advance_seconds": 5}, {"state"}, id="the clock moved"),
    pytest.param("POST", "/_sandbox/reset", {}, {"state"}, id="a reset"),
    pytest.param("DELETE", "/_sandbox/journal", None, {"journal", "state"}, id="the journal cleared (and noted in the timeline)"),
    pytest.param("POST", "/_sandbox/events", {"upload_id": "upl_123456789", "type": "upload.in_review"}, {"state"},
                 id="an event fired"),
]


@pytest.mark.parametrize("method, path, body, kinds", CHANGES)
def test_a_change_of_the_session_is_told_without_being_asked(server, streams, method, path, body, kinds):
    stream = streams(server.url, **session("s1"))
    assert stream.answer.headers["content-type"].startswith("text/event-stream")
    assert stream.next()[0] == "hello"
    answer = httpx.request(method, server.url + path, json=body, headers={**auth(), **session("s1")})
    assert answer.status_code < 300, answer.text
    assert stream.change() == kinds


@pytest.mark.parametrize("headers", [
    pytest.param(session("s2"), id="another session"),
    pytest.param(session("s1", **{"X-Sandbox-Client": "dashboard"}), id="the dashboard's own read"),
])
def test_nothing_else_is_told(server, streams, headers):
    stream = streams(server.url, **session("s1"))
    assert stream.next()[0] == "hello"
    assert httpx.get(server.url + f"{BASE}/task/{TASK}", headers={**auth(), **headers}).status_code == 200
    assert stream.quiet() == []


def test_a_transition_falling_due_on_a_running_clock_is_told_with_no_request(server, streams):
    h = {**auth(), **session("s1")}
    # PROCESSING on the suite's frozen clock: it settles 30 s on (the project's processing delay, fixtures/world.yaml)
    assert httpx.put(server.url + f"/_sandbox/tasks/{TASK}/status", json={"status": "PROCESSING"}, headers=h).status_code == 200
    stream = streams(server.url, **session("s1"))
    assert stream.next()[0] == "hello"
    # the clock runs from half a second before it falls due
    assert httpx.post(server.url + "/_sandbox/clock", json={"advance_seconds": 29.5, "freeze": False},
                      headers=h).status_code == 200
    assert stream.change() == {"state"}
    assert stream.change() == {"clock"}, "told when it fell due, though nothing asked"
    assert httpx.get(server.url + f"{BASE}/task/{TASK}", headers=h).json()["payload"]["status"] == "REVIEWING"


def test_streams_are_bounded_per_tenant_and_in_all(store, streams, monkeypatch):
    monkeypatch.setattr(live_module, "MAX_STREAMS_PER_TENANT", 2)
    monkeypatch.setattr(live_module, "MAX_STREAMS", 3)
    with ServerThread(hosted_app(store)) as hosted:
        a = [streams(hosted.url, **session("s"), **auth()) for _ in range(2)]
        refused = streams(hosted.url, **session("other"), **auth())
        assert refused.answer.status_code == 429
        body = json.loads(refused.answer.read())
        assert body["code"] == "too_many_streams" and "for this team" in body["error"]
        b = streams(hosted.url, **session("s"), Authorization="Bearer key_other_team")
        assert b.answer.status_code == 200, "another team has streams of its own"
        full = streams(hosted.url, **session("s"), Authorization="Bearer key_other_team")
        assert full.answer.status_code == 429 and "on this server process" in json.loads(full.answer.read())["error"]
        a[0].close()  # the server finds it gone a moment later
        until(lambda: streams(hosted.url, **session("s"), **auth()).answer.status_code == 200,
              "a stream that ended giving its place back")
        assert [s.answer.status_code for s in a[1:] + [b]] == [200, 200]


def test_a_stream_ends_after_its_lifetime_and_gives_its_place_back(server, streams, monkeypatch):
    monkeypatch.setattr(live_module, "LIFETIME_SECONDS", 0.3)
    monkeypatch.setattr(live_module, "MAX_STREAMS_PER_TENANT", 1)
    stream = streams(server.url, **session("s1"))
    assert [stream.next()[0], stream.next()[0]] == ["hello", "end"]
    assert streams(server.url, **session("s1")).answer.status_code == 200


def test_keyless_or_another_teams_stream_gets_nothing(store, streams):
    with ServerThread(hosted_app(store)) as hosted:
        keyless = streams(hosted.url, **session("ci"))
        assert keyless.answer.status_code == 403
        assert json.loads(keyless.answer.read())["code"] == "control_plane_forbidden"
        everyone = httpx.get(hosted.url + "/_sandbox/sessions", headers={"X-Sandbox-Admin-Token": TOKEN}).json()
        assert "ci" not in " ".join(everyone["payload"]), "a refused stream makes no session"
        b = streams(hosted.url, **session("ci"), Authorization="Bearer key_other_team")
        assert b.next()[0] == "hello"
        a = {**auth(), **session("ci")}
        assert httpx.put(hosted.url + f"/_sandbox/tasks/{TASK}/status", json={"status": "FAILED"}, headers=a).status_code == 200
        assert b.quiet() == [], "team A's session ci is not team B's"


def test_the_server_stops_at_once_with_a_stream_open(app, streams):
    running = ServerThread(app).start()
    stream = streams(running.url, **session("s1"))
    assert stream.next()[0] == "hello"
    running.stop()
    assert not running.thread.is_alive(), "the stream held the shutdown"
    assert stream.next()[0] == "end"


@pytest.mark.parametrize("kind", ["redis", "cluster"])
def test_a_change_made_through_another_worker_is_told(request, kind, streams):
    """Two apps over one Redis namespace are two workers (or replicas) of one sandbox."""
    url = request.getfixturevalue("redis_url" if kind == "redis" else "cluster_url")
    prefix = redis_server.namespace()
    try:
        with ServerThread(create_app(store=url, namespace=prefix)) as one, \
                ServerThread(create_app(store=url, namespace=prefix)) as two:
            stream = streams(one.url, **session("s1"))
            assert stream.next()[0] == "hello"
            h = {**auth(), **session("s1")}
            assert httpx.post(two.url + f"{BASE}/task/{TASK}/complete", headers=h).status_code == 200
            assert stream.change() == {"state", "journal"}
    finally:
        redis_server.drop(url, prefix)
