"""A pytest plugin for partners: a running sandbox, a fresh session per test, journal and state helpers.

Installed with the package (entry point `pytest11`); in a test, ask for the `task_sandbox` fixture:

    def test_complete(task_sandbox):
        answer = task_sandbox.client.post(task_sandbox.task_path("task_abcdef123456") + "/complete")
        assert answer.json()["message"] == "Task processing started"
"""
from __future__ import annotations

import os
import re
import uuid

import json
from pathlib import Path

import httpx
import pytest

from sandbox.tools import client_report
from sandbox.control import report
from sandbox.control.sessions import HEADER

KEYS = {"full": "YOUR_API_KEY", "task_read": "key_task_read_only", "task_edit": "key_task_edit_only",
        "no_project": "key_no_project", "other_team": "key_other_team"}
TEAM, PROJECT = "team_123456", "proj_123456"


EXPECTS = "sandbox_expects_violations"
REPORTS = pytest.StashKey[list]()  # (test's node id, its session's report, whether it expects violations)
RUN_REPORT = pytest.StashKey[tuple]()  # the run's report, merged once at the end (_run_report)


def pytest_configure(config):
    config.addinivalue_line("markers", f"{EXPECTS}: this test sends requests that break the contract on "
                                       "purpose; the sandbox's report counts them on a line of their own and never fails the run on them")
    config.stash[REPORTS] = []
    # connexion 3.3 warns about its own dependencies (starlette's test client, jsonschema's
    # RefResolver): noise in a partner's run that they can do nothing about.
    for line in ("ignore:Using `httpx` with `starlette.testclient` is deprecated",
                 "ignore::DeprecationWarning:connexion.*", "ignore:.*RefResolver.*:DeprecationWarning"):
        config.addinivalue_line("filterwarnings", line)


def pytest_addoption(parser):
    group = parser.getgroup("task-sandbox")
    group.addoption("--sandbox-url", default=None, metavar="URL",
                    help="use the Task API sandbox running at URL instead of starting one in-process")
    group.addoption("--sandbox-admin-token", default=os.environ.get("TASK_SANDBOX_ADMIN_TOKEN"), metavar="TOKEN",
                    help="admin token of a sandbox started with --admin-token "
                         "(default: $TASK_SANDBOX_ADMIN_TOKEN)")
    group.addoption("--sandbox-api-key", default=os.environ.get("TASK_SANDBOX_API_KEY"), metavar="KEY",
                    help="the key `task_sandbox.client` sends (default: $TASK_SANDBOX_API_KEY, else YOUR_API_KEY); "
                         "through `task-sandbox proxy`, the platform's key")
    group.addoption("--sandbox-fail-on-violations", action="store_true",
                    help="fail the run when a test's client sent a request that broke the contract "
                         "(the contract report ends the run either way)")
    group.addoption("--sandbox-report", metavar="FILE",
                    help="also write the run's contract report as JSON to FILE")


class Sandbox:
    """One test's view of the sandbox: its own session, reset to the fixtures before the test."""

    def __init__(self, base_url: str, session: str, key: str = KEYS["full"], admin_token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.keys = dict(KEYS)
        self.headers = {"Authorization": f"Bearer {key}", HEADER: session}
        self.client = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30)
        # The key goes to the control plane too: a session belongs to a team, and a control
        # call reaches the session of the team whose key it carries (docs/control-plane.md, Sessions).
        control = {HEADER: session, "Authorization": f"Bearer {key}",
                   **({"X-Sandbox-Admin-Token": admin_token} if admin_token else {})}
        self._control = httpx.Client(base_url=f"{self.base_url}/_sandbox", headers=control, timeout=30)
        self._clients: list[httpx.Client] = []
        self._before_reset: list[dict] = []  # reports of this session taken before each reset

    def client_for(self, key: str, *, raw: bool = False) -> httpx.Client:
        """A client of this test's session that sends another of the default keys: "full",
        "task_read", "task_edit", "no_project" or "other_team", or one of their values.
        `raw=True` sends `key` as it is, for a test of a key the sandbox must refuse; any
        other name is a mistake, refused here rather than as a 401 later."""
        if not raw and key not in self.keys and key not in self.keys.values():
            raise ValueError(f"client_for({key!r}): no such key; use one of {', '.join(map(repr, self.keys))}, "
                             "or client_for(key, raw=True) to send a key the sandbox does not know")
        client = httpx.Client(base_url=self.base_url, timeout=30, headers={
            "Authorization": f"Bearer {self.keys.get(key, key)}", HEADER: self.session})
        self._clients.append(client)
        return client

    def task_path(self, task_id: str, team: str = TEAM, project: str = PROJECT) -> str:
        return f"/v2/{team}/project/{project}/task/{task_id}"

    def upload_path(self, upload_id: str, team: str = TEAM, project: str = PROJECT) -> str:
        """Where an upload is; add `/move/<folder id>` to move it."""
        return f"/v2/{team}/project/{project}/upload/{upload_id}"

    def folders(self, project_id: str | None = PROJECT) -> list[dict]:
        """The project's folders (id, name, role: inbox, processed, reported, bin or custom)."""
        return self._call("GET", "/folders", params={"project_id": project_id} if project_id else None)["payload"]

    def _call(self, method: str, path: str, **kwargs):
        response = self._control.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"sandbox control call {method} {path} failed: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def reset(self, scenario: str | None = None) -> dict:
        # A reset empties the journal: what the client did so far stays in the test's report.
        mine = self._control.get("/report")
        found = mine.json()["payload"] if mine.status_code == 200 else None
        if found and found["requests"]:
            self._before_reset.append(found)
        return self._call("POST", "/reset", json={"scenario": scenario} if scenario else None)["payload"]

    def journal(self, **filters) -> list[dict]:
        """Calls this test's client made, oldest first; filters: operation, task_id, status, since, limit."""
        return self._call("GET", "/journal", params={k: v for k, v in filters.items() if v is not None})["payload"]

    def force_status(self, task_id: str, status: str, step_type: str | None = None) -> dict:
        body = {"status": status, **({"step_type": step_type} if step_type else {})}
        return self._call("PUT", f"/tasks/{task_id}/status", json=body)["payload"]

    def freeze(self) -> dict:
        return self._call("POST", "/clock", json={"freeze": True})["payload"]

    def advance(self, seconds: float) -> dict:
        return self._call("POST", "/clock", json={"advance_seconds": seconds})["payload"]

    def fault(self, operation: str, **rule) -> dict:
        return self._call("POST", "/faults", json={"operation": operation, **rule})["payload"]

    def load(self, **records) -> dict:
        return self._call("POST", "/fixtures", json=records)["payload"]

    # -- notifications (docs/notifications.md) --
    def events(self, type: str | None = None, upload_id: str | None = None) -> list[dict]:  # noqa: A002
        """The session's upload events so far, oldest first, whether or not anyone subscribed."""
        return self._call("GET", "/events", params={k: v for k, v in (("type", type), ("upload_id", upload_id))
                                                    if v is not None})["payload"]

    def wait_for_event(self, type: str, upload_id: str | None = None, within: float = 3600,  # noqa: A002
                       step: float = 1) -> dict:
        """The first `type` event (of `upload_id`) not seen before this call, moving the session's
        frozen clock on `step` seconds at a time, for at most `within` seconds of virtual time:
        deterministic, and a test never sleeps. Fails the test if none fires."""
        seen = {e["id"] for e in self.events(type, upload_id)}
        self.freeze()
        waited = 0.0
        while True:
            fresh = [e for e in self.events(type, upload_id) if e["id"] not in seen]
            if fresh:
                return fresh[0]
            if waited >= within:
                raise AssertionError(f"no {type} event" + (f" for {upload_id}" if upload_id else "")
                                     + f" within {within:g} s of the sandbox's clock")
            self.advance(step)
            waited += step

    def subscribe(self, url: str, project_id: str = PROJECT, **fields) -> dict:
        """A subscription of this session (its answer holds the secret, shown only here)."""
        return self._call("POST", "/subscriptions", json={"project_id": project_id, "url": url, **fields})["payload"]

    def deliveries(self, **filters) -> list[dict]:
        """Deliveries with every attempt; filters: subscription_id, event_id, status."""
        return self._call("GET", "/deliveries", params=filters)["payload"]

    def report(self) -> dict | None:
        """The contract report of this test's session (and its other teams' sessions of the
        same name), resets included: sandbox/control/report.py. None if there is none."""
        response = self._control.get("/report", params={"session": self.session})
        found = [*self._before_reset, *([response.json()["payload"]] if response.status_code == 200 else [])]
        return report.merge(found) if found else None

    def close(self) -> None:
        """Delete the session (a shared sandbox keeps no trace of the test) and the clients."""
        for client in (self.client, *self._clients):  # each team's session of this name
            try:
                self._control.delete("/session", headers={"Authorization": client.headers["Authorization"]})
            except httpx.HTTPError:
                pass  # the sandbox is gone already: nothing left to clean
        for client in (self.client, self._control, *self._clients):
            client.close()


@pytest.fixture(scope="session")
def task_sandbox_url(request):
    """The base URL of the sandbox: --sandbox-url, or one started in-process for the run."""
    url = request.config.getoption("--sandbox-url")
    if url:
        yield url.rstrip("/")
        return
    from sandbox.app import create_app
    from sandbox.http.server import ServerThread

    with ServerThread(create_app()) as server:
        yield server.url


RUN = uuid.uuid4().hex[:8]  # two runs (CI jobs, xdist workers) sharing one sandbox never share a session


@pytest.fixture
def task_sandbox(task_sandbox_url, request):
    """A fresh session of the sandbox for this test, named after it and this run (B12)."""
    run = "-".join(filter(None, [RUN, os.environ.get("PYTEST_XDIST_WORKER")]))
    test = re.sub(r"[^A-Za-z0-9._:-]", "-", request.node.nodeid)[-(62 - len(run)):].lstrip("-._:")
    sandbox = Sandbox(task_sandbox_url, f"{run}-{test}" if test else run,
                      key=request.config.getoption("--sandbox-api-key") or KEYS["full"],
                      admin_token=request.config.getoption("--sandbox-admin-token"))
    sandbox.reset()
    yield sandbox
    try:
        found = _keep_report(sandbox, request)
    finally:
        sandbox.close()
    expects = request.node.get_closest_marker(EXPECTS) is not None
    if found and report.client_violations(found) and not expects \
            and request.config.getoption("--sandbox-fail-on-violations"):
        # in teardown, so the test that sent them errors: JUnit XML and every CI page show it there
        pytest.fail(_violations_of(found), pytrace=False)


def _violations_of(found: dict) -> str:
    """What this test's requests broke, as `task-sandbox report` lists it."""
    lines = [f"this test's requests broke the contract ({found['violations']['count']}; "
             f"--sandbox-fail-on-violations):"]
    for entry in found["violations"]["entries"]:
        lines.append(client_report.printable(f"  #{entry['seq']} {entry['method']} {entry['path']} -> "
                                             f"{entry['status']} {entry['code']}: {entry.get('error') or ''}"))
        lines += [client_report.printable(f"      {p['location']}: {p['message']}") for p in entry.get("problems", ())]
    return "\n".join(lines)


def _keep_report(sandbox: Sandbox, request) -> dict | None:
    try:
        found = sandbox.report()
    except httpx.HTTPError:
        return None  # the sandbox is gone: the test's own failure says why
    if found is not None and found["requests"]:
        for group in ("violations", "refusals"):
            for entry in found[group]["entries"]:
                entry["test"] = request.node.nodeid
        request.config.stash.setdefault(REPORTS, []).append((request.node.nodeid, found,
                                                             request.node.get_closest_marker(EXPECTS) is not None))
    return found


def _run_report(config) -> tuple[dict, int] | None:
    """The run's report, and how many violations tests marked sandbox_expects_violations sent;
    merged once (session finish, then the terminal summary, read it)."""
    if RUN_REPORT not in config.stash:
        found = config.stash.get(REPORTS, [])
        expected = sum(r["violations"]["count"] for _, r, expects in found if expects)
        quiet = [{**r, "violations": {"count": 0, "by": dict.fromkeys(r["violations"]["by"], 0), "kept": 0,
                                      "not_kept": 0, "entries": []}} if expects else r for _, r, expects in found]
        config.stash[RUN_REPORT] = (report.merge(quiet), expected) if found else None
    return config.stash[RUN_REPORT]


WORKER_OUTPUT = "task_sandbox_reports"


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # a pytest-xdist worker: its controller reports
        session.config.workeroutput[WORKER_OUTPUT] = json.dumps(session.config.stash.get(REPORTS, []))
        return
    made = _run_report(session.config)
    if made is None:
        return
    if session.config.getoption("--sandbox-report"):  # with a verdict, as `task-sandbox verify --json` writes
        violated = bool(report.client_violations(made[0]))
        Path(session.config.getoption("--sandbox-report")).write_text(json.dumps(
            {"verdict": "violations" if violated else "clean", "exit_status": int(violated), **made[0]}, indent=2))
    if session.config.getoption("--sandbox-fail-on-violations") and report.client_violations(made[0]) \
            and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: gather what each worker's tests found."""
    found = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
    if found:
        node.config.stash.setdefault(REPORTS, []).extend(tuple(item) for item in json.loads(found))


def pytest_terminal_summary(terminalreporter, config):
    made = _run_report(config)
    if made is None:
        return
    run, expected = made
    terminalreporter.section("task-sandbox contract report")
    terminalreporter.write_line(client_report.text(run, report.failures(run)))
    if expected:
        terminalreporter.write_line(f"({expected} more violation(s) from tests marked {EXPECTS}, not counted)")
    if report.client_violations(run) and not config.getoption("--sandbox-fail-on-violations"):
        terminalreporter.write_line("(--sandbox-fail-on-violations would fail this run)")
