"""How many round trips each operation costs on Redis, counted by the server itself: a read one,
a write one too (its change commits in the script that writes its journal entry and marks the
session used), a new session one more, and never a stale answer.

Redis's command statistics (INFO commandstats) count the commands a script runs too, so they
cannot tell one script from five commands; MONITOR is the server's own record of every command
it processes, each marked with who sent it ("lua" for a script's), so the commands a client
sent are exactly its round trips (the store sends no pipelines on these paths)."""
from __future__ import annotations

import threading
import uuid

import httpx
import pytest
import redis

from sandbox.app import create_app
from sandbox.http.server import ServerThread
from tests import redis_server
from tests.conftest import BASE, auth
from tests.waiting import until

TASK = f"{BASE}/task/task_abcdef123456"  # REVIEWING, passes validation (fixtures/tasks.yaml)
BOUNDARY = "rt"
UPLOAD = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
          f"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n%%EOF\r\n"
          f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\nRound trips\r\n--{BOUNDARY}--\r\n')

# operation, method, path, body, content type, status, round trips
OPERATIONS = [
    ("getTask", "GET", TASK, None, None, 200, 1),
    ("listTasks", "GET", f"{BASE}/task?limit=20", None, None, 200, 1),
    ("getUpload", "GET", f"{BASE}/upload/upl_123456789", None, None, 200, 1),
    ("a refusal (404)", "GET", f"{BASE}/task/task_nothere00000", None, None, 404, 1),
    ("a refusal (400)", "GET", f"{BASE}/task?limit=0", None, None, 400, 1),
    ("completeTask", "POST", f"{TASK}/complete", None, None, 200, 1),
    ("discardTask", "POST", f"{TASK}/discard", None, None, 200, 1),
    ("unlockTask", "POST", f"{BASE}/task/task_email000att2/unlock", None, None, 200, 1),
    ("approveTask", "POST", f"{TASK}/approve", None, None, 200, 1),
    ("disapproveTask", "POST", f"{TASK}/disapprove", None, None, 200, 1),
    ("reportTask", "POST", f"{TASK}/report", b'{"issues":[{"label":"x","value":"y"}],"message":"m"}',
     "application/json", 201, 1),
    ("createUpload", "POST", f"{BASE}/upload", UPLOAD.encode(), f"multipart/form-data; boundary={BOUNDARY}", 201, 1),
    ("moveUpload", "POST", f"{BASE}/upload/upl_123456789/move/folder_789012", None, None, 200, 1),
]


@pytest.fixture(scope="module")
def own_redis():
    """A redis-server of this module's own: MONITOR then sees this app's commands and nobody else's."""
    yield from redis_server.own("the round-trip test")


@pytest.fixture(scope="module")
def live(own_redis):
    with ServerThread(create_app(store=own_redis.url, namespace="rt")) as served:
        # Each script is loaded into Redis on its first use (SCRIPT LOAD): done here, not counted.
        httpx.post(f"{served.url}{TASK}/approve", headers={**auth(), **session("rt-warm")}, timeout=30)
        yield served


def _senders_look(command: str) -> bool:
    """A sender's read of the wake-up index: only senders read it (RedisStore.woken, next_wake). A
    sender whose thread went idle closes its connection, which CLIENT LIST then no longer names."""
    name, _, rest = command.partition(" ")
    return name.strip('"') in ("ZRANGEBYSCORE", "ZRANGE") and rest.split(" ", 1)[0].strip('"').endswith(":wake")


class Monitor:
    """The commands the server processes while it is open, as MONITOR reports them."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.closer = redis.Redis.from_url(url)
        self.closer.ping()  # its connection made now, so its handshake is not counted
        self.marker = f"rt-marker-{uuid.uuid4().hex}"
        self.commands: list[dict] = []
        self.ready = threading.Event()

    def __enter__(self) -> "Monitor":
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "MONITOR did not start"
        return self

    def _listen(self) -> None:
        with self.client.monitor() as monitor:
            self.ready.set()
            for command in monitor.listen():
                if self.marker in command["command"]:
                    return
                self.commands.append(command)

    def __exit__(self, *exc) -> None:
        self.closer.echo(self.marker)  # processed after every command sent before it: the end
        self.thread.join(10)
        # The notification senders poll on connections of their own, named so in CLIENT LIST.
        self.senders = {c["addr"].rpartition(":")[2] for c in self.closer.client_list()
                        if c["name"] == "task-sandbox-sender"}
        self.client.close()
        self.closer.close()

    def sent(self) -> list[str]:
        """The commands the API's connections sent (its round trips), leaving out those scripts
        ran and those of the notification senders, which poll on their own connections."""
        return [c["command"].split()[0] for c in self.commands
                if c.get("client_type") != "lua" and c.get("client_port") not in self.senders
                and not _senders_look(c["command"])]


def session(name: str) -> dict:
    return {"X-Sandbox-Session": name}


def request(client: httpx.Client, method: str, path: str, body, content_type, name: str) -> httpx.Response:
    headers = {**auth(), **session(name), **({"Content-Type": content_type} if content_type else {})}
    return client.request(method, path, headers=headers, content=body)


@pytest.mark.parametrize("operation,method,path,body,content_type,status,trips", OPERATIONS,
                         ids=[row[0] for row in OPERATIONS])
def test_each_operation_costs_its_round_trips(live, own_redis, operation, method, path, body, content_type,
                                              status, trips):
    name = f"rt-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=live.url, timeout=30) as client:
        # The session exists and this worker holds it (a read of it first); a write gets a fresh one.
        assert client.get(TASK, headers={**auth(), **session(name)}).status_code == 200
        with Monitor(own_redis.url) as monitor:
            answer = request(client, method, path, body, content_type, name)
        assert answer.status_code == status, answer.text
        assert len(monitor.sent()) == trips, f"{operation}: {monitor.sent()}"


def test_a_new_session_costs_one_round_trip_more(live, own_redis):
    with httpx.Client(base_url=live.url, timeout=30) as client, Monitor(own_redis.url) as monitor:
        assert client.post(f"{TASK}/approve", headers={**auth(), **session("rt-new")}).status_code == 200
    assert len(monitor.sent()) == 2, f"made (and the least recently used evicted), then the change with its entry: {monitor.sent()}"


def test_a_read_after_another_workers_write_runs_again_and_sees_it(own_redis):
    """The worker answers from what it holds only once Redis says it is current: a write made
    through another worker sends the read round again (two more round trips), never stale."""
    with ServerThread(create_app(store=own_redis.url, namespace="rt2")) as one, \
            ServerThread(create_app(store=own_redis.url, namespace="rt2")) as two, \
            httpx.Client(timeout=30) as client:
        assert client.get(f"{two.url}{TASK}", headers=auth()).json()["payload"]["status"] == "REVIEWING"
        assert client.post(f"{one.url}{TASK}/complete", headers=auth()).status_code == 200
        with Monitor(own_redis.url) as monitor:
            seen = client.get(f"{two.url}{TASK}", headers=auth())
        assert seen.json()["payload"]["status"] == "PROCESSING"
        assert len(monitor.sent()) == 3, monitor.sent()
        journal = client.get(f"{two.url}/_sandbox/journal").json()["payload"]
        assert [e["operation"] for e in journal[-3:]] == ["getTask", "completeTask", "getTask"], \
            "the read that ran again is journalled once"


def test_a_change_on_a_worker_that_held_an_older_state_runs_again_with_its_body(own_redis):
    """The commit finds the session moved, nothing is committed or answered, and the request runs
    again whole on what Redis holds, its body replayed: one report, one journal entry."""
    report = {"issues": [{"label": "total", "value": "12.00"}], "message": "again"}
    with ServerThread(create_app(store=own_redis.url, namespace="rt3")) as one, \
            ServerThread(create_app(store=own_redis.url, namespace="rt3")) as two, \
            httpx.Client(timeout=30) as client:
        assert client.get(f"{two.url}{TASK}", headers=auth()).status_code == 200
        assert client.post(f"{one.url}{TASK}/approve", headers=auth()).status_code == 200
        with Monitor(own_redis.url) as monitor:
            made = client.post(f"{two.url}{TASK}/report", headers=auth(), json=report)
        assert made.status_code == 201, made.text
        assert len(monitor.sent()) == 4, \
            f"the change with its entry refused, a fresh read, then the commit and the entry: {monitor.sent()}"
        task = client.get(f"{one.url}{TASK}", headers=auth()).json()["payload"]
        assert task["approved"] is True, "the report ran on the approved task"
        journal = client.get(f"{one.url}/_sandbox/journal").json()["payload"]
        assert [e["operation"] for e in journal[-3:]] == ["approveTask", "reportTask", "getTask"]
        assert journal[-2]["request"]["body"] == report, "the body the client sent, replayed whole"


def unauthenticated_count(client: httpx.Client, url: str) -> int:
    return client.get(f"{url}/_sandbox/report").json()["payload"]["unauthenticated"]["requests"]


def test_requests_without_a_key_cost_no_round_trip_each_and_are_counted_across_workers(own_redis):
    """A flood of 401s (anyone can send them) is counted in each process and added to Redis's
    tally in one call a second; another worker's report has them within that second."""
    with ServerThread(create_app(store=own_redis.url, namespace="rt4")) as one, \
            ServerThread(create_app(store=own_redis.url, namespace="rt4")) as two, \
            httpx.Client(timeout=30) as client:
        with Monitor(own_redis.url) as monitor:
            for _ in range(50):
                assert client.get(f"{one.url}{TASK}").status_code == 401
        assert len(monitor.sent()) <= 1, f"at most the one call a second that adds them: {monitor.sent()}"
        until(lambda: unauthenticated_count(client, two.url) == 50, "the other worker's report counts all 50")
