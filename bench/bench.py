"""Benchmark the sandbox with wrk: every operation beside Prism (when npm is there), start-up, memory, scale, proxy."""
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
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import yaml

import bounded
import cpu
import proxy
import scale
import stores
from operations import KEY, OPS, PRISM_NOTES, PROJECT, TASK, run_operations, warm_get, wrk, wrong

ROOT = Path(__file__).resolve().parent.parent
PRISM_VERSION = "5.14.2"  # the newest that runs on Node.js 20; 5.15 and later need Node.js 24
PRISM_DIR = ROOT / "bench" / ".prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
SMALL_WORLD = 20  # the scale world's generated tasks, as many as one page shows
LIST_ROUNDS = 3
LIST_PATHS = {"listTasks": PROJECT + "/task?limit=20",
              "listTasks status=REVIEWING": PROJECT + "/task?limit=20&status=REVIEWING"}
# GET a different task each request, round the whole big world.
SPREAD_LUA = f"""local i = 0
local n = 1
function init(args) n = tonumber(args[1]) end
function request()
  i = i % n + 1
  return wrk.format("GET", string.format("{PROJECT}/task/task_b%07d", i))
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
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{TASK}", headers={"Authorization": KEY})
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

    def pids(self) -> list[int]:
        """The process and its descendants (npm's prism may run node under a wrapper; workers are children)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    def rss_mib(self) -> float:
        """VmRSS of the process and its descendants."""
        total = 0
        for pid in self.pids():
            try:
                total += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
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


def proxy_server(name: str, logdir: Path, upstream: int) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "sandbox", "proxy", "--upstream", f"http://127.0.0.1:{upstream}", "--host",
           "127.0.0.1", "--port", str(port), "--log-level", "warning"]
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


def measure(server: Server, load: Callable[[int], dict] | None) -> dict:
    """Cold start (ms), the figures of load(port) (None without wrk), then RSS; the server is stopped afterwards."""
    try:
        start = server.first_200() * 1000
        figures = load(server.port) if load else None
        return {"start": start, "load": figures, "rss": server.rss_mib()}
    finally:
        server.stop()


def list_pair(binary: str, port: int, small_port: int, seconds: float) -> dict:
    """List pages (plain and filtered) at 1 connection on the big world and on the small one,
    alternating, LIST_ROUNDS times each: {name: {side: median req/s}}, so that the machine's
    drift between runs (10-20% here) hits both sides alike."""
    warm_get(binary, small_port)
    runs = {name: {"big": [], "small": []} for name in LIST_PATHS}
    for _ in range(LIST_ROUNDS):
        for name, path in LIST_PATHS.items():
            for side, at in (("small", small_port), ("big", port)):
                runs[name][side].append(wrk(binary, at, 1, seconds, path=path)["rps"])
    return {name: {side: statistics.median(rps) for side, rps in sides.items()} for name, sides in runs.items()}


def scale_load(binary: str, port: int, seconds: float, spread: Path, tasks: int, small_port: int) -> dict:
    """GET the same task, then a different task each time, at 1 connection, after a GET
    warm-up; then list pages beside the small world's."""
    warm_get(binary, port)
    return {"seq": wrk(binary, port, 1, seconds), "spread": wrk(binary, port, 1, seconds, spread, (tasks,)),
            "lists": list_pair(binary, port, small_port, seconds)}


def write_world(folder: Path, tasks: int, whole: bool = False) -> Path:
    """A fixtures dir: the default world.yaml, task_abcdef123456 (with `whole`, every default task and
    upload, so that every row of table 1 finds its records) and `tasks` generated tasks task_bNNNNNNN
    in proj_123456 (10 per upload), each with task_abcdef123456's page (a realistic body to read).
    Written as JSON (which is YAML): the sandbox parses it with json, an order of magnitude faster."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "fixtures" / "world.yaml", folder / "world.yaml")
    default = yaml.safe_load((ROOT / "fixtures" / "tasks.yaml").read_text())
    task = next(t for t in default["tasks"] if t["id"] == "task_abcdef123456")
    upload = next(u for u in default["uploads"] if u["id"] == task["upload_id"])
    uploads = (default["uploads"] if whole else [upload]) + [
        {"id": f"upl_b{u:06d}", "project_id": "proj_123456", "name": f"Bench batch {u}",
         "created_at": "2024-02-01T00:00:00Z"} for u in range((tasks + 9) // 10)]
    generated = [{"id": f"task_b{i:07d}", "name": f"Bench task {i}", "created_at": "2024-02-01T00:00:00Z",
                  "status": "REVIEWING", "upload_id": f"upl_b{(i - 1) // 10:06d}", "pages": task["pages"]}
                 for i in range(1, tasks + 1)]
    kept = default["tasks"] if whole else [task]
    (folder / "tasks.yaml").write_text(json.dumps({"uploads": uploads, "tasks": kept + generated}))
    return folder


def sessions_memory(logdir: Path, count: int) -> dict:
    """RSS idle, after one session changed one task, and after `count` sessions each approved one."""
    server = sandbox("sessions", logdir, "--max-sessions", str(count + 10))
    try:
        server.first_200()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        failed, rss = 0, {"idle": server.rss_mib()}
        for i in range(count):
            conn.request("POST", TASK + "/approve",
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


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:.2f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def ratio(s, p) -> str:
    return f"{s / p:.{2 if s / p >= 0.1 else 3}f}×" if isinstance(s, float) and isinstance(p, float) and p else "—"


def grid(head: tuple, body: list[tuple], left: int) -> str:
    """A Markdown table; the first `left` columns flush left, the others right."""
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) if i < left else c.rjust(w)
                                       for i, (c, w) in enumerate(zip(r, widths))) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)])


def status_notes(op, runs: dict[str, dict]) -> list[str]:
    """A loud line for each run whose answers were not all the expected status, and why, where known."""
    notes = []
    for name, by_conns in runs.items():
        for conns, r in by_conns.items():
            if wrong(op, r):
                other = ", ".join(f"{code}×{n:,}" for code, n in sorted(r["statuses"].items()) if code != op.expect)
                errors = f", {r['socket_errors']:,} socket errors" if r["socket_errors"] else ""
                notes.append(f"!! {op.name}, {name} c={conns}: {r['statuses'][op.expect]:,} answered {op.expect}; "
                             f"others: {other or 'none'}{errors}")
        if name == "Prism" and op.name in PRISM_NOTES and any(wrong(op, r) for r in by_conns.values()):
            notes.append(f"   {PRISM_NOTES[op.name]}")
    return notes


def operations_table(main: dict[str, dict]) -> str:
    """One row per operation: req/s of each server at 1 and 32 connections, the sandbox's p99, and the answers
    that were not the expected status (such a row is flagged with !! and explained below the table)."""
    head = ("operation", "expect", "sandbox c=1", "Prism c=1", "ratio", "sandbox c=32", "Prism c=32", "ratio",
            "sandbox p99 ms c=1", "sandbox p99 ms c=32", "wrong status sandbox / Prism")
    body, notes = [], []
    for op in OPS:
        runs = {name: m["load"][op.name] for name, m in main.items()}
        bad = [sum(wrong(op, r) for r in by_conns.values()) for by_conns in runs.values()]
        row = [("!! " if any(bad) else "") + op.name, str(op.expect)]
        for conns in (1, 32):
            s, p = (runs[side][conns]["rps"] if side in runs else None for side in ("sandbox", "Prism"))
            row += [fmt(s), fmt(p), ratio(s, p)]
        body.append((*row, *(fmt(runs["sandbox"][c]["p99"]) for c in (1, 32)), " / ".join(f"{n:,}" for n in bad)))
        notes += status_notes(op, runs)
    return grid(head, body, 2) + ("\n\n" + "\n".join(notes) if notes else "")


def figures_table(rows: list[tuple]) -> str:
    """rows: (figure, better, sandbox, prism); ratio = sandbox / Prism."""
    head = ("figure", "better", "sandbox", "Prism", "sandbox/Prism")
    return grid(head, [(f, b, fmt(s), fmt(p), ratio(s, p)) for f, b, s, p in rows], 2)


def wrk_rows(label: str, run: dict, keys=("rps", "p50", "p99")) -> list[tuple]:
    names = {"rps": ("req/s", "higher"), "p50": ("p50 ms", "lower"), "p99": ("p99 ms", "lower")}
    return [(f"{label} {names[k][0]}", names[k][1], run.get(k), None) for k in keys]


def figures(args, main: dict, big: dict, mem: dict) -> list[tuple]:
    tasks, sessions = f"{args.tasks:,} tasks", f"{args.sessions:,} sessions"
    s, p = main["sandbox"], main.get("Prism", {})
    rows = [("cold start to first 200, default fixtures (ms)", "lower", s["start"], p.get("start")),
            ("RSS after the per-operation runs (MiB)", "lower", s["rss"], p.get("rss")),
            (f"start, {tasks} (ms)", "lower", big["start"], None)]
    if s["load"]:
        rows += wrk_rows("GET task, default fixtures, 1 conn:", s["load"]["getTask"][1], ("p50", "p99"))
        rows += wrk_rows(f"GET task, {tasks}, 1 conn:", big["load"]["seq"])
        rows += wrk_rows(f"GET a different task each time, {tasks}, 1 conn:", big["load"]["spread"])
        for name, sides in big["load"]["lists"].items():  # the index keeps them level
            rows.append((f"{name}, {tasks}, 1 conn: median req/s ({SMALL_WORLD} tasks in the Prism column)",
                         "higher", sides["big"], sides["small"]))
    return rows + [(f"RSS with {tasks} (MiB)", "lower", big["rss"], None),
                   ("RSS, default session only (MiB)", "lower", mem["idle"], None),
                   ("RSS growth, 1 session changed 1 task (KiB)", "lower", (mem["one"] - mem["idle"]) * 1024, None),
                   (f"RSS growth, {sessions} changed 1 task each (MiB)", "lower", mem["all"] - mem["idle"], None),
                   ("  per session (KiB)", "lower", (mem["all"] - mem["idle"]) * 1024 / args.sessions, None)]


def notes(args, wrk_bin: str | None, with_prism: bool, mem: dict) -> list[str]:
    seconds = max(1, round(args.duration))
    out = [(f"wrk: 1 thread, {seconds} s a run, after a 1 s GET warm-up (32 conns) and each row's request 10 "
            "times; req/s, ratio = sandbox / Prism" if wrk_bin else "wrk missing: no load figures")
           + "; sandbox --log-level warning, default --max-sessions (100, least recently used evicted).",
           "Writes (createUpload to reportTask) send X-Sandbox-Session with a new name per request (one prefix per "
           "row and connection count), so each is real work on a fresh copy of the seed; Prism gets the same "
           "requests. The wrong-status column counts answers other than `expect`, plus socket errors.",
           "Figures: ratio = sandbox / Prism, above 1 is better for req/s, below 1 for ms and MiB."]
    if with_prism:
        out.append(f"Prism {PRISM_VERSION}, -v error --errors false, Node.js {_node()}; it keeps no state and "
                   "answers from the contract's examples.")
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    missing = {o["operationId"] for item in spec["paths"].values() for o in item.values()
               if isinstance(o, dict) and "operationId" in o} - {op.name for op in OPS}
    if missing:
        out.append(f"!! operations of openapi.yaml without a row: {', '.join(sorted(missing))}")
    if mem["failed"]:
        out.append(f"!! sessions: {mem['failed']} approve calls did not answer 200")
    return out


def run(args) -> str:
    d = args.duration
    wrk_bin = ensure_wrk()
    with_prism = not args.no_prism and ensure_prism()
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    try:
        starts = {"sandbox": lambda: sandbox("sandbox", tmp), **({"Prism": lambda: prism(tmp)} if with_prism else {})}
        main = {}
        for name, start in starts.items():
            say(f"{name}: cold start, then every operation ...")
            scripts = tmp / name
            scripts.mkdir()
            load = wrk_bin and (lambda port: run_operations(wrk_bin, port, d, scripts, say, name))
            main[name] = measure(start(), load)
        store_runs = stored(args, wrk_bin, tmp, main["sandbox"])
        say(f"sandbox: scale, {args.tasks:,} tasks ...")
        world = write_world(tmp / "scale", args.tasks)
        spread = tmp / "spread.lua"
        spread.write_text(SPREAD_LUA)
        small = sandbox("small", tmp, "--fixtures", str(write_world(tmp / "small", SMALL_WORLD)))
        small.first_200()  # serves the same pages beside the big world's, for their comparison
        big = measure(sandbox("scale", tmp, "--fixtures", str(world)),
                      wrk_bin and (lambda port: scale_load(wrk_bin, port, d, spread, args.tasks, small.port)))
        small.stop()
        say(f"sandbox: memory of {args.sessions:,} sessions ...")
        mem = sessions_memory(tmp, args.sessions)
        filled = bounded.run(lambda name, *extra: sandbox(name, tmp, *extra), say)
        later = sections(args, wrk_bin, tmp, True, True, True)
    finally:
        while SERVERS:  # stop() removes each
            SERVERS[-1].stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return "\n\n".join([*([operations_table(main)] if wrk_bin else []),
                         *([stores.table(store_runs, fmt, grid)] if store_runs else []),
                         figures_table(figures(args, main, big, mem)),
                         "\n".join(notes(args, wrk_bin, with_prism, mem)),
                         bounded.table(filled, fmt, grid), *later])


def sections(args, wrk_bin: str | None, tmp: Path, with_scale: bool, with_cpu: bool, with_proxy: bool) -> list[str]:
    """Table 5 (bench/scale.py), table 6 (bench/cpu.py) and table 7 (bench/proxy.py), each with a title; all need
    wrk."""
    if not wrk_bin:
        return []
    url = None if args.no_redis or not (with_scale or with_cpu) else stores.redis_url()
    if url is None and (with_scale or with_cpu):
        say("no Redis (TASK_SANDBOX_REDIS_URL or 127.0.0.1:6379) or --no-redis: the scale and CPU rows on Redis "
            "are skipped.")
    ctx = SimpleNamespace(wrk=wrk_bin, seconds=args.duration, rounds=args.rounds, cpu_rounds=args.cpu_rounds,
                          tmp=tmp, say=say, live=args.live_sessions, tasks=args.tasks, write_world=write_world,
                          start=lambda name, *extra: sandbox(name, tmp, *extra),
                          proxy=lambda name, upstream: proxy_server(name, tmp, upstream))
    out = []
    if with_scale:
        out.append("Scale: cost as the work held grows\n\n" + scale.table(scale.run(ctx, url), ctx, fmt, grid))
    if with_cpu:
        out.append("CPU time per request, memory store against Redis\n\n" + cpu.table(cpu.run(ctx, url), fmt, grid))
    if with_proxy:
        out.append("Proxy: every operation through task-sandbox proxy beside the upstream direct\n\n"
                   + proxy.table(proxy.run(ctx), fmt, grid, ratio))
    return out


def run_alone(section: Callable[[Path], list[str]]) -> str:
    """One section without the others: section(tmp) gives its tables; every server is stopped afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    try:
        return "\n\n".join(section(tmp))
    finally:
        while SERVERS:
            SERVERS[-1].stop()
        shutil.rmtree(tmp, ignore_errors=True)


def stored(args, wrk_bin: str | None, tmp: Path, memory: dict) -> dict | None:
    """The per-operation runs again on one and two workers sharing a Redis, beside the memory worker's."""
    url = None if args.no_redis or not wrk_bin else stores.redis_url()
    if url is None:
        say("no Redis (TASK_SANDBOX_REDIS_URL or 127.0.0.1:6379) or --no-redis: the store rows are skipped.")
        return None
    starts, prefixes = stores.servers(url, lambda name, *extra: sandbox(name, tmp, *extra))
    runs = {"memory ×1": memory["load"]}
    try:
        for side, start in starts.items():
            say(f"sandbox {side} on {url}: every operation ...")
            scripts = tmp / side.replace(" ", "").replace("×", "x")
            scripts.mkdir()
            runs[side] = measure(start(), lambda port: run_operations(wrk_bin, port, args.duration, scripts, say,
                                                                      side))["load"]
    finally:
        stores.drop(url, prefixes)
    return runs


def _node() -> str:
    return subprocess.run(["node", "--version"], check=False, capture_output=True, text=True).stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s runs, 10,000 tasks, 100 sessions")
    parser.add_argument("--no-prism", action="store_true", help="skip Prism even when npm is there")
    parser.add_argument("--no-redis", action="store_true",
                        help="skip the store rows (one and two workers on Redis), and the Redis rows of the scale "
                             "and CPU tables, even when Redis answers")
    parser.add_argument("--bounded-only", action="store_true",
                        help="only the memory table with the inboxes and journals filled to their bounds "
                             "(needs neither wrk nor Prism)")
    parser.add_argument("--scale-only", action="store_true",
                        help="only the scale table: every operation with 50,000 live sessions, 100,000 tasks and "
                             "full journals against a baseline (needs wrk)")
    parser.add_argument("--cpu-only", action="store_true",
                        help="only the CPU table: CPU time per request of the worker and redis-server, memory "
                             "store against Redis (needs wrk)")
    parser.add_argument("--proxy-only", action="store_true",
                        help="only the proxy table: every operation through `task-sandbox proxy` beside the same "
                             "upstream direct, the latency it adds at 1 connection (needs wrk)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run, whole (default 3, quick 1); the scale "
                                                        "table runs that many rounds of 1 s runs (default 2, quick 1)")
    parser.add_argument("--cpu-rounds", type=int, help="rounds of table 6's rows, memory and Redis alternated, each "
                                                          "figure the median round (default 3, quick 1; odd is best)")
    parser.add_argument("--tasks", type=int, help="tasks in the scale world (default 100,000, quick 10,000)")
    parser.add_argument("--sessions", type=int, help="sessions for the memory figure (default 1,000, quick 100)")
    parser.add_argument("--live-sessions", type=int,
                        help="live sessions in the scale table (default 50,000, quick 5,000)")
    args = parser.parse_args()
    # The scale table runs 1 s rounds: --duration of them, else 2 (quick 1), to stay near 10 minutes on 2 cores.
    args.rounds = max(1, round(args.duration)) if args.duration else 1 if args.quick else 2
    args.duration = args.duration or (1 if args.quick else 3)
    # one CPU run per row and side moved by 15-20% from one run to the next on 2 shared cores
    args.cpu_rounds = max(1, args.cpu_rounds) if args.cpu_rounds is not None else 1 if args.quick else 3
    args.tasks = args.tasks or (10_000 if args.quick else 100_000)
    args.sessions = args.sessions or (100 if args.quick else 1_000)
    args.live_sessions = args.live_sessions or (5_000 if args.quick else 50_000)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally kills the servers
    started = time.perf_counter()
    try:
        if args.bounded_only:
            report = run_alone(lambda tmp: [bounded.table(bounded.run(lambda name, *extra: sandbox(name, tmp, *extra),
                                                                      say), fmt, grid)])
        elif args.scale_only or args.cpu_only or args.proxy_only:
            wrk_bin = ensure_wrk()
            report = run_alone(lambda tmp: sections(args, wrk_bin, tmp, args.scale_only, args.cpu_only,
                                                    args.proxy_only))
        else:
            report = run(args)
    except KeyboardInterrupt:
        say("interrupted: servers stopped")
        sys.exit(130)
    print(machine())
    print(report)
    print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
