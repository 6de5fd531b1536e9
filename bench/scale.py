"""bench.py's scale rows: every operation on servers holding much (sessions, tasks, journals) beside a baseline."""
from __future__ import annotations

import re
import signal
import string
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass

from cpu import cpu_seconds, redis_pid, settle
from operations import KEY, OPS, PROJECT, TASK, lua_script, lua_str, warm_get, warm_up, wrk, wrong

HEADROOM = 1.2       # --max-sessions = live sessions × this: the writes' new sessions fill it, then each evicts one
JOURNAL_FILL = 1200  # requests of each kind in the default session, over --journal-size's default of 1,000
SMALL_WORLD = 20     # generated tasks in every other server's world: list pages of the same tasks as the big one's
SLOW = 0.8           # a req/s ratio under this is flagged, and a CPU ratio over its inverse
# Each kind lands in one of the journal's three lists: a valid call, a violation, a refusal.
JOURNAL_KINDS = [("GET", TASK, None), ("GET", PROJECT + "/task?limit=0", None),
                 ("POST", PROJECT + "/task/task_email000att2/approve", None)]  # approved already: 400
# Sends `n` requests round a list (a new session per request with a prefix), prints "sent" once n
# answers came so that Python can stop wrk with SIGINT, and counts the answers by status.
SEND_LUA = string.Template("""local reqs = {$reqs}
local n, prefix, i, got = 0, nil, 0, 0
codes = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = tonumber(args[1]); prefix = args[2] end
function request()
  i = i + 1
  local r = reqs[(i - 1) % #reqs + 1]
  local headers = {["Authorization"] = $key}
  if prefix then headers["X-Sandbox-Session"] = prefix .. "-" .. ((i - 1) % n + 1) end
  return wrk.format(r[1], r[2], headers, r[3])
end
function response(status)
  codes[status] = (codes[status] or 0) + 1
  got = got + 1
  if got == n then io.write("sent\\n"); io.flush() end
end
function done()
  for _, thread in ipairs(threads) do
    for status, c in pairs(thread:get("codes")) do io.write(string.format("status %d %d\\n", status, c)) end
  end
end
""")


@dataclass(frozen=True)
class Side:
    """One server of the comparison: its serve flags, what it is filled with, and whether it runs the writes."""
    key: str
    label: str               # its column
    server: str              # what it holds
    extra: tuple = ()
    live: int = 0            # sessions made before the rows (GET task in each)
    reads_only: bool = False  # a write row's sessions are new, so this side would measure nothing new


def sides(store: str, live: int, tasks: int) -> list[Side]:
    """The baseline first; then the sides each compared with it (the journal one the other way round).
    "--fixtures SMALL" and "BIG" stand for the worlds of SMALL_WORLD and `tasks` generated tasks."""
    small = ("--fixtures", "SMALL")
    out = [Side("base", "baseline", "baseline", small),
           Side("sessions", f"{live:,} sessions", f"{live:,} sessions",
                (*small, "--max-sessions", str(int(live * HEADROOM))), live)]
    if store == "memory":
        out.append(Side("tasks", f"{tasks:,} tasks", f"{tasks:,} tasks", ("--fixtures", "BIG")))
    return out + [Side("journal", "full journals", "journals of one entry", (*small, "--journal-size", "1"),
                       reads_only=True)]


def send(binary: str, port: int, script, count: int, prefix: str | None = None) -> dict:
    """`count` requests at 32 connections; wrk stops when the last answer came (SIGINT)."""
    cmd = [binary, "-t1", "-c32", f"-d{count // 100 + 120}s", "--timeout", "10s", "-s", str(script),
           f"http://127.0.0.1:{port}/", "--", str(count), *([prefix] if prefix else [])]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == "sent":
            proc.send_signal(signal.SIGINT)
            break
    out, seconds = proc.communicate(timeout=60)[0], time.perf_counter() - t0
    return {"seconds": seconds, "statuses": Counter({int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$",
                                                                                           out, re.M)})}


def send_script(folder, name: str, reqs: list[tuple]) -> str:
    script = folder / f"{name}.lua"
    table = ", ".join("{" + ", ".join(map(lua_str, r)) + "}" for r in reqs)
    script.write_text(SEND_LUA.substitute(reqs=table, key=lua_str(KEY)))
    return script


def live_sessions(port: int) -> int:
    """Sessions the server holds now, the default one included (GET /_sandbox/sessions)."""
    import json

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/sessions", timeout=60) as answer:
        return len(json.load(answer)["payload"])


def prepare(ctx, side: Side, server, fills: dict) -> None:
    """Sessions first (so they are the least recently used), then the warm-ups and the default session's
    three journal lists past their bound, the same on every side."""
    server.first_200()
    if side.live:
        ctx.say(f"scale: {side.live:,} sessions on {server.name} ...")
        fills[side.key] = send(ctx.wrk, server.port, send_script(ctx.tmp, "fill", [("GET", TASK)]), side.live,
                               f"fill-{uuid.uuid4().hex[:6]}")
    warm_get(ctx.wrk, server.port)
    warm_up(server.port)
    fills[side.key + " journal"] = send(ctx.wrk, server.port, send_script(ctx.tmp, "journal", JOURNAL_KINDS),
                                        JOURNAL_FILL * len(JOURNAL_KINDS))


def measure(ctx, store: str, url: str | None, worlds: dict) -> dict:
    """Every row at 1 and 32 connections on each side, the sides one after the other for each run, so
    the machine's drift hits them alike."""
    prefixes, servers, fills = [], {}, {}
    rounds = ctx.rounds  # of 1 s runs: a burst of other load spoils one run, not the median
    rpid = redis_pid(url) if url else None  # its CPU counts in each Redis run's cost
    t0 = time.perf_counter()
    try:
        for side in sides(store, ctx.live, ctx.tasks):
            extra = tuple(str(worlds.get(a, a)) for a in side.extra)
            if url:
                prefixes.append(f"task-sandbox-bench-{uuid.uuid4().hex[:8]}")
                extra = ("--store", url, "--namespace", prefixes[-1], *extra)
            servers[side] = ctx.start(f"scale-{store}-{side.key}", *extra)
        for side, server in servers.items():
            prepare(ctx, side, server, fills)
        live = {side.key: live_sessions(server.port) for side, server in servers.items()}
        start = {side.key: cpu_seconds(server.pids()) for side, server in servers.items()}
        own = dict.fromkeys(start, 0.0)
        runs = {side.key: {} for side in servers}
        for index, op in enumerate(OPS):
            script = ctx.tmp / f"scale-op{index}.lua"
            script.write_text(lua_script(op))
            ctx.say(f"scale, {store}: {op.name} at 1 and 32 connections on {len(servers)} servers ...")
            for conns, turn in ((c, t) for c in (1, 32) for t in range(rounds)):
                order = list(servers.items())
                for side, server in order[turn % len(order):] + order[:turn % len(order)]:  # no side always first
                    if side.reads_only and op.writes:
                        continue
                    pids, kv = server.pids(), [rpid] if rpid else []
                    before, kv_before = cpu_seconds(pids), cpu_seconds(kv)
                    done = wrk(ctx.wrk, server.port, conns, 1, script, (f"op{index}-c{conns}-r{turn}",))
                    settle(server.port)
                    worker = cpu_seconds(pids) - before
                    done["cpu"] = worker + cpu_seconds(kv) - kv_before
                    runs[side.key].setdefault(op.name, {}).setdefault(conns, []).append(done)
                    own[side.key] += worker
        idle = {side.key: cpu_seconds(server.pids()) - start[side.key] - own[side.key]
                for side, server in servers.items()}
        after = {side.key: live_sessions(server.port) for side, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
        if prefixes:
            import stores

            stores.drop(url, prefixes)
    return {"sides": list(servers), "runs": runs, "fills": fills, "live": live, "after": after, "idle": idle,
            "seconds": time.perf_counter() - t0, "redis_pid": rpid}


def run(ctx, url: str | None) -> dict:
    """{store: figures} for the memory store and, with a Redis at `url`, for Redis."""
    ctx.say(f"scale: writing worlds of {ctx.tasks:,} and {SMALL_WORLD} tasks ...")
    worlds = {"BIG": ctx.write_world(ctx.tmp / "scale-big", ctx.tasks, whole=True),
              "SMALL": ctx.write_world(ctx.tmp / "scale-small", SMALL_WORLD, whole=True)}
    found = {"memory": measure(ctx, "memory", None, worlds)}
    if url:
        found["redis"] = measure(ctx, "redis", url, worlds)
    return found


# Over all the rounds of a row, pooled rather than a median of runs: a pause every few seconds (a
# garbage collection over all live sessions) lands in one run in several, and must count.
def _rps(runs: list[dict]) -> float | None:
    seconds = sum(r["total"] / r["rps"] for r in runs if r["rps"])
    return sum(r["total"] for r in runs) / seconds if seconds else None


def _cost(runs: list[dict]) -> float | None:
    """CPU µs per request: the server's, and redis-server's on Redis."""
    total = sum(r["total"] for r in runs)
    return sum(r["cpu"] for r in runs) * 1e6 / total if total else None


def store_table(m: dict, metric, fmt, grid) -> str:
    """One row per operation: the baseline's figure at 1 and 32 connections, then each grown side over it
    (full journals: the baseline over the side whose journals keep one entry)."""
    sides, value, name, flag = m["sides"], *metric
    grown = [s for s in sides if s.key != "base"]
    head = ("operation", *(h for c in (1, 32) for h in (f"baseline {name} c={c}", *(f"{s.label} c={c}"
                                                                                     for s in grown))),
            "wrong status")
    body = []
    for op in OPS:
        runs = {s.key: m["runs"][s.key].get(op.name, {}) for s in sides}
        cells = []
        for c in (1, 32):
            base = value(runs["base"][c])
            cells.append(fmt(base))
            for s in grown:
                other = runs[s.key].get(c)
                pair = (base, other and value(other)) if s.key == "journal" else (other and value(other), base)
                share = pair[0] / pair[1] if pair[0] and pair[1] else None
                cells.append("—" if share is None else f"{'!! ' if flag(share) else ''}{share:.2f}×")
        bad = sum(wrong(op, r) for by_conns in runs.values() for rounds in by_conns.values() for r in rounds)
        body.append((("!! " if bad else "") + op.name, *cells, f"{bad:,}"))
    return grid(head, body, 1)


METRICS = {"req/s": (_rps, "req/s", lambda share: share < SLOW),
           "cpu": (_cost, "µs/req", lambda share: share > 1 / SLOW)}


def notes(store: str, m: dict) -> list[str]:
    """Each server's flags and live sessions, how fast the sessions were made, and the CPU each used idle."""
    labels, fills = {s.key: s for s in m["sides"]}, m["fills"]
    lines = [f"{store}: " + "; ".join(
        f"{s.server}: `serve {' '.join(s.extra)}`, {m['live'][s.key]:,} live sessions before the rows, "
        f"{m['after'][s.key]:,} after" for s in m["sides"])]
    if "sessions" in fills:
        f, live = fills["sessions"], labels["sessions"].live
        lines.append(f"{store}: {live:,} sessions made in {f['seconds']:.1f} s ({live / f['seconds']:,.0f}/s; "
                     "answers " + ", ".join(f"{k}×{n:,}" for k, n in sorted(f["statuses"].items())) + ")")
    worst = {}
    for key, by_op in m["runs"].items():
        p99s = [(r["p99"] or 0, op) for op, by_conns in by_op.items() for r in by_conns.get(32, [])]
        worst[key] = max(p99s, default=(0, "—"))
    lines.append(f"{store}: worst p99 of a 1 s run at 32 connections (pauses show here): "
                 + ", ".join(f"{labels[k].server} {ms:,.0f} ms ({op})" for k, (ms, op) in worst.items()))
    lines.append(f"{store}: CPU seconds each server used while the others ran (idle work, such as a sender's): "
                 + ", ".join(f"{labels[k].server} {v:.2f}" for k, v in m["idle"].items())
                 + f"; this store's part took {m['seconds']:.0f} s")
    return lines


def table(found: dict, ctx, fmt, grid) -> str:
    out = []
    for store, m in found.items():
        cost = "the worker's and redis-server's" if m["redis_pid"] else "the worker's"
        out.append(f"{store} store, req/s: grown / baseline\n\n" + store_table(m, METRICS["req/s"], fmt, grid)
                   + f"\n\n{store} store, CPU µs per request ({cost}): grown / baseline\n\n"
                   + store_table(m, METRICS["cpu"], fmt, grid) + "\n\n" + "\n".join(notes(store, m)))
    out.append("\n".join([
        f"wrk: 1 thread, {ctx.rounds} rounds of 1 s runs, pooled (requests over seconds, CPU over requests); "
        "in each round each row runs "
        "on every server in turn (a different one first each round), at 1 then 32 connections; after a 1 s GET "
        "warm-up and each row's request 10 times. Writes send a new X-Sandbox-Session per request, as in table 1.",
        f"Ratio = grown / baseline: of req/s (!! under {SLOW:.1f}×), and of CPU µs per request (!! over "
        f"{1 / SLOW:.2f}×): utime + stime of the serve process, and on Redis of redis-server too, over the "
        "requests wrk completed, read once a request without a key sent after the run is answered (so that a "
        "pause's CPU counts in the run that caused it); other load on the machine moves it far less than req/s.",
        f"SMALL: the default world plus {SMALL_WORLD} generated tasks in proj_123456, so that a list page shows "
        f"the same tasks as on BIG, the default world plus {ctx.tasks:,}. Baseline: --max-sessions 100, at most "
        f"101 live sessions. Sessions: --max-sessions at {HEADROOM:g}× the sessions made first (GET task in each, "
        "32 connections); the writes' new sessions fill it, then each evicts the least recently used.",
        f"Full journals: every server's default session gets {JOURNAL_FILL:,} valid calls, violations (limit=0) "
        "and refusals (approve of an approved task) before the rows, past --journal-size's 1,000, and the read "
        "rows keep its journal full; the column is the baseline over the same server with --journal-size 1. "
        "Write rows run in new sessions, whose journals start empty: that column has none for them."]))
    return "\n\n".join(out)
