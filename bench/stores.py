"""bench.py's store rows: every operation on one memory worker, and on one and two workers sharing a Redis."""
from __future__ import annotations

import os
import uuid

from operations import OPS, wrong

SIDES = ("memory ×1", "redis ×1", "redis ×2")


def redis_url() -> str | None:
    """TASK_SANDBOX_REDIS_URL, else 127.0.0.1:6379 when it answers; None: the rows are skipped."""
    import redis

    url = os.environ.get("TASK_SANDBOX_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except redis.RedisError:
        return None


def servers(url: str, start) -> tuple[dict, list[str]]:
    """{side: a function starting its server}, and the Redis key prefixes to drop afterwards."""
    prefixes = [f"task-sandbox-bench-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    return {"redis ×1": lambda: start("redis1", "--store", url, "--namespace", prefixes[0]),
            "redis ×2": lambda: start("redis2", "--store", url, "--namespace", prefixes[1], "--workers", "2")}, prefixes


def drop(url: str, prefixes: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i:i + 1000])


def table(runs: dict[str, dict], fmt, grid) -> str:
    """One row per operation: req/s of each side at 1 and 32 connections, and two workers on Redis over one
    memory worker (the target: at least 1.00× at 32 connections)."""
    head = ("operation", *(f"{side} c={c}" for c in (1, 32) for side in SIDES), "redis ×2 / memory c=32",
            "redis ×2 p99 ms c=32", "wrong status")
    body = []
    for op in OPS:
        cells = {(side, c): runs[side][op.name][c] for side in SIDES for c in (1, 32)}
        rps = [cells[(side, c)]["rps"] for c in (1, 32) for side in SIDES]
        bad = sum(wrong(op, r) for r in cells.values())
        share = cells[("redis ×2", 32)]["rps"] / cells[("memory ×1", 32)]["rps"]
        body.append((("!! " if bad else "") + op.name, *map(fmt, rps), f"{share:.2f}×",
                     fmt(cells[("redis ×2", 32)]["p99"]), f"{bad:,}"))
    return grid(head, body, 1)
