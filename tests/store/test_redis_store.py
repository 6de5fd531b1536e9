"""Several processes on one Redis act as one sandbox: races, due transitions, clocks, faults,
journals, ids, teams, idle sessions and Redis outages, all against a real Redis server."""
from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from tests import redis_server
from tests.conftest import BASE, auth
from tests.servers import Served
from tests.waiting import sender_looked, until

TASK = "task_abcdef123456"
ACT = f"{BASE}/task/{TASK}"
RACES = 1000


def session(name: str) -> dict:
    return {"X-Sandbox-Session": name}


@pytest.fixture
def replicas(shared_url, namespace):
    """Two separate `serve` processes, as two replicas behind a load balancer would be."""
    store = ["--store", shared_url, "--namespace", namespace]
    with Served(*store) as one, Served(*store) as two:
        yield one.url, two.url


async def _race(clients: list[httpx.AsyncClient], name: str, n: int = 16) -> list[tuple[int, str | None]]:
    """`n` completes of one task at once in a fresh session, spread over the clients' servers."""
    async def complete(client: httpx.AsyncClient):
        response = await client.post(f"{ACT}/complete", headers={**auth(), **session(name)})
        return response.status_code, (response.json().get("code") if response.status_code >= 400 else None)

    return await asyncio.gather(*(complete(clients[i % len(clients)]) for i in range(n)))


async def _races(urls: list[str], prefix: str, count: int) -> Counter:
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for url in urls]
    try:
        outcomes = Counter()
        for i in range(count):
            outcomes[frozenset(Counter(await _race(clients, f"{prefix}-{i}")).items())] += 1
        return outcomes
    finally:
        for client in clients:
            await client.aclose()


ONE_WINNER = frozenset({((200, None), 1), ((400, "task_not_reviewing"), 15)})


def test_a_change_through_one_replica_is_seen_through_the_other(replicas):
    one, two = replicas
    assert httpx.post(f"{one}{ACT}/complete", headers=auth()).status_code == 200
    assert httpx.get(f"{two}{ACT}", headers=auth()).json()["payload"]["status"] == "PROCESSING"
    again = httpx.post(f"{two}{ACT}/complete", headers=auth())
    assert (again.status_code, again.json()["code"]) == (400, "task_not_reviewing")


def test_sixteen_completes_across_replicas_have_one_winner_every_time(replicas):
    assert asyncio.run(_races(list(replicas), "race", RACES)) == {ONE_WINNER: RACES}


def test_workers_of_one_serve_share_one_sandbox(shared_url, namespace):
    with Served("--store", shared_url, "--namespace", namespace, "--workers", "2") as served:
        assert asyncio.run(_races([served.url], "workers", 50)) == {ONE_WINNER: 50}
        # Whichever worker answers, the state is the same.
        seen = {httpx.get(f"{served.url}{ACT}", headers={**auth(), **session("workers-0")}).json()["payload"]["status"]
                for _ in range(20)}
        assert seen == {"PROCESSING"}


def test_due_transitions_apply_once_whichever_replica_settles_them(replicas):
    one, two = replicas
    name = session("due")
    project = "proj_234567"  # CLASSIFY then EXTRACT: reaching EXTRACT adds predicted annotations
    upload = httpx.post(f"{one}/v2/team_123456/project/{project}/upload", headers={**auth(), **name},
                        files=[("file", ("a.pdf", b"%PDF", "application/pdf"))])
    assert upload.status_code == 201
    tasks = httpx.get(f"{two}/v2/team_123456/project/{project}/task", headers={**auth(), **name},
                      params={"upload_id": upload.json()["id"]}).json()["payload"]
    task_url = f"/v2/team_123456/project/{project}/task/{tasks[0]['id']}"
    assert httpx.post(f"{one}/_sandbox/clock", headers=name, json={"advance_seconds": 25}).status_code == 200
    assert httpx.post(f"{two}{task_url}/complete", headers={**auth(), **name}).status_code == 200
    assert httpx.post(f"{one}/_sandbox/clock", headers=name, json={"advance_seconds": 25}).status_code == 200

    async def read_from_both():
        async with httpx.AsyncClient() as client:
            return await asyncio.gather(*(client.get(f"{(one, two)[i % 2]}{task_url}", headers={**auth(), **name})
                                          for i in range(16)))
    answers = {r.content for r in asyncio.run(read_from_both())}
    assert len(answers) == 1, "every process shows the same task"
    task = httpx.get(f"{one}{task_url}", headers={**auth(), **name}).json()["payload"]
    assert (task["status"], task["step_type"]) == ("REVIEWING", "EXTRACT")
    annotations = [a for page in task["pages"] for a in page["annotations"]]
    assert len(annotations) == len({a["id"] for a in annotations}) >= 1, "predictions were added once"


def test_clock_faults_and_journal_are_one_across_replicas(replicas):
    one, two = replicas
    name = session("shared-controls")
    assert httpx.post(f"{one}/_sandbox/clock", headers=name,
                      json={"now": "2030-01-01T00:00:00Z", "freeze": True}).status_code == 200
    shown = httpx.get(f"{two}/_sandbox/clock", headers=name).json()["payload"]
    assert (shown["now"], shown["frozen"]) == ("2030-01-01T00:00:00Z", True)
    fault = {"operation": "getTask", "status": 503, "times": 1}
    assert httpx.post(f"{two}/_sandbox/faults", headers=name, json=fault).status_code == 201
    assert httpx.get(f"{one}{ACT}", headers={**auth(), **name}).status_code == 503
    assert httpx.get(f"{two}{ACT}", headers={**auth(), **name}).status_code == 200, "spent on the other replica"
    journal = httpx.get(f"{one}/_sandbox/journal", headers=name).json()
    assert [(e["status"], e["time"]) for e in journal["payload"]] == [
        (503, "2030-01-01T00:00:00Z"), (200, "2030-01-01T00:00:00Z")]
    assert [e["seq"] for e in journal["payload"]] == [1, 2]


def test_the_same_scenario_gives_the_same_ids_whichever_replica_answers(replicas):
    ids = []
    for url in replicas:
        assert httpx.post(f"{url}/_sandbox/reset", headers=session("ids"), json={}).status_code == 200
        created = [httpx.post(f"{url}{BASE}/upload", headers={**auth(), **session("ids")},
                              files=[("file", ("a.pdf", b"%PDF", "application/pdf"))]).json()["id"]
                   for _ in range(3)]
        ids.append(created)
    assert ids[0] == ids[1] and len(set(ids[0])) == 3


def test_two_teams_using_one_name_on_two_replicas_get_two_sessions(shared_url, namespace):
    store = ["--store", shared_url, "--namespace", namespace, "--admin-token", "T"]
    with Served(*store) as one, Served(*store) as two:
        one, two = one.url, two.url
        ours, theirs = {**auth(), **session("team-test")}, {**auth("key_other_team"), **session("team-test")}
        assert httpx.get(f"{one}{BASE}/task", headers=ours).status_code == 200
        assert httpx.get(f"{two}/v2/team_654321/project/proj_654321/task", headers=theirs).status_code == 200
        # The control plane with a team's key reaches that team's session of the name.
        assert httpx.post(f"{two}/_sandbox/clock", headers=theirs, json={"advance_seconds": 3600}).status_code == 200
        mine = httpx.get(f"{one}/_sandbox/journal", headers=ours).json()["payload"]
        other = httpx.get(f"{one}/_sandbox/journal", headers=theirs).json()["payload"]
        assert [e["path"] for e in mine] == [f"{BASE}/task"]
        assert [e["path"] for e in other] == ["/v2/team_654321/project/proj_654321/task"]
        clocks = [httpx.get(f"{one}/_sandbox/clock", headers=h).json()["payload"]["now"] for h in (ours, theirs)]
        assert clocks[0] < clocks[1]
        # each team lists its own; the admin sees both, with their teams
        assert httpx.get(f"{two}/_sandbox/sessions", headers=ours).json()["payload"] == ["team-test"]
        admin = httpx.get(f"{two}/_sandbox/sessions", headers={"X-Sandbox-Admin-Token": "T"}).json()["payload"]
        assert admin == ["team-test@team_123456", "team-test@team_654321"]


@pytest.mark.parametrize("idle_for, status", [(59, "PROCESSING"), (61, "REVIEWING")])
def test_an_idle_session_starts_afresh_on_the_memory_stores_clock(idle_for, status):
    app = create_app(idle_seconds=60)
    now = [time.monotonic()]
    app.store.options.monotonic = lambda: now[0]  # idleness measured on a clock the test moves
    with app.test_client() as client:
        headers = {**auth(), **session("idle")}
        assert client.post(f"{ACT}/complete", headers=headers).status_code == 200
        assert client.post(f"{ACT}/complete", headers=headers).status_code == 400
        now[0] += idle_for
        assert client.get(ACT, headers=headers).json()["payload"]["status"] == status
        now[0] += 3600
        assert client.get(ACT, headers=auth()).json()["payload"]["status"] == "REVIEWING", "default stays"


def test_an_idle_session_starts_afresh_on_redis(shared_url, namespace):
    # Redis expires an idle session's keys by their TTL, on its own clock: wait for that (and
    # fail if it never comes), looking through a call that does not count as the session's use.
    with create_app(idle_seconds=1, store=shared_url, namespace=namespace).test_client() as client:
        headers = {**auth(), **session("idle")}
        assert client.post(f"{ACT}/complete", headers=headers).status_code == 200
        assert client.post(f"{ACT}/complete", headers=headers).status_code == 400
        assert "idle" in client.get("/_sandbox/sessions", headers=auth()).json()["payload"]
        until(lambda: "idle" not in client.get("/_sandbox/sessions", headers=auth()).json()["payload"],
              "the idle session expiring", timeout=20, every=0.1)
        assert client.get(ACT, headers=headers).json()["payload"]["status"] == "REVIEWING"
        assert client.get(ACT, headers=auth()).json()["payload"]["status"] == "REVIEWING", "default stays"


def test_every_key_of_a_session_has_a_time_to_live_after_a_write_in_a_held_session(shared_url, namespace):
    # On one Redis, a write on a session its worker holds commits with its journal entry in one
    # script (COMMIT_APPEND), whose entry step alone sets each key's time to live, the keys the
    # write made among them; a cluster commits and journals in two steps. Either way a key left
    # without one would outlive its session, and no bound would count it.
    with create_app(idle_seconds=300, store=shared_url, namespace=namespace).test_client() as client:
        headers = {**auth(), **session("kept")}
        assert client.get(ACT, headers=headers).status_code == 200  # makes the session; the worker holds it
        assert client.post(f"{ACT}/complete", headers=headers).status_code == 200
    db = redis_server.client(shared_url)
    keys = {k.decode(): db.ttl(k) for k in db.scan_iter(match=f"{namespace}:s:{{kept*")}
    made = {k.rsplit(":", 1)[1] for k in keys}
    assert {"m", "r", "t", "j"} <= made, f"the write's records and timeline, and the journal: {sorted(keys)}"
    assert all(0 < ttl <= 300 for ttl in keys.values()), keys


@pytest.fixture
def own_redis():
    yield from redis_server.own("the Redis outage test")


STORY = ["Redis store unavailable", "Redis store is back after"]


def test_a_redis_outage_is_a_503_that_changes_nothing_and_passes_by_itself(own_redis, caplog):
    caplog.set_level(logging.WARNING, logger="sandbox")
    app = create_app(store=own_redis.url, namespace="outage")
    with ServerThread(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.post(f"{ACT}/approve", headers=auth()).status_code == 200
        own_redis.stop()
        for call in [lambda: client.post(f"{ACT}/complete", headers=auth()), lambda: client.get(ACT, headers=auth()),
                     lambda: client.get("/_sandbox/session")] * 10:
            started = time.monotonic()
            response = call()
            assert time.monotonic() - started < 5, "answered within a bounded time"
            assert response.status_code == 503 and response.json()["code"] == "store_unavailable", response.text
        own_redis.start()
        task = client.get(ACT, headers=auth())
        assert task.status_code == 200, "recovered by itself"
        told = [r.getMessage() for r in caplog.records if r.name == "sandbox"]
        assert [line[:len(start)] for line, start in zip(told, STORY)] == STORY and len(told) == 2, \
            f"one line as the outage starts, one as it ends, whatever the requests and senders met: {told}"
        assert (task.json()["payload"]["status"], task.json()["payload"]["approved"]) == ("REVIEWING", True), \
            "the committed approve survived; the complete during the outage did nothing"


@pytest.mark.parametrize("url", ["redis://user:s3cretpw@127.0.0.1:{port}/0",
                                 "redis+cluster://user:s3cretpw@127.0.0.1:{port},127.0.0.1:{port}"])
def test_serve_with_an_unreachable_redis_is_one_line_and_exit_2(url):
    port = redis_server.free_port()
    done = subprocess.run([sys.executable, "-m", "sandbox.tools.cli", "serve", "--store",
                           url.format(port=port), "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip() and "Warning" not in line
             and "import" not in line]
    assert done.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("task-sandbox: cannot reach the Redis store"), done.stderr
    assert "s3cretpw" not in done.stderr and "//***@127.0.0.1" in done.stderr  # the password stays out of the log


@pytest.mark.parametrize("namespace", ["a{b", "team}"])
def test_a_namespace_with_a_brace_is_refused_at_start(namespace):
    done = subprocess.run([sys.executable, "-m", "sandbox.tools.cli", "serve", "--namespace", namespace, "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--namespace" in done.stderr and "brace" in done.stderr and "hash tag" in done.stderr, done.stderr


def test_each_delivery_is_sent_once_whichever_replica_sends_it(shared_url, namespace):
    from tests.receivers import Receiver

    # Two apps on one Redis with a sender each, as two replicas, in this process: so the test can
    # wait until both senders have looked again with nothing in flight, instead of sleeping.
    apps = [create_app(store=shared_url, namespace=namespace) for _ in range(2)]
    receiver = Receiver(500, 200)  # the first attempt fails: its retry is up for grabs too
    try:
        with ServerThread(apps[0]) as one, ServerThread(apps[1]) as two:
            one, two = one.url, two.url
            hooks = session("hooks")
            httpx.post(f"{one}/_sandbox/clock", json={"freeze": True}, headers=hooks)
            sub = httpx.post(f"{two}/_sandbox/subscriptions", headers=hooks,
                             json={"project_id": "proj_123456", "url": receiver.url}).json()["payload"]
            for i in range(20):  # fired through both, so both senders are awake and compete
                fired = httpx.post(f"{(one, two)[i % 2]}/_sandbox/events", headers=hooks,
                                   json={"upload_id": "upl_123456789", "type": "upload.in_review"})
                assert fired.status_code == 201, fired.text
            receiver.wait_for(20)
            httpx.post(f"{one}/_sandbox/clock", json={"advance_seconds": 5}, headers=hooks)  # the one retry
            def delivered():
                found = httpx.get(f"{two}/_sandbox/deliveries", headers=hooks).json()["payload"]
                return found if all(d["status"] == "delivered" for d in found) else None
            found = until(delivered, "every delivery delivered", timeout=20, every=0.05)
            assert len(found) == 20 and {d["subscription_id"] for d in found} == {sub["id"]}
            for app in apps:  # anything claimed twice has been sent by now
                sender_looked(app.sender)
            sent = Counter(h["webhook-id"] for h, _ in receiver.received)
            attempts = sum(len(d["attempts"]) for d in found)
            assert len(sent) == 20 and sum(sent.values()) == attempts == 21  # once each, and the one retry
            # and with nothing left to send, no sender is told to look at the session again
            wake = redis_server.client(shared_url)
            until(lambda: wake.zscore(f"{namespace}:wake", "hooks") is None, "the session leaving the wake index")
    finally:
        receiver.close()
        for app in apps:
            app.sender.stop()
