"""Measure on a real Redis three ways to commit one session record without lost updates: Lua CAS, WATCH/MULTI/EXEC, token lock."""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.exceptions import WatchError

# HGET returns the version as a string, so compare strings: the writers only ever store integers.
CAS_LUA = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', tonumber(ARGV[1]) + 1, 'd', ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
return 1
"""
# A plain DEL could free a lock that expired and was taken by another writer meanwhile.
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
LOCK_PX = 2000  # long enough for any commit here, short enough that a crashed holder does not wedge the session
LOCK_POLL = 0.001
REVIEWING, PROCESSING = "REVIEWING", "PROCESSING"


class CountingConnection(Connection):
    """Counts writes to the socket: a command, a pipeline or a MULTI..EXEC block each go out in one write, one round trip."""
    sent = 0

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


@dataclass
class Keys:
    session: str
    records: str
    lock: str
    cas: AsyncScript
    release: AsyncScript


Mutate = Callable[[dict], "dict | None"]  # None: nothing to do any more, give up
Method = Callable[[aioredis.Redis, Keys, Mutate, list], Awaitable[bool]]


def bump(d: dict) -> dict:
    return {**d, "n": d["n"] + 1}


def take(d: dict) -> dict | None:
    return None if d["status"] != REVIEWING else {**d, "status": PROCESSING}


def record_fields(d: dict) -> dict:
    return {"task_abcdef123456": json.dumps({"status": d["status"], "n": d["n"]}), "updated": repr(time.time())}


async def read(r: aioredis.Redis, k: Keys) -> tuple[str, dict]:
    v, d = await r.hmget(k.session, "v", "d")
    return v, json.loads(d)


async def lua_cas(r: aioredis.Redis, k: Keys, mutate: Mutate, tries: list) -> bool:
    v, d = await read(r, k)
    while (new := mutate(d)) is not None:
        tries[0] += 1
        flat = [x for kv in record_fields(new).items() for x in kv]
        if await k.cas(keys=[k.session, k.records], args=[v, json.dumps(new), *flat]):
            return True
        v, d = await read(r, k)  # lost the race: redo the change on the winner's state
    return False


async def watch_multi(r: aioredis.Redis, k: Keys, mutate: Mutate, tries: list) -> bool:
    async with r.pipeline(transaction=True) as pipe:
        while True:
            await pipe.watch(k.session)
            v, d = await pipe.hmget(k.session, "v", "d")  # immediate mode while watching
            new = mutate(json.loads(d))
            if new is None:
                return False  # leaving the block sends UNWATCH so the pooled connection is clean
            tries[0] += 1
            pipe.multi()
            pipe.hset(k.session, mapping={"v": int(v) + 1, "d": json.dumps(new)})
            pipe.hset(k.records, mapping=record_fields(new))
            try:
                await pipe.execute()
                return True
            except WatchError:
                continue  # EXEC already dropped the watch; WATCH again and re-read


async def token_lock(r: aioredis.Redis, k: Keys, mutate: Mutate, tries: list) -> bool:
    token = secrets.token_hex(8)  # per commit, so the release can tell our lock from a later holder's
    while True:
        tries[0] += 1
        if await r.set(k.lock, token, nx=True, px=LOCK_PX):
            break
        await asyncio.sleep(LOCK_POLL)
    try:
        v, d = await read(r, k)
        new = mutate(d)
        if new is None:
            return False
        # The lock already keeps other writers out, so no MULTI: both writes just share one round trip.
        async with r.pipeline(transaction=False) as p:
            p.hset(k.session, mapping={"v": int(v) + 1, "d": json.dumps(new)})
            p.hset(k.records, mapping=record_fields(new))
            await p.execute()
        return True
    finally:
        await k.release(keys=[k.lock], args=[token])


METHODS: dict[str, Method] = {"lua CAS": lua_cas, "WATCH/MULTI/EXEC": watch_multi, "SET NX PX lock": token_lock}
ROUND_TRIPS = {"lua CAS": "2: HMGET, EVALSHA", "WATCH/MULTI/EXEC": "3: WATCH, HMGET, MULTI..EXEC",
               "SET NX PX lock": "4: SET NX, HMGET, 2xHSET, EVALSHA"}


async def reset(r: aioredis.Redis, k: Keys, status: str = REVIEWING) -> None:
    # ~300 bytes of JSON, about what a session record holds
    d = {"status": status, "n": 0, "note": "x" * 240}
    await r.delete(k.lock, k.records)
    await r.hset(k.session, mapping={"v": 0, "d": json.dumps(d)})


async def counter(r: aioredis.Redis, k: Keys) -> int:
    return json.loads(await r.hget(k.session, "d"))["n"]


async def uncontended(r: aioredis.Redis, k: Keys, method: Method, rounds: int) -> tuple[float, float, float]:
    await reset(r, k)
    await method(r, k, bump, [0])  # warm-up: connection set-up and SCRIPT LOAD are not part of a commit
    before, sent0, lat = await counter(r, k), CountingConnection.sent, []
    t0 = time.perf_counter()
    for _ in range(rounds):
        t = time.perf_counter()
        await method(r, k, bump, [0])
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    rtt = (CountingConnection.sent - sent0) / rounds
    assert await counter(r, k) - before == rounds, "uncontended commits lost"
    return rounds / wall, statistics.mean(lat) * 1000, rtt


async def contended(r: aioredis.Redis, k: Keys, method: Method, rounds: int, n: int, first_wins: bool) -> dict:
    mutate = take if first_wins else bump
    walls, tries_per_round, rtts, bad = [], [], [], 0
    for i in range(rounds + 1):  # round 0 warms the pool up to n connections
        await reset(r, k)
        before, sent0, tries = await counter(r, k), CountingConnection.sent, [0]
        t0 = time.perf_counter()
        won = await asyncio.gather(*(method(r, k, mutate, tries) for _ in range(n)))
        wall = time.perf_counter() - t0
        sent = CountingConnection.sent - sent0
        if first_wins:
            status = json.loads(await r.hget(k.session, "d"))["status"]
            bad += sum(won) != 1 or status != PROCESSING
        else:
            bad += n - (await counter(r, k) - before)  # lost updates
        if i:
            walls.append(wall * 1000)
            tries_per_round.append(tries[0])
            rtts.append(sent)
    return {"ms": statistics.mean(walls), "p50": statistics.median(walls), "tries": statistics.mean(tries_per_round),
            "rtt": statistics.mean(rtts), "bad": bad}


async def main(args: argparse.Namespace) -> None:
    r = aioredis.Redis.from_url(args.url, connection_class=CountingConnection)
    prefix = f"bench-concurrency:{secrets.token_hex(4)}:"
    k = Keys(prefix + "session", prefix + "records", prefix + "lock",
             r.register_script(CAS_LUA), r.register_script(RELEASE_LUA))
    n, crounds = args.contenders, max(1, args.rounds // 10)
    try:
        print(f"redis {(await r.info('server'))['redis_version']} at {args.url}, keys under {prefix}")
        print(f"\n1. uncontended: 1 writer, {args.rounds} sequential commits")
        print(f"{'method':<18} {'commits/s':>10} {'mean ms':>8} {'rt/commit':>10}  round trips per commit (code path)")
        for name, m in METHODS.items():
            cps, ms, rtt = await uncontended(r, k, m, args.rounds)
            print(f"{name:<18} {cps:>10.0f} {ms:>8.3f} {rtt:>10.2f}  {ROUND_TRIPS[name]}")

        sections = ((False, f"2. contended: {n} writers bump one counter on the same key at once",
                     "rt/commit  lost updates", "lost updates"),
                    (True, f"3. first wins: {n} writers move REVIEWING -> PROCESSING at once",
                     "rounds without exactly 1 winner", "rounds without exactly one winner"))
        for first_wins, title, column, total in sections:
            print(f"\n{title}, {crounds} rounds")
            print(f"{'method':<18} {'ms/round':>9} {'median':>7} {'attempts':>9} {'rt/round':>9}  {column}")
            bad = 0
            for name, m in METHODS.items():
                s = await contended(r, k, m, crounds, n, first_wins=first_wins)
                bad += s["bad"]
                per_commit = "" if first_wins else f" {s['rtt'] / n:>10.2f}"
                print(f"{name:<18} {s['ms']:>9.2f} {s['p50']:>7.2f} {s['tries']:>9.1f} {s['rtt']:>9.1f}{per_commit}"
                      f"  {s['bad']}")
            print(f"{total}: {bad}")
        print("\nattempts: commit tries (CAS calls, EXECs) for the optimistic methods, SET NX tries for the lock;"
              " rt: round trips, counted as socket writes")
    finally:
        keys = [key async for key in r.scan_iter(match=prefix + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0", help="Redis to measure on (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=2000,
                    help="sequential commits per method; contended runs do rounds // 10 rounds (default %(default)s)")
    ap.add_argument("--contenders", type=int, default=16, help="concurrent writers per round (default %(default)s)")
    asyncio.run(main(ap.parse_args()))
