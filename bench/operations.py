"""The per-operation load of bench.py: one request per operation of openapi.yaml and two refusals, run with wrk."""
from __future__ import annotations

import http.client
import re
import string
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

KEY = "Bearer YOUR_API_KEY"
PROJECT = "/v2/team_123456/project/proj_123456"
TASK = PROJECT + "/task/task_abcdef123456"  # REVIEWING, passes validation (fixtures/tasks.yaml)
BOUNDARY = "bench-boundary-7f3a"
UPLOAD = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.pdf"\r\n'
          f"Content-Type: application/octet-stream\r\n\r\n%PDF-1.4\n{'bench file ' * 30}\n%%EOF\r\n"
          f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\nBench upload\r\n--{BOUNDARY}--\r\n')
REPORT = '{"issues":[{"label":"x","value":"y"}],"message":"m"}'


@dataclass(frozen=True)
class Op:
    """One table row: a request, the status it must answer, and whether it writes (a fresh session each time)."""
    name: str
    method: str
    path: str
    expect: int
    body: str | None = None
    content_type: str | None = None
    auth: bool = True
    writes: bool = False

    def headers(self) -> dict[str, str]:
        return {**({"Authorization": KEY} if self.auth else {}),
                **({"Content-Type": self.content_type} if self.content_type else {})}


OPS = [
    Op("getTask", "GET", TASK, 200),
    Op("listTasks", "GET", PROJECT + "/task?limit=20", 200),
    Op("getUpload", "GET", PROJECT + "/upload/upl_123456789", 200),
    Op("createUpload", "POST", PROJECT + "/upload", 201, UPLOAD, f"multipart/form-data; boundary={BOUNDARY}",
       writes=True),
    Op("completeTask", "POST", TASK + "/complete", 200, writes=True),
    Op("discardTask", "POST", TASK + "/discard", 200, writes=True),
    # COMPLETED, not exported, its upload not fully processed.
    Op("unlockTask", "POST", PROJECT + "/task/task_email000att2/unlock", 200, writes=True),
    Op("approveTask", "POST", TASK + "/approve", 200, writes=True),
    Op("disapproveTask", "POST", TASK + "/disapprove", 200, writes=True),
    Op("reportTask", "POST", TASK + "/report", 201, REPORT, "application/json", writes=True),
    Op("moveUpload", "POST", PROJECT + "/upload/upl_123456789/move/folder_789012", 200, writes=True),
    Op("getTask, no key (401)", "GET", TASK, 401, auth=False),
    Op("listTasks, limit=0 (400)", "GET", PROJECT + "/task?limit=0", 400),
]

# A wrk script per row. It sets the whole request, so wrk's -H headers do not apply (the no-key row sends none);
# a write row names a new session per request, <prefix>-<counter> (one thread: one counter for all connections);
# every row counts the answers by status and prints them as "status <code> <count>" at the end.
LUA = string.Template("""wrk.method = $method
wrk.path = $path
wrk.headers = $headers
wrk.body = $body
codes = {}
local prefix, i, threads = "", 0, {}
function setup(thread) table.insert(threads, thread) end
function init(args) prefix = args[1] or "" end
function response(status) codes[status] = (codes[status] or 0) + 1 end
function done()
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("codes")) do io.write(string.format("status %d %d\\n", status, n)) end
  end
end
$request""")
FRESH_SESSION = """function request()
  i = i + 1
  wrk.headers["X-Sandbox-Session"] = prefix .. "-" .. i
  return wrk.format()
end
"""


def lua_str(text: str | None) -> str:
    if text is None:
        return "nil"
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in text.encode()) + '"'


def lua_script(op: Op) -> str:
    headers = "{" + ", ".join(f"[{lua_str(k)}] = {lua_str(v)}" for k, v in op.headers().items()) + "}"
    return LUA.substitute(method=lua_str(op.method), path=lua_str(op.path), headers=headers,
                          body=lua_str(op.body), request=FRESH_SESSION if op.writes else "")


def _ms(pattern: str, out: str) -> float | None:
    found = re.search(pattern + r"\s+([\d.]+)(us|ms|s|m|h)\b", out)
    unit = {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4, "h": 3.6e6}
    return float(found.group(1)) * unit[found.group(2)] if found else None


def wrk(binary: str, port: int, conns: int, seconds: float, script: Path | None = None, args: tuple = (),
        path: str = TASK) -> dict:
    """One wrk run on one thread: req/s, p50/p99 (ms), requests, non-2xx/3xx, socket errors, and the
    answers by status when the script counts them."""
    cmd = [binary, "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
           "-H", f"Authorization: {KEY}", *(["-s", str(script)] if script else []),
           f"http://127.0.0.1:{port}{path}", *(["--", *map(str, args)] if args else [])]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True).stdout
    number = lambda pattern: int(found.group(1)) if (found := re.search(pattern, out)) else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        raise RuntimeError(f"unexpected wrk output for {' '.join(cmd)}:\n{out}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(rps.group(1)), "p50": _ms("50%", out), "p99": _ms("99%", out),
            "total": number(r"(\d+) requests in"), "non2xx": number(r"Non-2xx or 3xx responses: (\d+)"),
            "socket_errors": sum(map(int, errors.groups())) if errors else 0,
            "statuses": Counter({int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", out, re.M)})}


def warm_get(binary: str, port: int) -> None:
    """A 1 s GET task run at 32 connections, not reported."""
    subprocess.run([binary, "-t1", "-c32", "-d1s", "-H", f"Authorization: {KEY}", f"http://127.0.0.1:{port}{TASK}"],
                   check=False, capture_output=True)


def warm_up(port: int, times: int = 10) -> None:
    """Each row's request a few times over one connection (writes in their own sessions), so that no
    first-use cost lands in a measured run."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for index, op in enumerate(OPS):
        for n in range(times):
            session = {"X-Sandbox-Session": f"op{index}-warm-{n}"} if op.writes else {}
            conn.request(op.method, op.path, body=op.body, headers={**op.headers(), **session})
            conn.getresponse().read()
    conn.close()


def run_operations(binary: str, port: int, seconds: float, folder: Path, say: Callable[[str], None],
                   label: str) -> dict:
    """{op name: {conns: wrk result}} for every row at 1 and 32 connections, after a warm-up."""
    warm_get(binary, port)
    warm_up(port)
    results = {}
    for index, op in enumerate(OPS):
        script = folder / f"op{index}.lua"
        script.write_text(lua_script(op))
        say(f"{label}: {op.name} at 1 and 32 connections ...")
        results[op.name] = {c: wrk(binary, port, c, seconds, script, (f"op{index}-c{c}",)) for c in (1, 32)}
    return results


def wrong(op: Op, run: dict) -> int:
    """Answers of a run whose status is not the one the row must answer (socket errors included)."""
    return run["total"] - run["statuses"][op.expect] + run["socket_errors"]


PRISM_NOTES = {
    "createUpload": "Prism cannot answer 201 to createUpload: its multipart parser keeps one string per field, so "
                    "`file` (an array of binaries in openapi.yaml) never validates, and it answers its 400 example, "
                    "`Prefer: code=201` or not. Its figures there are a refusal's.",
}
