"""bench.py's CPU rows: CPU time per request of the worker and redis-server, memory store against Redis."""
from __future__ import annotations

import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from operations import OPS, TASK, Op, lua_script, warm_get, warm_up, wrk, wrong

CONNS = 32
HELD_CAP = 60_000  # --max-sessions of the servers for the held rows: no session they use is evicted
# A GET of the task in a new session per request, named as a write row names its own (operations.py):
# run first with a write row's prefix, it makes the sessions that row then writes in, so each
# write meets a session its worker holds, as a client's requests after its first do.
PREPARE = Op("prepare", "GET", TASK, 200, writes=True)
TICK = os.sysconf("SC_CLK_TCK")
TARGET = 1.5  # Redis total over memory, per request


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), from /proc/<pid>/stat; a gone pid counts 0."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
        total += int(fields[11]) + int(fields[12])     # fields 14 and 15 of proc(5)
    return total / TICK


def settle(port: int) -> None:
    """One request without a key (401, no session): it is answered once the server has finished what
    it was doing, such as a garbage collection, whose CPU then counts in the run that caused it."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}{TASK}", timeout=60)
    except urllib.error.HTTPError:
        pass


def redis_pid(url: str) -> int | None:
    """redis-server's pid (INFO server's process_id) when it runs on this machine, else None."""
    import redis

    pid = redis.Redis.from_url(url).info("server").get("process_id")
    return pid if pid and Path(f"/proc/{pid}/stat").exists() else None


def run(ctx, url: str | None) -> dict:
    """{side: {op name: figures}} for "memory" and (with a Redis at `url`) "redis", one worker each,
    each row run on one side then the other; plus redis-server's CPU during the memory runs."""
    prefix = f"task-sandbox-bench-{uuid.uuid4().hex[:8]}"
    rpid = redis_pid(url) if url else None
    servers = {"memory": ctx.start("cpu-memory")}
    if url:
        servers["redis"] = ctx.start("cpu-redis", "--store", url, "--namespace", prefix)
    figures = {side: {} for side in servers}
    # redis-server's CPU and wall seconds while memory ran (others' load), and wall seconds and requests on Redis
    background = {"cpu": 0.0, "wall": 0.0, "redis wall": 0.0, "redis requests": 0}
    try:
        for side, server in servers.items():
            server.first_200()
            warm_get(ctx.wrk, server.port)
            warm_up(server.port)
        for index, op in enumerate(OPS):
            script = ctx.tmp / f"cpu-op{index}.lua"
            script.write_text(lua_script(op))
            ctx.say(f"cpu: {op.name} at {CONNS} connections, {' then '.join(servers)}, {ctx.cpu_rounds} rounds ...")
            rounds = {side: [] for side in servers}
            for round_ in range(ctx.cpu_rounds):
                for side, server in servers.items():
                    found = measure(ctx, server, script, (f"cpu-op{index}-r{round_}",), rpid)
                    rounds[side].append(found)
                    if rpid and side == "memory":
                        background["cpu"] += found["redis"]
                        background["wall"] += max(1, round(ctx.seconds))
                    elif rpid:
                        background["redis wall"] += max(1, round(ctx.seconds))
                        background["redis requests"] += found["run"]["total"]
            for side, found in rounds.items():
                figures[side][op.name] = median_round(side, found)
        for server in servers.values():
            server.stop()
        held = _held(ctx, url, prefix + "-held", rpid)
    finally:
        for server in servers.values():
            server.stop()
        if url:
            import stores

            stores.drop(url, [prefix, prefix + "-held"])
    return {"figures": figures, "held": held, "redis_pid": rpid, "background": background, "url": url,
            "seconds": ctx.seconds, "rounds": ctx.cpu_rounds}


def _held(ctx, url: str | None, prefix: str, rpid: int | None) -> dict:
    """The write rows again, each request in a session its worker made and holds (PREPARE ran
    first, for twice the run's time, with the same names); {side: {op name: figures}}, and for
    each run how many sessions were prepared, which must be at least the requests it sent."""
    servers = {"memory": ctx.start("cpu-memory-held", "--max-sessions", str(HELD_CAP))}
    if url:
        servers["redis"] = ctx.start("cpu-redis-held", "--max-sessions", str(HELD_CAP), "--store", url,
                                     "--namespace", prefix)
    figures = {side: {} for side in servers}
    prepare = ctx.tmp / "cpu-prepare.lua"
    prepare.write_text(lua_script(PREPARE))
    try:
        for server in servers.values():
            server.first_200()
            warm_get(ctx.wrk, server.port)
            warm_up(server.port)
        for index, op in enumerate(o for o in OPS if o.writes):
            script = ctx.tmp / f"cpu-held{index}.lua"
            script.write_text(lua_script(op))
            ctx.say(f"cpu: {op.name} in held sessions at {CONNS} connections, {' then '.join(servers)}, "
                    f"{ctx.cpu_rounds} rounds ...")
            rounds = {side: [] for side in servers}
            for round_ in range(ctx.cpu_rounds):
                for side, server in servers.items():
                    names = (f"held{index}-r{round_}",)
                    made = wrk(ctx.wrk, server.port, CONNS, 2 * ctx.seconds, prepare, names)
                    settle(server.port)
                    rounds[side].append({**measure(ctx, server, script, names, rpid), "prepared": made["total"]})
            for side, found in rounds.items():
                figures[side][op.name] = median_round(side, found)
    finally:
        for server in servers.values():
            server.stop()
    return figures


def measure(ctx, server, script: Path, names: tuple, rpid: int | None) -> dict:
    """One wrk run of a row: its result, and the CPU seconds the worker and redis-server spent on it."""
    pids = server.pids()
    worker, store = cpu_seconds(pids), cpu_seconds([rpid] if rpid else [])
    done = wrk(ctx.wrk, server.port, CONNS, ctx.seconds, script, names)
    settle(server.port)
    worker, store = cpu_seconds(pids) - worker, cpu_seconds([rpid] if rpid else []) - store
    return {"run": done, "worker": worker, "redis": store if rpid else None}


def median_round(side: str, rounds: list[dict]) -> dict:
    """Of one row's rounds on one side, the one whose CPU a request is the median: the worker's, and
    on Redis redis-server's with it (during a memory run redis-server's CPU is others' load)."""
    def per_request(found: dict) -> float:
        spent = found["worker"] + ((found["redis"] or 0) if side == "redis" else 0)
        return spent / found["run"]["total"] if found["run"]["total"] else float("inf")
    # the upper of the two middle rounds when there is an even number; every round kept, so that a
    # wrong answer or a short preparation in any of them marks the row
    return {**sorted(rounds, key=per_request)[len(rounds) // 2], "rounds": rounds}


def _us(seconds: float | None, requests: int) -> float | None:
    return None if seconds is None or not requests else seconds * 1e6 / requests


def _rows(figures: dict, ops: list, fmt) -> list:
    body = []
    for op in ops:
        mem, red = figures["memory"][op.name], figures.get("redis", {}).get(op.name)
        m = _us(mem["worker"], mem["run"]["total"])
        w = s = total = None
        if red:
            w, s = _us(red["worker"], red["run"]["total"]), _us(red["redis"], red["run"]["total"])
            total = w + s if s is not None else None
        share = total / m if total and m else None
        rounds = [r for f in (mem, red) if f for r in f.get("rounds", [f])]
        bad = sum(wrong(op, r["run"]) for r in rounds)
        # a held row whose run sent more requests than sessions were prepared wrote in new ones too
        short = any(r["run"]["total"] > r["prepared"] for r in rounds if "prepared" in r)
        body.append((("!! " if bad or short else "") + op.name,
                     f"{mem['run']['total']:,} / " + (f"{red['run']['total']:,}" if red else "—"),
                     fmt(m), fmt(w), fmt(s), fmt(total),
                     "—" if share is None else f"{'!! ' if share > TARGET else ''}{share:.2f}×",
                     fmt(1e6 / m if m else None), fmt(1e6 / total if total else None), f"{bad:,}"))
    return body


def table(result: dict, fmt, grid) -> str:
    """One row per operation: CPU µs per request of the memory worker, the Redis worker,
    redis-server and the two together, Redis over memory, and the per-core req/s that follows;
    then the write rows again in sessions the worker holds."""
    figures = result["figures"]
    head = ("operation", "requests memory / Redis", "µs/req memory worker", "µs/req Redis worker",
            "µs/req redis-server", "µs/req Redis total", "Redis total / memory", "req/s per core memory",
            "req/s per core Redis", "wrong status")
    body = _rows(figures, OPS, fmt)
    notes = [f"wrk: 1 thread, {CONNS} connections, {max(1, round(result['seconds']))} s a run, {result['rounds']} "
             "rounds per row, each a run on each side (memory, then Redis), and each figure the side's median round "
             "by CPU a request; after a 1 s GET warm-up and each row's request 10 times; writes in a "
             "new session per request, as in table 1 (the default --max-sessions of 100, least recently used "
             "evicted).",
             "CPU: utime + stime from /proc/<pid>/stat (ticks of 1/%d s) of the serve process and its children "
             "before the run and once a request without a key sent after it is answered, and of redis-server (its "
             "pid from INFO server's process_id), divided by the requests wrk completed; per core = 1e6 / µs per "
             "request. Target: Redis total / memory at most %.1f× (!! above)." % (TICK, TARGET)]
    if "redis" not in figures:
        notes.append("No Redis (or --no-redis): the Redis columns are empty.")
    elif result["redis_pid"] is None:
        notes.append("redis-server does not run on this machine (no /proc/<process_id>): its columns are empty.")
    else:
        bg = result["background"]
        rate = bg["cpu"] / bg["wall"]
        notes.append(f"redis-server {result['redis_pid']} at {result['url']} is shared: during the memory runs, "
                     f"which send it nothing, it used {bg['cpu']:.2f} s of CPU in {bg['wall']:.0f} s "
                     f"({100 * rate:.1f}% of a core), which its column counts too: at that rate, about "
                     f"{rate * bg['redis wall'] * 1e6 / max(1, bg['redis requests']):.0f} µs of each Redis request's.")
    held = grid(head, _rows(result["held"], [op for op in OPS if op.writes], fmt), 1)
    notes.append(f"Writes in held sessions (the second grid): the same write rows on servers with --max-sessions "
                 f"{HELD_CAP:,}, each request in a session its worker made with a GET just before (a run of "
                 f"{2 * max(1, round(result['seconds']))} s naming sessions as the row then does), as a client's "
                 "requests after its first are: no session is made or evicted in the measured run. A row marked !! "
                 "before its name sent more requests than sessions were prepared.")
    return grid(head, body, 1) + "\n\nWrites in sessions the worker holds\n\n" + held + "\n\n" + "\n".join(notes)
