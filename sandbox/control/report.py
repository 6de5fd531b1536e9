"""The client's contract report: what a client exercised of the contract, and where it broke it,
as a pure function of its sessions' journal tallies and the contract."""
from __future__ import annotations

from sandbox.control.journal import decode
from sandbox.store.journal import RECORDED
from sandbox.errors import BLAME_BY_CODE
from sandbox.spec import Contract

# The kinds of contract violation, in the order a report lists them: a client's (the `blame` of
# sandbox/errors.py), then an upstream answer's, which only `task-sandbox proxy` meets (sandbox/proxy/).
CLIENT_KINDS = ("invalid_request", "auth", "unknown_route", "wrong_method")
UPSTREAM_KINDS = ("undeclared_status", "missing_header", "response_body")
VIOLATIONS = CLIENT_KINDS + UPSTREAM_KINDS
SIDES = ("client", "upstream")
STATE_RULE = "state_rule"
UPSTREAM = "upstream:"  # the code of a tally's field that counts an upstream answer's break, by kind


def mark(operation: str | None, status: int, code: str | None) -> str:
    """The tally's field an answer counts under: no path, so the tally stays as small as the
    contract however many paths a client makes up."""
    return f"{operation or ''} {status} {code or ''}"


def _unmark(field: str) -> tuple[str | None, int, str | None]:
    operation, status, code = field.split(" ")
    return operation or None, int(status), code or None


def blame(code: str | None) -> str | None:
    """A violation's kind, STATE_RULE, or None (the client is not to blame)."""
    if isinstance(code, str) and code.startswith(UPSTREAM):
        kind = code[len(UPSTREAM):]
        return kind if kind in UPSTREAM_KINDS else None
    return BLAME_BY_CODE.get(code) if isinstance(code, str) else None


def broke_the_contract(entry: dict) -> bool:
    """A journal entry the report counts as a violation: the client's, or behind a proxy the upstream's."""
    return blame(entry.get("code")) in CLIENT_KINDS or bool((entry.get("verdicts") or {}).get("upstream"))


def side(kind: str) -> str:
    return "upstream" if kind in UPSTREAM_KINDS else "client"


def kept_as(code: str | None) -> str | None:
    """Which of the journal's lists keeps an answer with this code apart (journal.KEPT), if any."""
    found = blame(code)
    return None if found is None else "refusals" if found == STATE_RULE else "violations"


def build(contract: Contract, sessions: dict[str, dict], limit: int | None = None) -> dict:
    """One report over sessions, each given as {name: its journal's tally (Journal.tally)};
    `limit` shows only the newest entries of the violations and of the refusals."""
    counts: dict[tuple[str | None, int, str | None], int] = {}
    recorded = kept = 0
    for data in sessions.values():
        recorded += data["tally"].get(RECORDED, 0)
        kept += data["kept"]
        for field, n in data["tally"].items():
            if field != RECORDED:
                key = _unmark(field)
                counts[key] = counts.get(key, 0) + n
    by_status: dict[tuple[str, int], int] = {}
    by_blame: dict[str, dict[str, int]] = {}  # violations by kind, refusals by code
    upstream = 0  # fields that count an answer's break again, not another request
    for (operation, status, code), n in counts.items():
        if code is not None and code.startswith(UPSTREAM):
            upstream += n
        elif operation is not None:
            by_status[operation, status] = by_status.get((operation, status), 0) + n
        found = blame(code)
        if found is not None:
            group = by_blame.setdefault(found if found == STATE_RULE else "violations", {})
            key = code if found == STATE_RULE else found
            group[key] = group.get(key, 0) + n
    operations = []
    for operation, (method, path) in contract.where.items():
        declared = contract.statuses[operation]
        seen = {s for (o, s) in by_status if o == operation}
        operations.append({
            "operation": operation, "method": method, "path": path,
            "requests": sum(n for (o, _), n in by_status.items() if o == operation),
            "statuses": [{"status": s, "declared": s in declared, "count": by_status.get((operation, s), 0)}
                         for s in sorted(declared | seen)]})
    violations = {kind: by_blame.get("violations", {}).get(kind, 0) for kind in VIOLATIONS}
    return {
        "sessions": sorted(sessions),
        "requests": sum(counts.values()) - upstream,
        # a Redis journal older than the tally has entries it never counted: never a negative drop
        "journal": {"recorded": max(recorded, kept), "kept": kept, "dropped": max(recorded - kept, 0)},
        "coverage": _coverage(operations),
        "violations": _by_side(_group(_shown(sessions, "violations"), violations, limit)),
        "refusals": _group(_shown(sessions, "refusals"), dict(sorted(by_blame.get(STATE_RULE, {}).items())), limit),
    }


def _by_side(group: dict) -> dict:
    group["by_side"] = {s: sum(n for kind, n in group["by"].items() if side(kind) == s) for s in SIDES}
    return group


def _shown(sessions: dict[str, dict], kind: str) -> list[dict]:
    found = [shown for name, data in sessions.items() for entry in data.get(kind, ())
             for shown in _entries(name, entry, kind)]
    if kind == "refusals":  # a refusal whose answer the upstream also broke is kept with the violations
        found += [{**_entries(name, entry, kind)[0], "kind": STATE_RULE} for name, data in sessions.items()
                  for entry in data.get("violations", ()) if blame(entry.get("code")) == STATE_RULE]
    return found


def _entries(session: str, entry: dict, kept: str) -> list[dict]:
    """A kept entry as the report shows it: a proxy's exchange that both sides broke is shown
    once for each side, with that side's kind and problems."""
    answer = decode(entry["response"]["body"])
    code = entry.get("code") or (answer.get("code") if isinstance(answer, dict) else None)
    shown = {"session": session, "kind": blame(code), "side": "client", "code": code,
             "error": answer.get("error") if isinstance(answer, dict) else None, **entry,
             "request": {**entry["request"], "body": decode(entry["request"]["body"])},
             "response": {"body": answer}}
    upstream = (entry.get("verdicts") or {}).get("upstream") or []
    if kept != "violations" or not upstream:
        return [shown]
    broke = {**shown, "kind": upstream[0]["kind"], "side": "upstream", "problems": upstream}
    client_kind = shown["kind"]
    return [shown, broke] if client_kind is not None and client_kind != STATE_RULE else [broke]


def _coverage(operations: list[dict]) -> dict:
    declared = sum(1 for o in operations for s in o["statuses"] if s["declared"])
    exercised = sum(1 for o in operations for s in o["statuses"] if s["declared"] and s["count"])
    return {"declared": declared, "exercised": exercised,
            "percent": round(100 * exercised / declared, 1) if declared else 100.0,
            "operations_exercised": sum(1 for o in operations if o["requests"]),
            "operations": operations}


def _group(entries: list[dict], by: dict[str, int], limit: int | None = None) -> dict:
    """Counts are exact; `kept` entries are those the journal kept apart (under its bound),
    oldest first, of which `entries` shows the newest `limit`."""
    count = sum(by.values())
    entries = sorted(entries, key=lambda e: (e["time"], e["session"], e["seq"]))
    return {"count": count, "by": by, "kept": len(entries), "not_kept": max(count - len(entries), 0),
            "entries": entries[-limit:] if limit else [] if limit == 0 else entries}


def merge(reports: list[dict]) -> dict:
    """One report of several (the pytest plugin's, test by test), as `build` would make of them together."""
    if not reports:
        raise ValueError("nothing to merge")
    first = reports[0]
    operations = [{**o, "statuses": [dict(s) for s in o["statuses"]]} for o in first["coverage"]["operations"]]
    for other in reports[1:]:
        for mine, theirs in zip(operations, other["coverage"]["operations"]):
            mine["requests"] += theirs["requests"]
            rows = {s["status"]: s for s in mine["statuses"]}
            for row in theirs["statuses"]:
                if row["status"] in rows:
                    rows[row["status"]]["count"] += row["count"]
                else:
                    rows[row["status"]] = dict(row)
            mine["statuses"] = [rows[s] for s in sorted(rows)]

    def summed(part: str, key: str) -> dict:
        out: dict[str, int] = {}
        for report in reports:
            for k, n in report[part][key].items():
                out[k] = out.get(k, 0) + n
        return out

    def grouped(part: str) -> dict:
        by = summed(part, "by")
        group = _group([e for r in reports for e in r[part]["entries"]], by if part == "violations" else
                       dict(sorted(by.items())))
        group["kept"] = sum(r[part]["kept"] for r in reports)
        group["not_kept"] = sum(r[part]["not_kept"] for r in reports)
        return group

    return {
        "sessions": sorted({s for r in reports for s in r["sessions"]}),
        "requests": sum(r["requests"] for r in reports),
        "journal": {k: sum(r["journal"][k] for r in reports) for k in ("recorded", "kept", "dropped")},
        "coverage": _coverage(operations),
        "violations": _by_side(grouped("violations")),
        "refusals": grouped("refusals"),
    }


def client_violations(report: dict) -> int:
    """The violations the client made: behind a proxy, the upstream's answers are counted apart."""
    violations = report["violations"]
    return (violations.get("by_side") or {}).get("client", violations["count"])


def failures(report: dict, min_coverage: float | None = None, upstream: bool = False) -> list[str]:
    """Why a CI job should fail on this report, one line each; empty when it should pass. The
    client's violations fail it; an upstream's answers (a proxy's drift report) only with `upstream`."""
    found = []
    by = report["violations"]["by"]
    violations = sum(n for kind, n in by.items() if side(kind) == "client")
    if violations:
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in by.items() if n and side(k) == "client")
        found.append(f"{violations} request{'s' if violations != 1 else ''} broke the contract ({kinds})")
    drift = sum(n for kind, n in by.items() if side(kind) == "upstream")
    if upstream and drift:
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in by.items() if n and side(k) == "upstream")
        found.append(f"{drift} upstream answer{'s' if drift != 1 else ''} broke the contract ({kinds})")
    percent = report["coverage"]["percent"]
    if min_coverage is not None and percent < min_coverage:
        found.append(f"coverage {percent:g}% of the contract's operation x status pairs is under "
                     f"--min-coverage {min_coverage:g}%")
    return found


def unauthenticated(tally: dict[str, int]) -> dict:
    """The server-wide count of requests answered before any session (no or a wrong key or token)."""
    answers = []
    for field, count in sorted(tally.items()):
        operation, status, code = field.split(" ")
        answers.append({"operation": None if operation == "-" else operation, "status": int(status),
                        "code": None if code == "-" else code, "count": count})
    return {"requests": sum(tally.values()), "answers": answers}
