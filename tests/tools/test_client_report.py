"""`task-sandbox report` against a running sandbox: text, JSON and JUnit XML, and the exit status a CI job fails on."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import httpx
import pytest

from sandbox.tools import cli
from sandbox.http.server import ServerThread
from tests.conftest import BASE, auth
from tests.control.test_report import app_with

TASK = "task_abcdef123456"


def call(url: str, session: str, method: str, path: str, key: str | None = "YOUR_API_KEY", **kwargs) -> int:
    headers = {"X-Sandbox-Session": session, **(auth(key) if key else {}), **kwargs.pop("headers", {})}
    with httpx.Client(base_url=url, timeout=30) as http:
        return http.request(method, path, headers=headers, **kwargs).status_code


def report(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def clean(live):
    """Session `clean`: a client that sent only what the contract allows."""
    assert call(live.url, "clean", "GET", f"{BASE}/task/{TASK}") == 200
    assert call(live.url, "clean", "GET", f"{BASE}/task/task_nope") == 404
    assert call(live.url, "clean", "POST", f"{BASE}/task/{TASK}/complete") == 200
    assert call(live.url, "clean", "POST", f"{BASE}/task/{TASK}/complete") == 400  # a refusal, not a violation
    return live.url


@pytest.fixture
def broken(live):
    """Session `broken`: one request of each kind of violation, and one valid one."""
    assert call(live.url, "broken", "GET", f"{BASE}/task/{TASK}") == 200
    assert call(live.url, "broken", "POST", f"{BASE}/task/{TASK}/report", json={"issues": "none"}) == 400
    assert call(live.url, "broken", "GET", f"{BASE}/task/{TASK}", key="key_no_project") == 403
    assert call(live.url, "broken", "GET", f"{BASE}/tasks") == 404
    assert call(live.url, "broken", "DELETE", f"{BASE}/task/{TASK}") == 405
    return live.url


def test_a_clean_client_passes_and_sees_what_it_left_untested(capsys, clean):
    code, out, _ = report(capsys, "--base-url", clean, "--session", "clean")
    assert code == 0
    assert "Violations: 0" in out and "State-rule refusals: 1 (task_not_reviewing 1)" in out
    assert "Coverage: 4 of 78 operation x status pairs (5.1%), 2 of 11 operations" in out
    assert "getTask         200x1  404x1   untested: 400 401 403 500" in out
    assert "moveUpload      never called" in out
    assert out.rstrip().endswith("PASSED")


def test_each_violation_is_named_and_the_exit_status_fails_the_job(capsys, broken):
    code, out, _ = report(capsys, "--base-url", broken, "--session", "broken")
    assert code == 1
    assert "Violations: 4 (invalid_request 1, auth 1, unknown_route 1, wrong_method 1)" in out
    for line in (f"#2 POST {BASE}/task/{TASK}/report -> 400 invalid_request:",
                 "        body.issues: 'none' is not of type 'array'",
                 f"#3 GET {BASE}/task/{TASK} -> 403 project_not_granted:",
                 f"#4 GET {BASE}/tasks -> 404 route_not_found:",
                 f"#5 DELETE {BASE}/task/{TASK} -> 405 method_not_allowed:"):
        assert line in out
    assert "FAILED: 4 requests broke the contract (1 invalid request, 1 auth, 1 unknown route, 1 wrong method)" in out


def test_json_is_the_control_planes_report(capsys, broken):
    code, out, _ = report(capsys, "--base-url", broken, "--session", "broken", "--json")
    assert code == 1
    printed = json.loads(out)
    served = httpx.get(f"{broken}/_sandbox/report", params={"session": "broken"}).json()["payload"]
    assert printed == served and printed["violations"]["count"] == 4


def test_junit_xml_fails_the_operations_a_client_broke(capsys, broken, tmp_path):
    path = tmp_path / "contract.xml"
    code, _, _ = report(capsys, "--base-url", broken, "--session", "broken", "--junit-xml", str(path))
    assert code == 1
    suite = ElementTree.parse(path).getroot()
    cases = {c.get("name").split(" ")[0]: c for c in suite.iter("testcase")}
    assert suite.get("tests") == "13" and suite.get("failures") == "3" and suite.get("skipped") == "9"
    assert "project_not_granted" in cases["getTask"].find("failure").text
    assert cases["reportTask"].find("failure").text.startswith(f"#2 POST {BASE}/task/{TASK}/report -> 400")
    astray = cases["requests"].find("failure")
    assert astray.get("message") == "2 request(s) matched no operation"
    assert "route_not_found" in astray.text and "method_not_allowed" in astray.text
    assert cases["moveUpload"].find("skipped").get("message") == "never called by the client"
    assert cases["coverage"].find("failure") is None
    assert "untested statuses: 400 401 404 500" in cases["getTask"].find("system-out").text


@pytest.mark.parametrize("minimum, expected", [("1", 0), ("5.1", 0), ("5.2", 1), ("100", 1)])
def test_min_coverage_fails_a_client_that_tested_too_little(capsys, clean, tmp_path, minimum, expected):
    path = tmp_path / "contract.xml"
    code, out, _ = report(capsys, "--base-url", clean, "--session", "clean", "--min-coverage", minimum,
                          "--junit-xml", str(path))
    assert code == expected
    coverage = next(c for c in ElementTree.parse(path).getroot().iter("testcase") if c.get("name") == "coverage")
    assert (coverage.find("failure") is not None) == bool(expected)
    assert (f"FAILED: coverage 5.1% of the contract's operation x status pairs is under --min-coverage {minimum}%"
            in out) == bool(expected)


def test_a_prefix_reports_several_sessions_as_one(capsys, clean, broken):
    assert call(clean, "other", "GET", f"{BASE}/tasks") == 404
    code, out, _ = report(capsys, "--base-url", clean, "--prefix", "b", "--json")
    assert code == 1 and json.loads(out)["sessions"] == ["broken"]
    assert call(clean, "bravo", "GET", f"{BASE}/task") == 200
    code, out, _ = report(capsys, "--base-url", clean, "--prefix", "b")
    assert code == 1 and out.startswith("Contract report of 2 sessions: bravo, broken")
    assert "[session broken]" in out


def test_a_capped_journal_says_how_many_entries_it_dropped(capsys, store):
    with ServerThread(app_with(store, journal_size=2)) as server:
        assert call(server.url, "cap", "POST", f"{BASE}/task/{TASK}/complete", key="key_task_read_only") == 403
        for _ in range(2):
            assert call(server.url, "cap", "GET", f"{BASE}/task/{TASK}", key="key_no_project") == 403
        assert call(server.url, "cap", "GET", f"{BASE}/task/{TASK}") == 200
        code, out, _ = report(capsys, "--base-url", server.url, "--session", "cap")
    assert code == 1
    assert "the journal dropped 2 of 4 entries past its bound (--journal-size)" in out
    # two of the three kept apart from the journal, whose own two are the newest calls
    assert "Violations: 3 (auth 3)" in out and "(1 more counted, not kept: past the journal's bound)" in out
    assert out.count("-> 403 project_not_granted") == 2 and "insufficient_scope" not in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, says", [
    (["--session", "nobody"], "answered 404: No session named 'nobody'"),
    (["--prefix", ""], "answered 400: Invalid request: query.prefix"),
    ([], "the session(s) default recorded no request of a client"),
])
def test_no_report_is_exit_2_in_one_line(capsys, live, args, says):
    code, out, err = report(capsys, "--base-url", live.url, *args)
    assert (code, out) == (2, "")
    assert err.startswith("task-sandbox report: ") and says in err and err.count("\n") == 1


def test_an_unreachable_sandbox_is_exit_2(capsys):
    code, _, err = report(capsys, "--base-url", f"http://127.0.0.1:{free_port()}")
    assert code == 2 and "cannot reach the sandbox at http://127.0.0.1:" in err


def test_a_sandbox_behind_an_admin_token(capsys, store):
    with ServerThread(app_with(store, admin_token="s3cret")) as server:
        assert call(server.url, "t", "GET", f"{BASE}/tasks") == 404
        code, _, err = report(capsys, "--base-url", server.url, "--session", "t")
        assert code == 2 and "answered 403" in err and "X-Sandbox-Admin-Token" in err
        code, out, _ = report(capsys, "--base-url", server.url, "--session", "t", "--admin-token", "s3cret")
        assert code == 1 and "route_not_found" in out and "t@team_123456" in out  # the admin sees the team
        # a team's key in place of the token reports that team's sessions only
        code, out, _ = report(capsys, "--base-url", server.url, "--session", "t", "--api-key", "YOUR_API_KEY")
        assert code == 1 and "route_not_found" in out and "@team" not in out
        code, _, err = report(capsys, "--base-url", server.url, "--session", "t", "--api-key", "key_other_team")
        assert code == 2 and "No session named 't'" in err


@pytest.mark.parametrize("args, says", [
    (["--session", "a", "--prefix", "b"], "not allowed with argument"),
    (["--min-coverage", "101"], "is not a percentage"),
    (["--min-coverage", "lots"], "is not a percentage"),
])
def test_bad_arguments_are_refused_by_the_commands_own_usage(capsys, args, says):
    with pytest.raises(SystemExit) as exited:
        cli.main(["report", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "task-sandbox report" in err and says in err


def test_help_explains_the_exit_status():
    out = subprocess.run([sys.executable, "-m", "sandbox", "report", "--help"], capture_output=True, text=True,
                         timeout=60).stdout
    for text in ("--session", "--prefix", "--json", "--junit-xml", "--min-coverage", "--fail-on-upstream", "0 clean, 1 the client's violations"):
        assert text in out


def test_control_characters_a_client_sent_reach_neither_the_terminal_nor_the_xml(capsys, live, tmp_path):
    assert call(live.url, "ctl", "GET", f"{BASE}/task/task_%1b[31mRED%01") == 404
    path = tmp_path / "contract.xml"
    code, out, _ = report(capsys, "--base-url", live.url, "--session", "ctl", "--junit-xml", str(path))
    assert code == 1
    assert "\x1b" not in out and "\x01" not in out
    assert f"GET {BASE}/task/task_\\x1b[31mRED\\x01 -> 404 route_not_found" in out
    astray = next(c for c in ElementTree.parse(path).getroot().iter("testcase") if c.get("name").startswith("requests"))
    assert "task_\\x1b[31mRED" in astray.find("failure").text


def test_the_sandbox_is_found_through_task_sandbox_url(capsys, clean, monkeypatch):
    monkeypatch.setenv("TASK_SANDBOX_URL", clean)
    code, out, _ = report(capsys, "--session", "clean")  # no --base-url
    assert code == 0 and out.rstrip().endswith("PASSED")
    monkeypatch.setenv("TASK_SANDBOX_URL", "http://127.0.0.1:9")
    code, _, err = report(capsys, "--base-url", clean, "--session", "clean")  # the option still wins
    assert code == 0
    parser = cli._parser()
    assert parser.parse_args(["verify"]).base_url == "http://127.0.0.1:9"
    assert parser.parse_args(["listen"]).base_url == "http://127.0.0.1:9"


def test_a_reader_that_goes_away_ends_the_report_quietly(live):
    for _ in range(20):  # violations with large bodies: far more JSON than a pipe holds
        assert call(live.url, "big", "POST", f"{BASE}/task/{TASK}/report", json={"issues": "x" * 8000}) == 400
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "report", "--base-url", live.url, "--session", "big",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(10) == b'{\n  "sessi'
    proc.stdout.close()  # as `| head -c 10` does
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141 and "Traceback" not in err and "BrokenPipe" not in err


def _both_sides() -> dict:
    from sandbox import spec
    from sandbox.control import report as reports
    from tests.control.test_report import _proxied

    return reports.build(spec.Contract(spec.load_public()), {"ci": _proxied(["undeclared_status"], "invalid_request")})


def test_the_text_of_a_proxys_report_lists_each_side_apart():
    from sandbox.control.report import failures
    from sandbox.tools.client_report import text

    found = _both_sides()
    out = text(found, failures(found))
    client, upstream = out.index("Client side (the request broke"), out.index("Upstream side (the answer broke")
    assert client < out.index("query.x: is not a parameter") < upstream < out.index("body: off")
    assert "Client side (the request broke the contract): 1 (invalid_request 1)" in out
    assert "Upstream side (the answer broke the contract: drift between the API and openapi.yaml): 1 " \
           "(undeclared_status 1)" in out
    assert out.rstrip().endswith("FAILED: 1 request broke the contract (1 invalid request)")


@pytest.mark.parametrize("upstream, drift", [(False, "skipped"), (True, "failure")])
def test_junit_of_a_proxys_report_fails_the_clients_side_and_keeps_the_upstreams_as_drift(upstream, drift):
    from sandbox.control.report import failures
    from sandbox.tools.client_report import junit

    found = _both_sides()
    root = ElementTree.fromstring(junit(found, failures(found, upstream=upstream)))
    cases = {(c.get("classname"), c.get("name").split(" ")[0]): c for c in root.iter("testcase")}
    assert cases[("contract", "getTask")].find("failure") is not None
    assert cases[("upstream", "upstream")].find(drift) is not None, "the upstream's answers of getTask"
    assert "undeclared_status" not in ElementTree.tostring(cases[("contract", "getTask")]).decode()
