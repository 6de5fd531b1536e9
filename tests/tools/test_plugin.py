"""The pytest plugin, as a partner uses it: installed with the package, in a project of its own."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sandbox.app import create_app
from sandbox.http.server import ServerThread

pytest_plugins = ["pytester"]

PARTNER_TESTS = '''
def test_complete(task_sandbox):
    answer = task_sandbox.client.post(task_sandbox.task_path("task_abcdef123456") + "/complete")
    assert answer.json()["message"] == "Task processing started"


def test_each_test_starts_from_the_fixtures(task_sandbox):
    answer = task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456"))
    assert answer.json()["payload"]["status"] == "REVIEWING"


def test_helpers(task_sandbox):
    task_sandbox.freeze()
    task_sandbox.client.post(task_sandbox.task_path("task_abcdef123456") + "/complete")
    [entry] = task_sandbox.journal(operation="completeTask")
    assert entry["status"] == 200
    task_sandbox.advance(30)
    assert task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456")).json()["payload"]["status"] == "COMPLETED"
    assert task_sandbox.force_status("task_abcdef123456", "FAILED")["status"] == "FAILED"
    task_sandbox.fault("getTask", status=503, times=1)
    assert task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456")).status_code == 503
    assert task_sandbox.keys["task_read"] == "key_task_read_only"


def test_a_client_per_key(task_sandbox):
    reader = task_sandbox.client_for("task_read")
    assert reader.get(task_sandbox.task_path("task_abcdef123456")).status_code == 200
    assert reader.post(task_sandbox.task_path("task_abcdef123456") + "/complete").status_code == 403


def test_events_on_the_virtual_clock(task_sandbox):
    upload = "upl_email0001"
    review = task_sandbox.wait_for_event("upload.in_review", upload_id=upload)
    assert review["body"]["upload"]["status"] == "IN_REVIEW"
    for task in ("task_email000body", "task_email000att1"):
        assert task_sandbox.client.post(task_sandbox.task_path(task) + "/complete").status_code == 200
    processed = task_sandbox.wait_for_event("upload.processed", upload_id=upload)
    assert processed["body"]["upload"]["status"] == "COMPLETED"
    assert [e["type"] for e in task_sandbox.events(upload_id=upload)] == ["upload.in_review", "upload.processed"]
    bin_folder = next(f["id"] for f in task_sandbox.folders() if f["role"] == "bin")
    moved = task_sandbox.client.post(task_sandbox.upload_path(upload) + f"/move/{bin_folder}")
    assert moved.json()["payload"]["folder_id"] == bin_folder
    sub = task_sandbox.subscribe("http://127.0.0.1:9/never", events=["upload.processed"])
    assert sub["secret"].startswith("whsec_") and task_sandbox.deliveries() == []
'''


def test_a_partner_project_passes_with_an_in_process_sandbox(pytester):
    pytester.makepyfile(test_partner=PARTNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_a_partner_project_can_use_a_running_sandbox(pytester):
    # The sessions are read from the app, not over HTTP: a first HTTP call made inside pytester's
    # module snapshot leaves httpx with httpcore's exceptions from modules the snapshot drops.
    app = create_app()
    with ServerThread(app) as server:
        pytester.makepyfile(test_partner=PARTNER_TESTS)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--sandbox-url={server.url}")
        result.assert_outcomes(passed=5)
        # a fresh session per test, deleted after it: the shared sandbox keeps only its default
        assert asyncio.run(app.sessions.sids([None])) == ["default"]


def test_a_failing_partner_test_fails(pytester):
    pytester.makepyfile(test_partner='''
def test_wrong(task_sandbox):
    assert task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456")).json()["payload"]["status"] == "COMPLETED"
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_the_option_is_listed_in_pytest_help(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--sandbox-url=URL*"])


def test_a_sandbox_behind_an_admin_token(pytester):
    app = create_app(admin_token="s3cret")
    with ServerThread(app) as server:
        pytester.makepyfile(test_partner=PARTNER_TESTS)
        # a partner holds no token: its key opens its own team's sessions on the control plane
        with_key = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--sandbox-url={server.url}")
        with_key.assert_outcomes(passed=5)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--sandbox-url={server.url}",
                                               "--sandbox-admin-token=s3cret")
        result.assert_outcomes(passed=5)
        # every test's session was its team's, and was deleted after it
        assert asyncio.run(app.sessions.sids(["team_123456"])) == []


def test_two_runs_on_one_sandbox_keep_apart(pytester):
    app = create_app()
    with ServerThread(app) as server:
        pytester.makepyfile(test_partner=PARTNER_TESTS)
        for _ in range(2):
            pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--sandbox-url={server.url}").assert_outcomes(
                passed=5)
        # each test's session is deleted after it: a shared sandbox keeps only its default
        assert asyncio.run(app.sessions.sids([None])) == ["default"]


CLIENT_TESTS = '''
import pytest


def test_clean(task_sandbox):
    assert task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456")).status_code == 200


def test_forgets_the_issues(task_sandbox):
    answer = task_sandbox.client.post(task_sandbox.task_path("task_abcdef123456") + "/report", json={"message": "x"})
    assert answer.status_code == 400


@pytest.mark.sandbox_expects_violations
def test_handles_a_key_without_the_project(task_sandbox):
    assert task_sandbox.client_for("key_no_project").get(task_sandbox.task_path("task_abcdef123456")).status_code == 403
'''


def test_the_run_ends_with_the_contract_report(pytester):
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-report", "report.json")
    result.assert_outcomes(passed=3)
    assert result.ret == 0  # the report informs; only the option fails the run
    result.stdout.fnmatch_lines([
        "*task-sandbox contract report*",
        "Violations: 1 (invalid_request 1)",
        "*#1 POST /v2/team_123456/project/proj_123456/task/task_abcdef123456/report -> 400 invalid_request:*"
        "(in test_client.py::test_forgets_the_issues)",
        "*body.issues: 'issues' is a required property",
        "Coverage: 3 of 78 operation x status pairs*",
        "FAILED: 1 request broke the contract (1 invalid request)",
        "(1 more violation(s) from tests marked sandbox_expects_violations, not counted)",
        "(--sandbox-fail-on-violations would fail this run)",
    ])
    written = json.loads((pytester.path / "report.json").read_text())
    assert (written["verdict"], written["exit_status"]) == ("violations", 1)  # as verify --json says it
    assert written["requests"] == 3 and written["violations"]["count"] == 1
    assert [e["test"] for e in written["violations"]["entries"]] == ["test_client.py::test_forgets_the_issues"]
    assert len(written["sessions"]) == 3


def test_the_option_fails_the_test_whose_request_broke_the_contract_where_ci_looks(pytester):
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-fail-on-violations",
                                           "--junitxml", "junit.xml")
    result.assert_outcomes(passed=3, errors=1)  # the test passed; its teardown says what it broke
    assert result.ret == 1
    result.stdout.no_fnmatch_line("*would fail this run*")
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_forgets_the_issues*",
                                 "*#1 POST /v2/team_123456/project/proj_123456/task/task_abcdef123456/report -> 400 "
                                 "invalid_request*", "*body.issues: 'issues' is a required property*"])
    import xml.etree.ElementTree as ElementTree

    suite = ElementTree.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite.get("errors") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert "report -> 400 invalid_request" in cases["test_forgets_the_issues"].find("error").get("message")
    assert cases["test_clean"].find("error") is None
    assert cases["test_handles_a_key_without_the_project"].find("error") is None  # marked: expected


def test_violations_a_test_expects_never_fail_the_run(pytester):
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-fail-on-violations",
                                           "-k", "not forgets")
    result.assert_outcomes(passed=2, deselected=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["Violations: 0*", "PASSED"])


def test_under_xdist_the_controller_reports_every_workers_tests(pytester):
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--sandbox-fail-on-violations",
                                           "--sandbox-report", "report.json")
    result.assert_outcomes(passed=3, errors=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["Violations: 1 (invalid_request 1)",
                                 "(1 more violation(s) from tests marked sandbox_expects_violations, not counted)"])
    assert json.loads((pytester.path / "report.json").read_text())["requests"] == 3


def test_a_reset_inside_a_test_keeps_what_the_client_did_before_it(pytester):
    pytester.makepyfile(test_client='''
def test_resets(task_sandbox):
    assert task_sandbox.client.get("/v2/team_123456/project/proj_123456/tasks").status_code == 404
    task_sandbox.reset()
    assert task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456")).status_code == 200
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-fail-on-violations")
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["Violations: 1 (unknown_route 1)", "*-> 404 route_not_found:*(in test_client.py::test_resets)"])


def test_a_mistyped_key_name_is_refused_naming_the_keys(pytester):
    pytester.makepyfile(test_typo='''
import pytest


def test_typo(task_sandbox):
    with pytest.raises(ValueError) as refused:
        task_sandbox.client_for("read_only")
    assert "'task_read'" in str(refused.value) and "raw=True" in str(refused.value)
    assert task_sandbox.client_for("key_task_read_only").get(task_sandbox.task_path("task_abcdef123456")).status_code == 200
    assert task_sandbox.client_for("nope", raw=True).get(task_sandbox.task_path("task_abcdef123456")).status_code == 401
''')
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_every_readme_example_passes_under_the_option(pytester):
    import re

    root = Path(__file__).resolve().parents[2]
    pages = "\n".join(p.read_text(encoding="utf-8") for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    examples = [b for b in re.findall(r"```python\n(.*?)```", pages, re.S) if "task_sandbox" in b]
    assert len(examples) >= 4
    pytester.makepyfile(**{f"test_readme_{i}": "import pytest\n\n" + b for i, b in enumerate(examples)})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-fail-on-violations")
    result.assert_outcomes(passed=len(examples))
    assert result.ret == 0


THROUGH_A_PROXY = '''
def test_reads(task_sandbox):
    assert task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456")).status_code == 200


def test_breaks_the_contract(task_sandbox):
    task_sandbox.client.get(task_sandbox.task_path("task_abcdef123456") + "?colour=red")
'''


def test_a_partner_suite_runs_through_a_proxy_with_its_key_and_fails_on_its_own_violations(pytester, tmp_path):
    from sandbox.proxy.app import create_proxy_app

    platform = create_app()
    with ServerThread(platform) as upstream, ServerThread(create_proxy_app(upstream.url)) as proxy:
        pytester.makepyfile(test_partner=THROUGH_A_PROXY)
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", f"--sandbox-url={proxy.url}", "--sandbox-api-key=key_task_read_only",
            "--sandbox-fail-on-violations", f"--sandbox-report={tmp_path / 'contract.json'}")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_breaks_the_contract*", "*query.colour: is not a parameter of this operation*"])
    found = json.loads((tmp_path / "contract.json").read_text())
    assert found["violations"]["by_side"] == {"client": 1, "upstream": 0} and found["requests"] == 2
    # the key the option named reached the platform: a read-only key's read was answered 200
    assert found["coverage"]["operations"][1]["statuses"][0] == {"status": 200, "declared": True, "count": 1}
