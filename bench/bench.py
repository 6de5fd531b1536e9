"""Benchmark the sandbox with wrk (and Prism beside it, when npm is there): load, start-up, memory, scale."""
from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PRISM_VERSION = "5.14.2"  # the newest that runs on Node.js 20; 5.15 and later need Node.js 24
PRISM_DIR = ROOT / "bench" / ".prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
KEY = "Bearer YOUR_API_KEY"
BASE = "/v2/team_123456/project/proj_123456/task/"
GET_PATH = BASE + "task_abcdef123456"
LUA = f"""local i = 0
function init(args) i = tonumber(args[1]) end
function request()
  i = i + 1
  return wrk.format("POST", string.format("{BASE}task_b%07d/complete", i))
end
"""
# GET a different task each request: every body is new to the fast path's validation cache.
SPREAD_LUA = f"""local i = 0
local n = 1
function init(args) n = tonumber(args[1]) end
function request()
  i = i % n + 1
  return wrk.format("GET", string.format("{BASE}task_b%07d", i))
end
"""
SERVERS: list[Server] = []


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server subprocess in its own session, so Ctrl-C reaches only us and we kill its whole group."""

    def __init__(self, name: str, cmd: list[str], port: int, logdir: Path):
        self.name, self.port = name, port
        self.log = logdir / f"{name}.log"
        self.t0 = time.perf_counter()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        SERVERS.append(self)

    def first_200(self, timeout: float = 900) -> float:
        """Seconds from spawn to the first 200 of GET task, polling every 5 ms."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{GET_PATH}", headers={"Authorization": KEY})
        while time.perf_counter() - self.t0 < timeout:
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - self.t0
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} gave no 200 on GET task (exit {self.proc.poll()}):\n{tail}")

    def rss_mib(self) -> float:
        """VmRSS of the process and its descendants (npm's prism may run node under a wrapper)."""
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, AttributeError):
                pass
        return total / 1024

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(5)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        if self in SERVERS:
            SERVERS.remove(self)


def sandbox(name: str, logdir: Path, *extra: str) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "sandbox", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", *extra]
    return Server(name, cmd, port, logdir)


def prism(logdir: Path) -> Server:
    port = free_port()
    cmd = [str(PRISM_BIN), "mock", "openapi.yaml", "-p", str(port), "-h", "127.0.0.1", "--errors", "false",
           "-v", "error"]
    return Server("prism", cmd, port, logdir)


def ensure_wrk() -> str | None:
    """wrk from PATH, else from Debian's packages when we are root; None (load figures skipped) otherwise."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("wrk not found: installing it with apt-get (Debian package wrk)...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            if subprocess.run(cmd, check=False, env=env, stdout=subprocess.DEVNULL).returncode:
                break
    if not shutil.which("wrk"):
        say("wrk is not available: load figures are skipped. Install it with `sudo apt-get install wrk` "
            "(Debian/Ubuntu), `brew install wrk` (macOS) or build it from github.com/wg/wrk.")
    return shutil.which("wrk")


def ensure_prism() -> bool:
    """Prism pinned in bench/.prism (gitignored), installed with npm on first use and reused after."""
    if PRISM_BIN.exists():
        return True
    if not shutil.which("npm"):
        say("npm not found: the Prism column is skipped (install Node.js and npm to get it).")
        return False
    say(f"installing @stoplight/prism-cli@{PRISM_VERSION} into {PRISM_DIR.relative_to(ROOT)} ...")
    done = subprocess.run(["npm", "install", "--prefix", str(PRISM_DIR), "--no-audit", "--no-fund",
                           "--loglevel=error", f"@stoplight/prism-cli@{PRISM_VERSION}"],
                          check=False, stdout=sys.stderr)
    if done.returncode or not PRISM_BIN.exists():
        say("npm could not install Prism: the Prism column is skipped.")
        return False
    return True


def _ms(pattern: str, out: str) -> float | None:
    found = re.search(pattern + r"\s+([\d.]+)(us|ms|s|m|h)\b", out)
    return float(found.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4, "h": 3.6e6}[found.group(2)] if found else None


def wrk(binary: str, port: int, conns: int, seconds: float, script: Path | None = None, offset: int = 0) -> dict:
    """One wrk run on one thread; returns req/s, p50/p99 (ms), total requests and non-2xx/3xx count."""
    cmd = [binary, "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
           "-H", f"Authorization: {KEY}"] + (["-s", str(script)] if script else [])
    cmd += [f"http://127.0.0.1:{port}{GET_PATH}"] + (["--", str(offset)] if script else [])
    out = subprocess.run(cmd, check=False, capture_output=True, text=True).stdout
    number = lambda pattern: int(found.group(1)) if (found := re.search(pattern, out)) else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        raise RuntimeError(f"unexpected wrk output for {' '.join(cmd)}:\n{out}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(rps.group(1)), "p50": _ms("50%", out), "p99": _ms("99%", out),
            "total": number(r"(\d+) requests in"), "non2xx": number(r"Non-2xx or 3xx responses: (\d+)"),
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def measure(server: Server, wrk_bin: str | None, runs: list[tuple]) -> dict:
    """Cold start, a 1 s GET warm-up (32 conns, not reported), each (key, conns, seconds, script, offset)
    wrk run, then RSS; the server is stopped afterwards."""
    try:
        out = {"start": server.first_200() * 1000}
        if wrk_bin:
            subprocess.run([wrk_bin, "-t1", "-c32", "-d1s", "-H", f"Authorization: {KEY}",
                            f"http://127.0.0.1:{server.port}{GET_PATH}"], check=False, capture_output=True)
            for key, conns, seconds, script, offset in runs:
                out[key] = wrk(wrk_bin, server.port, conns, seconds, script, offset)
        out["rss"] = server.rss_mib()
        return out
    finally:
        server.stop()


def write_world(folder: Path, tasks: int) -> Path:
    """A fixtures dir: the default world.yaml, task_abcdef123456 and `tasks` generated tasks task_bNNNNNNN
    in proj_123456 (10 per upload), each with task_abcdef123456's page so that complete passes validation.
    Written as JSON (which is YAML): the sandbox parses it with json, an order of magnitude faster."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "fixtures" / "world.yaml", folder / "world.yaml")
    default = yaml.safe_load((ROOT / "fixtures" / "tasks.yaml").read_text())
    task = next(t for t in default["tasks"] if t["id"] == "task_abcdef123456")
    upload = next(u for u in default["uploads"] if u["id"] == task["upload_id"])
    uploads = [upload] + [{"id": f"upl_b{u:06d}", "project_id": "proj_123456", "name": f"Bench batch {u}",
                           "created_at": "2024-02-01T00:00:00Z"} for u in range((tasks + 9) // 10)]
    generated = [{"id": f"task_b{i:07d}", "name": f"Bench task {i}", "created_at": "2024-02-01T00:00:00Z",
                  "status": "REVIEWING", "upload_id": f"upl_b{(i - 1) // 10:06d}", "pages": task["pages"]}
                 for i in range(1, tasks + 1)]
    (folder / "tasks.yaml").write_text(json.dumps({"uploads": uploads, "tasks": [task] + generated}))
    return folder


def sessions_memory(logdir: Path, count: int) -> dict:
    """RSS idle, after one session changed one task, and after `count` sessions each approved one."""
    server = sandbox("sessions", logdir, "--max-sessions", str(count + 10))
    try:
        server.first_200()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        failed, rss = 0, {"idle": server.rss_mib()}
        for i in range(count):
            conn.request("POST", BASE + "task_abcdef123456/approve",
                         headers={"Authorization": KEY, "X-Sandbox-Session": f"bench-{i}"})
            answer = conn.getresponse()
            answer.read()
            failed += answer.status != 200
            if i == 0:
                rss["one"] = server.rss_mib()
        rss["all"], rss["failed"] = server.rss_mib(), failed
        return rss
    finally:
        server.stop()


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^(?:model name|Model|cpu model)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"machine: {cores} cores (nproc), {model.group(1) if model else platform.processor() or '?'}, "
            f"{platform.machine()}; Python {platform.python_version()}; "
            f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")


def table(rows: list[tuple], notes: list[str]) -> str:
    """rows: (figure, better, sandbox, prism); numbers get formatted, ratio = sandbox / Prism."""
    fmt = lambda v: ("—" if v is None else v if isinstance(v, str)
                     else f"{v:.2f}" if v < 10 else f"{v:,.1f}" if v < 1000 else f"{v:,.0f}")
    head = ("figure", "better", "sandbox", "Prism", "sandbox/Prism")
    body = [(f, b, fmt(s), fmt(p), f"{s / p:.{2 if s / p >= 0.1 else 3}f}×" if isinstance(s, float) and isinstance(p, float) and p
             else "—") for f, b, s, p in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(5)]
    line = lambda r: "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *map(line, body), "", *notes])


def load_rows(label: str, side: dict, other: dict, keys=("rps", "p50", "p99")) -> list[tuple]:
    names = {"rps": ("req/s", "higher"), "p50": ("p50 ms", "lower"), "p99": ("p99 ms", "lower")}
    return [(f"{label} {names[k][0]}", names[k][1], side.get(k), other.get(k)) for k in keys]


def run(args) -> str:
    d, tasks, sessions = args.duration, f"{args.tasks:,} tasks", f"{args.sessions:,} sessions"
    wrk_bin = ensure_wrk()
    with_prism = not args.no_prism and ensure_prism()
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    rows, notes, lua = [], [], tmp / "complete.lua"
    lua.write_text(LUA)
    try:
        get = [("seq", 1, d, None, 0), ("c32", 32, d, None, 0)]
        say("sandbox: cold start and GET load ...")
        s, p = measure(sandbox("sandbox", tmp), wrk_bin, get), {}
        if with_prism:
            say("prism: cold start and GET load ...")
            p = measure(prism(tmp), wrk_bin, get)
        post = {}
        if wrk_bin:
            say("sandbox: POST complete, a 1 s probe on 2,000 tasks to size the world ...")
            world = write_world(tmp / "probe", 2000)
            probe = measure(sandbox("probe", tmp, "--fixtures", str(world)), wrk_bin,
                            [("seq", 1, 1, lua, 0), ("c32", 32, 1, lua, 1000)])
            need = [int(probe[k]["rps"] * d * 2.5) + 500 for k in ("seq", "c32")]
            say(f"sandbox: POST complete on {sum(need):,} fresh REVIEWING tasks ...")
            world = write_world(tmp / "complete", sum(need))
            post = measure(sandbox("complete", tmp, "--fixtures", str(world)), wrk_bin,
                           [("seq", 1, d, lua, 0), ("c32", 32, d, lua, need[0])])
            notes.append(f"POST world: {sum(need):,} REVIEWING tasks (2.5 times a 1 s probe's rate, + 500), "
                         "each completed at most once; offsets keep the two runs apart.")
        say(f"sandbox: scale, {tasks} ...")
        world = write_world(tmp / "scale", args.tasks)
        spread = tmp / "spread.lua"
        spread.write_text(SPREAD_LUA)
        big = measure(sandbox("scale", tmp, "--fixtures", str(world)), wrk_bin,
                      [("seq", 1, d, None, 0), ("spread", 1, d, spread, args.tasks)])
        say(f"sandbox: memory of {sessions} ...")
        mem = sessions_memory(tmp, args.sessions)
    finally:
        while SERVERS:  # stop() removes each
            SERVERS[-1].stop()
        shutil.rmtree(tmp, ignore_errors=True)
    rows.append(("cold start to first 200 (ms)", "lower", s["start"], p.get("start")))
    if wrk_bin:
        rows += load_rows("GET task, 1 conn:", s["seq"], p.get("seq", {}))
        rows += load_rows("GET task, 32 conns:", s["c32"], p.get("c32", {}), ("rps", "p99"))
    rows.append(("RSS after the GET runs (MiB)", "lower", s["rss"], p.get("rss")))
    for key, conns in (("seq", "1 conn"), ("c32", "32 conns")) if post else ():
        r = post[key]
        rows += load_rows(f"POST complete, {conns}:", r, {}, ("rps", "p50", "p99") if key == "seq" else ("rps", "p99"))
        rows.append((f"  answered 2xx / other ({conns})", "", f"{r['total'] - r['non2xx']:,} / {r['non2xx']:,}", None))
        if r["socket_errors"]:
            notes.append(f"POST complete, {conns}: {r['socket_errors']} socket errors or timeouts")
    if post:
        rows.append(("RSS after the POST runs (MiB)", "lower", post["rss"], None))
    rows += [("start, default fixtures (ms)", "lower", s["start"], None),
             (f"start, {tasks} (ms)", "lower", big["start"], None)]
    if wrk_bin:
        rows += load_rows("GET task, default fixtures, 1 conn:", s["seq"], {}, ("p50", "p99"))
        rows += load_rows(f"GET task, {tasks}, 1 conn:", big["seq"], {})
        rows += load_rows(f"GET a different task each time, {tasks}, 1 conn:", big["spread"], {})
    rows += [(f"RSS with {tasks} (MiB)", "lower", big["rss"], None),
             ("RSS, default session only (MiB)", "lower", mem["idle"], None),
             ("RSS growth, 1 session changed 1 task (KiB)", "lower", (mem["one"] - mem["idle"]) * 1024, None),
             (f"RSS growth, {sessions} changed 1 task each (MiB)", "lower", mem["all"] - mem["idle"], None),
             ("  per session (KiB)", "lower", (mem["all"] - mem["idle"]) * 1024 / args.sessions, None)]
    if mem["failed"]:
        notes.append(f"sessions: {mem['failed']} approve calls did not answer 200")
    notes.append((f"wrk: 1 thread, {max(1, round(d))} s a run, after a 1 s GET warm-up (32 conns)" if wrk_bin
                  else "wrk missing: no load figures") + "; sandbox --log-level warning")
    notes += [(f"Prism {PRISM_VERSION}, -v error --errors false, Node.js {_node()}; it keeps no state, so it is "
               "measured on cold start, GET and RSS only."),
              "ratio = sandbox / Prism: above 1 is better for req/s, below 1 for ms and MiB."] if with_prism else []
    return table(rows, notes)


def _node() -> str:
    return subprocess.run(["node", "--version"], check=False, capture_output=True, text=True).stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s runs, 10,000 tasks, 100 sessions")
    parser.add_argument("--no-prism", action="store_true", help="skip Prism even when npm is there")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 5, quick 2)")
    parser.add_argument("--tasks", type=int, help="tasks in the scale world (default 100,000, quick 10,000)")
    parser.add_argument("--sessions", type=int, help="sessions for the memory figure (default 1,000, quick 100)")
    args = parser.parse_args()
    args.duration = args.duration or (2 if args.quick else 5)
    args.tasks = args.tasks or (10_000 if args.quick else 100_000)
    args.sessions = args.sessions or (100 if args.quick else 1_000)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally kills the servers
    started = time.perf_counter()
    try:
        report = run(args)
    except KeyboardInterrupt:
        say("interrupted: servers stopped")
        sys.exit(130)
    print(machine())
    print(report)
    print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
