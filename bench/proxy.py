"""bench.py's proxy rows: every operation through `task-sandbox proxy` beside the same upstream direct."""
from __future__ import annotations

import http.client
import statistics
import time
from dataclasses import replace

from cpu import TICK, cpu_seconds, settle
from operations import OPS, Op, lua_script, warm_get, warm_up, wrk, wrong

CONNS = (1, 32)
SIDES = ("direct", "proxy")
PRIME = 100  # requests at most before a row answers as its runs will: reportTask needs 51
# The proxy keeps X-Sandbox-Session (it names the proxy's own journal), so every request lands in the
# upstream's default session, where table 1's fresh sessions cannot be had: these writes transition once
# there (reportTask: until its task holds 50 reports, the sandbox's bound) and are refused from then on,
# with this code, which every measured request gets on both sides.
REFUSED = {"completeTask": "task_not_reviewing", "discardTask": "task_not_reviewing",
           "unlockTask": "task_not_unlockable", "approveTask": "task_already_approved",
           "disapproveTask": "task_already_disapproved", "reportTask": "session_full"}
RESET = ("POST", "/_sandbox/reset", "{}", {"Content-Type": "application/json"})
# createUpload adds two records a request (an upload and its task) to the one session: at the default
# --session-records of 10,000 a 3 s run direct reaches the bound and is refused, the slower proxy's is not.
SESSION_RECORDS = 1_000_000


def rows() -> list[Op]:
    """Table 1's rows without their new session per write; a write in REFUSED answers 400 after the first."""
    return [replace(op, writes=False, expect=400 if op.name in REFUSED else op.expect) for op in OPS]


def prime(port: int, op: Op) -> None:
    """The upstream's default session back to the seed, then the row's request until it answers `expect`
    (PRIME times at most; if not, the run's wrong statuses say so), so that both sides start from the same
    state: createUpload's uploads pile up over a run (each adds tasks to listTasks' page), and a refused
    write must have made its transitions already."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        method, path, body, headers = RESET
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"POST /_sandbox/reset on the upstream answered {answer.status}: {answer.read()!r}")
        answer.read()
        for _ in range(PRIME):
            conn.request(op.method, op.path, body=op.body, headers=op.headers())
            answer = conn.getresponse()
            answer.read()
            if answer.status == op.expect:
                break
    finally:
        conn.close()


def quiet(pids: list[int], step: float = 0.1, most: float = 5.0) -> None:
    """Until these processes used no CPU for `step` seconds. When wrk stops, the proxy still forwards the
    requests it had in flight (up to 32) and answers the settling request among them, not after them; sent
    late, they would land after the next row's priming (an approve undoing a disapprove) and their CPU in
    the next run."""
    until, last = time.monotonic() + most, cpu_seconds(pids)
    while time.monotonic() < until:
        time.sleep(step)
        now = cpu_seconds(pids)
        if now == last:
            return
        last = now


def run(ctx) -> dict:
    """{op name: {side: {conns: {"run": wrk result, "cpu": {side: CPU seconds}}}}}: each row at 1, then 32
    connections, on the upstream direct then through the proxy, each run from a freshly primed session."""
    upstream = ctx.start("proxy-upstream", "--session-records", str(SESSION_RECORDS))
    upstream.first_200()
    proxy = ctx.proxy("proxy", upstream.port)
    proxy.first_200()  # a 200 of GET task through it: it forwards
    servers = {"direct": upstream, "proxy": proxy}
    pids = {side: server.pids() for side, server in servers.items()}
    figures = {}
    try:
        for server in servers.values():  # the proxy's warm-up writes name sessions of its own, not forwarded
            warm_get(ctx.wrk, server.port)
            warm_up(server.port)
        for index, op in enumerate(rows()):
            script = ctx.tmp / f"proxy-op{index}.lua"
            script.write_text(lua_script(op))
            ctx.say(f"proxy: {op.name} at 1 and 32 connections, direct then through the proxy ...")
            figures[op.name] = {side: {} for side in SIDES}
            for conns in CONNS:
                for side, server in servers.items():
                    prime(upstream.port, op)
                    before = {s: cpu_seconds(p) for s, p in pids.items()}
                    done = wrk(ctx.wrk, server.port, conns, ctx.seconds, script)
                    settle(server.port)
                    quiet(pids["direct"] + pids["proxy"])
                    figures[op.name][side][conns] = {"run": done,
                                                     "cpu": {s: cpu_seconds(p) - before[s] for s, p in pids.items()}}
    finally:
        proxy.stop()
        upstream.stop()
    return {"figures": figures, "seconds": ctx.seconds}


def _us(seconds: float, requests: int) -> float | None:
    return seconds * 1e6 / requests if requests else None


def _less(a, b):
    return a - b if a is not None and b is not None else None


def table(result: dict, fmt, grid, ratio) -> str:
    """Two grids of the same rows: at 1 connection the latency the proxy adds (the figure to show) and
    req/s; at 32 connections req/s, p99 and the CPU each process spent per request."""
    figures, ops = result["figures"], rows()
    one_head = ("operation", "answer", "p50 ms direct", "p50 ms proxy", "added p50 ms", "p99 ms direct",
                "p99 ms proxy", "added p99 ms", "req/s direct", "req/s proxy", "proxy / direct", "wrong status")
    many_head = ("operation", "req/s direct", "req/s proxy", "proxy / direct", "p99 ms direct", "p99 ms proxy",
                 "µs/req proxy", "µs/req upstream direct", "µs/req upstream via proxy", "proxy req/s per core",
                 "wrong status")
    one, many, notes, added = [], [], [], {}
    for op in ops:
        cell = {(side, c): figures[op.name][side][c] for side in SIDES for c in CONNS}
        runs = {(side, c): cell[(side, c)]["run"] for side, c in cell}
        bad = {c: " / ".join(f"{wrong(op, runs[(side, c)]):,}" for side in SIDES) for c in CONNS}
        flag = {c: "!! " if any(wrong(op, runs[(side, c)]) for side in SIDES) else "" for c in CONNS}
        d, p = runs[("direct", 1)], runs[("proxy", 1)]
        added[op.name] = _less(p["p50"], d["p50"])
        one.append((flag[1] + op.name, str(op.expect), fmt(d["p50"]), fmt(p["p50"]), fmt(added[op.name]),
                    fmt(d["p99"]), fmt(p["p99"]), fmt(_less(p["p99"], d["p99"])), fmt(d["rps"]), fmt(p["rps"]),
                    ratio(p["rps"], d["rps"]), bad[1]))
        used = {side: cell[(side, 32)]["cpu"] for side in SIDES}
        us = _us(used["proxy"]["proxy"], runs[("proxy", 32)]["total"])
        d, p = runs[("direct", 32)], runs[("proxy", 32)]
        many.append((flag[32] + op.name, fmt(d["rps"]), fmt(p["rps"]), ratio(p["rps"], d["rps"]), fmt(d["p99"]),
                     fmt(p["p99"]), fmt(us), fmt(_us(used["direct"]["direct"], d["total"])),
                     fmt(_us(used["proxy"]["direct"], p["total"])), fmt(1e6 / us if us else None), bad[32]))
        for (side, c), r in runs.items():
            if wrong(op, r):
                other = ", ".join(f"{code}×{n:,}" for code, n in sorted(r["statuses"].items()) if code != op.expect)
                notes.append(f"!! {op.name}, {side} c={c}: {r['statuses'][op.expect]:,} answered {op.expect}; "
                             f"others: {other or 'none'}, {r['socket_errors']:,} socket errors")
    reads = [added[op.name] for op in ops if op.method == "GET" and added[op.name] is not None]
    every = [a for a in added.values() if a is not None]
    seconds = max(1, round(result["seconds"]))
    notes += [
        f"Added p50 at 1 connection: median {statistics.median(every):.2f} ms over the rows, "
        f"{statistics.median(reads):.2f} ms over the GET rows." if reads else "No latency figures.",
        f"wrk: 1 thread, {seconds} s a run; each row at 1 then 32 connections, on the upstream direct then through "
        "the proxy, after a 1 s GET warm-up (32 conns) and table 1's requests 10 times on each. Upstream: "
        f"`serve --session-records {SESSION_RECORDS}` (createUpload's records), memory store, default fixtures; "
        "proxy: `proxy --upstream http://127.0.0.1:<its port>`; both --log-level warning, on this machine, so at "
        "32 connections wrk, proxy and upstream share its cores.",
        "The proxy keeps X-Sandbox-Session, so every request lands in the upstream's default session, which is "
        "reset (POST /_sandbox/reset) and sent the row's request until it answers `answer` before each run. "
        "createUpload and moveUpload do their work on every request, as in table 1; the other writes made their "
        "transitions while priming (reportTask: 50 reports, the most a task holds) and are refused on every "
        "measured request, on both sides alike: "
        + ", ".join(f"{name} 400 {code}" for name, code in REFUSED.items()) + ".",
        f"CPU: utime + stime from /proc/<pid>/stat (ticks of 1/{TICK} s) of each process over the run, read again "
        "once a request without a key is answered and neither used CPU for 0.1 s (the proxy forwards what was "
        "in flight when wrk stopped), divided by the requests wrk completed; per core = 1e6 / the "
        "proxy's µs per request, the req/s one proxy process could forward with a core to itself."]
    return ("At 1 connection: the latency the proxy adds\n\n" + grid(one_head, one, 2)
            + "\n\nAt 32 connections: throughput, and CPU time per request\n\n" + grid(many_head, many, 1)
            + "\n\n" + "\n".join(notes))
