"""`task-sandbox report`: a client's contract report (sandbox/control/report.py), fetched from a
running sandbox and shown as text, JSON or JUnit XML for CI."""
from __future__ import annotations

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import httpx

from sandbox.control.report import failures
from sandbox.control.report import side as report_side
from sandbox.tools.defaults import base_url

EXIT_CLEAN, EXIT_FAILED, EXIT_UNREPORTED = 0, 1, 2


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage (0-100)")
    return value


def add_parser(commands) -> None:
    report = commands.add_parser(
        "report", help="what a client's tests exercised of the contract, and where they broke it",
        description="After a client's test suite ran against the sandbox (or through `task-sandbox proxy`): every operation x status of "
                    "the contract, exercised or not, with counts; every request that broke the contract "
                    "(invalid body or parameters, missing or wrong auth, unknown route, wrong method) "
                    "with its journal entry; behind a proxy, every answer of the upstream that broke it "
                    "(undeclared status, missing header, body off its schema), listed apart as drift; and "
                    "the lifecycle rules' refusals the client met. "
                    "Exit status: 0 clean, 1 the client's violations (or coverage under --min-coverage), 2 no report "
                    "(sandbox unreachable, no such session).",
        epilog="examples:\n  task-sandbox report --session ci-42\n"
               "  task-sandbox report --prefix ci-42- --junit-xml contract.xml --min-coverage 60",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("--base-url", default=base_url(), metavar="URL",
                        help="the sandbox (default: $TASK_SANDBOX_URL, else http://127.0.0.1:4010)")
    which = report.add_mutually_exclusive_group()
    which.add_argument("--session", metavar="NAME",
                       help="the session the client used (its X-Sandbox-Session; default: the default session)")
    which.add_argument("--prefix", metavar="PREFIX", help="every session whose name starts with PREFIX, as one report")
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    report.add_argument("--junit-xml", metavar="FILE", help="also write the report as JUnit XML for CI")
    report.add_argument("--min-coverage", metavar="PERCENT", type=_percent,
                        help="also fail when under PERCENT of the contract's operation x status pairs were exercised")
    report.add_argument("--fail-on-upstream", action="store_true",
                        help="behind `task-sandbox proxy`: also fail when the upstream's answers broke the contract "
                             "(default: they are listed as drift, and only the client's violations fail)")
    report.add_argument("--admin-token", default=os.environ.get("TASK_SANDBOX_ADMIN_TOKEN"), metavar="TOKEN",
                        help="X-Sandbox-Admin-Token, for a sandbox started with one (default: $TASK_SANDBOX_ADMIN_TOKEN)")
    report.add_argument("--api-key", default=os.environ.get("TASK_SANDBOX_API_KEY"), metavar="KEY",
                        help="a team's API key instead of the admin token: on a sandbox started with an admin token "
                             "it reports that team's own sessions (default: $TASK_SANDBOX_API_KEY)")


def fetch(base_url: str, session: str | None = None, prefix: str | None = None,
          admin_token: str | None = None, api_key: str | None = None) -> dict:
    """The report, or ReportError saying in one line why there is none."""
    params = {"prefix": prefix} if prefix is not None else {"session": session or "default"}
    headers = {"X-Sandbox-Admin-Token": admin_token} if admin_token else {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url = base_url.rstrip("/") + "/_sandbox/report"
    try:
        answer = httpx.get(url, params=params, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise ReportError(f"cannot reach the sandbox at {base_url}: {exc}") from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code != 200 or not isinstance(body, dict) or "payload" not in body:
        said = body.get("error") if isinstance(body, dict) else answer.text[:200]
        raise ReportError(f"{url} answered {answer.status_code}: {said}")
    return body["payload"]


class ReportError(Exception):
    """Why there is no report, as one line for a person."""


def run(args: argparse.Namespace) -> int:
    try:
        report = fetch(args.base_url, args.session, args.prefix, args.admin_token, args.api_key)
    except ReportError as exc:
        print(f"task-sandbox report: {exc}", file=sys.stderr)
        return EXIT_UNREPORTED
    if report["requests"] == 0:
        print(f"task-sandbox report: the session(s) {', '.join(report['sessions'])} recorded no request of a "
              "client: is it the session the client used (X-Sandbox-Session)?", file=sys.stderr)
        return EXIT_UNREPORTED
    reasons = failures(report, args.min_coverage, upstream=args.fail_on_upstream)
    print(json.dumps(report, indent=2) if args.json else text(report, reasons))
    if args.junit_xml:
        Path(args.junit_xml).write_bytes(junit(report, reasons))
    return EXIT_FAILED if reasons else EXIT_CLEAN


def printable(text: str) -> str:
    """A client's path or body may hold control characters: escaped, so they reach neither a
    terminal as escape sequences nor a JUnit file as characters XML cannot hold."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _line(entry: dict) -> str:
    where = f" (in {entry['test']})" if entry.get("test") else f" [session {entry['session']}]"
    return printable(f"#{entry['seq']} {entry['method']} {entry['path']} -> {entry['status']} {entry['code']}: "
                     f"{entry.get('error') or ''}{where}")


def _entries(group: dict, indent: str = "    ") -> list[str]:
    lines = []
    for entry in group["entries"]:
        lines.append(indent + _line(entry))
        lines += [indent + "    " + printable(f"{p.get('location')}: {p.get('message')}")
                  for p in entry.get("problems") or [] if isinstance(p, dict)]
    if group["not_kept"]:
        lines.append(f"{indent}({group['not_kept']} more counted, not kept: past the journal's bound)")
    return lines


SIDES = (("client", "Client side (the request broke the contract)"),
         ("upstream", "Upstream side (the answer broke the contract: drift between the API and openapi.yaml)"))


def _side(group: dict, side: str) -> dict:
    """The group's entries of one side; a count of those not kept only on the client's."""
    return {**group, "entries": [e for e in group["entries"] if e.get("side", "client") == side],
            "not_kept": group["not_kept"] if side == "client" else 0}


def untested(operation: dict) -> list[int]:
    return [s["status"] for s in operation["statuses"] if s["declared"] and not s["count"]]


def text(report: dict, reasons: list[str]) -> str:
    sessions = report["sessions"]
    journal = report["journal"]
    lines = [printable(f"Contract report of {len(sessions)} session{'s' if len(sessions) != 1 else ''}: "
                       f"{', '.join(sessions[:5])}{', ...' if len(sessions) > 5 else ''}"),
             f"  {report['requests']} request{'s' if report['requests'] != 1 else ''} of the client"]
    if journal["dropped"]:
        lines.append(f"  the journal dropped {journal['dropped']} of {journal['recorded']} entries past its bound "
                     "(--journal-size); every count below still includes them")
    violations, refusals = report["violations"], report["refusals"]
    lines += ["", f"Violations: {violations['count']}"
              + (" (" + ", ".join(f"{k} {n}" for k, n in violations["by"].items() if n) + ")" if violations["count"] else
                 " - every request the client sent was one the contract allows")]
    by_side = violations.get("by_side") or {"client": violations["count"], "upstream": 0}
    if by_side["upstream"] or any(e.get("side") == "upstream" for e in violations["entries"]):  # a proxy's
        for side, title in SIDES:
            mine = _side(violations, side)
            kinds = ", ".join(f"{k} {n}" for k, n in violations["by"].items() if n and report_side(k) == side)
            lines.append(f"  {title}: {by_side[side]}" + (f" ({kinds})" if kinds else ""))
            lines += _entries(mine, indent="      ")
    else:
        lines += _entries(violations)
    lines += ["", f"State-rule refusals: {refusals['count']}"
              + (" (" + ", ".join(f"{k} {n}" for k, n in refusals["by"].items()) + ")" if refusals["count"] else "")]
    lines += _entries(refusals)
    coverage = report["coverage"]
    operations = coverage["operations"]
    lines += ["", f"Coverage: {coverage['exercised']} of {coverage['declared']} operation x status pairs "
                  f"({coverage['percent']:g}%), {coverage['operations_exercised']} of {len(operations)} operations"]
    width = max(len(o["operation"]) for o in operations)
    for operation in operations:
        if not operation["requests"]:
            lines.append(f"  {operation['operation']:<{width}}  never called")
            continue
        met = "  ".join(f"{s['status']}x{s['count']}" + ("" if s["declared"] else " (undeclared)")
                        for s in operation["statuses"] if s["count"])
        gaps = untested(operation)
        lines.append(f"  {operation['operation']:<{width}}  {met}" + (f"   untested: {' '.join(map(str, gaps))}" if gaps else ""))
    lines += [""] + ([f"FAILED: {r}" for r in reasons] or ["PASSED"])
    return "\n".join(lines)


def junit(report: dict, reasons: list[str]) -> bytes:
    """One test case per operation (failed by its violations, skipped if never called), one for
    requests that matched no operation, and one for coverage."""
    suite = ElementTree.Element("testsuite", name="task-sandbox client contract report")
    cases = []

    def case(name: str, failure: str | None = None, detail: list[str] = (), skipped: str | None = None,
             out: list[str] = (), classname: str = "contract"):
        element = ElementTree.SubElement(suite, "testcase", classname=classname, name=name)
        if failure:
            ElementTree.SubElement(element, "failure", message=failure).text = "\n".join(detail)
        elif skipped:
            ElementTree.SubElement(element, "skipped", message=skipped)
        if out:
            ElementTree.SubElement(element, "system-out").text = "\n".join(out)
        cases.append((failure, skipped))

    entries = _side(report["violations"], "client")["entries"]
    drift = _side(report["violations"], "upstream")["entries"]
    failing_drift = any("upstream answer" in r for r in reasons)  # report.failures(..., upstream=True) said so
    for operation in report["coverage"]["operations"]:
        name = operation["operation"]
        broke = [e for e in entries if e["operation"] == name]
        refused = [_line(e) for e in report["refusals"]["entries"] if e["operation"] == name]
        gaps = untested(operation)
        out = ([f"untested statuses: {' '.join(map(str, gaps))}"] if gaps else []) + refused
        failure = f"{len(broke)} request(s) broke the contract" if broke else None
        case(f"{name} ({operation['method']} {operation['path']})", failure, [_line(e) for e in broke],
             skipped=None if operation["requests"] else "never called by the client", out=out)
        theirs = [e for e in drift if e["operation"] == name]
        if theirs:  # the upstream's side: a drift report, failing only with --fail-on-upstream
            said = f"{len(theirs)} upstream answer(s) broke the contract"
            case(f"upstream answers of {name}", said if failing_drift else None,
                 [_line(e) for e in theirs], skipped=None if failing_drift else said + " (drift; --fail-on-upstream fails it)",
                 out=[_line(e) for e in theirs], classname="upstream")
    astray = [e for e in entries if e["operation"] is None]
    case("requests that match no operation (unknown route or wrong method)",
         f"{len(astray)} request(s) matched no operation" if astray else None, [_line(e) for e in astray])
    unkept = report["violations"]["not_kept"]
    if unkept:
        case("violations past the journal's bound", f"{unkept} more violation(s) counted but not kept")
    coverage = report["coverage"]
    gap = next((r for r in reasons if r.startswith("coverage")), None)
    case("coverage", gap, out=[f"{coverage['exercised']} of {coverage['declared']} operation x status pairs "
                               f"({coverage['percent']:g}%)"])
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for f, _ in cases if f)))
    suite.set("skipped", str(sum(1 for f, s in cases if s and not f)))
    return ElementTree.tostring(suite, encoding="utf-8", xml_declaration=True)
