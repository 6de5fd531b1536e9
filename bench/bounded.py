"""bench.py's bounded-memory rows: the sandbox's RSS with its inboxes, then every session's journal lists, filled to their bounds."""
from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from operations import KEY, PROJECT, TASK

RESIDENT = 2  # resident bytes per byte the bounds count, at most: the README's worst case uses it
MIB = 1024 * 1024
SESSIONS = 10                # --max-sessions: small, so the journals fill in seconds
INBOX_BYTES = 32 * MIB       # --inbox-bytes, the default
JOURNAL_BYTES = 2 * MIB      # --journal-bytes, the default
POST_BYTES = 60 * 1024       # each inbox post and each invalid report: under the inboxes' 64 KiB a post
CLIENT_BYTES = 30 * 1024     # the X-Sandbox-Client header of each refusal (approve's body is never read)
WORKERS = 8                  # client threads, each with its own connection
MARGIN = 1.25                # each list gets this many times its bound
INBOX_ROUNDS = 4             # RSS still rises after the first round: the C heap fragments
LIST = PROJECT + "/task?limit=50"


def _kinds() -> dict[str, tuple[str, str, dict, bytes | None]]:
    """Three requests, each journalled in one list: a valid list page (the journal only), an
    invalid report (400 invalid_request: a violation), an approve of an approved task (400
    task_already_approved: a refusal). Valid reports are left out: each is kept in its task's
    state, which no bound covers, so they would measure something else."""
    junk = json.dumps({"junk": "x" * (POST_BYTES - 12)}).encode()
    json_type = {"Content-Type": "application/json"}
    return {"valid": ("GET", LIST, {}, None),
            "violation": ("POST", TASK + "/report", json_type, junk),
            "refusal": ("POST", TASK + "/approve", {"X-Sandbox-Client": "bench-" + "c" * CLIENT_BYTES}, None)}


class Clients:
    """One httpx client per thread: a thread pool posting on kept-alive loopback connections."""

    def __init__(self, port: int):
        self.base, self.local, self.made = f"http://127.0.0.1:{port}", threading.local(), []

    def get(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(base_url=self.base, timeout=60)
            self.made.append(self.local.client)
        return self.local.client

    def close(self) -> None:
        for client in self.made:
            client.close()


def _send(client: httpx.Client, kind: tuple, session: str | None) -> int:
    method, path, headers, body = kind
    headers = {"Authorization": KEY, **headers, **({"X-Sandbox-Session": session} if session else {})}
    return client.request(method, path, headers=headers, content=body).status_code


def _size(entry: dict) -> int:
    return len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode())


def warm(clients: Clients) -> dict[str, int]:
    """One inbox post and one request of each kind in the default session, so that lazily made
    objects count as idle; returns each kind's journal entry size (JSON bytes), read back."""
    client = clients.get()
    client.post("/_sandbox/inbox/bench-warm", json={"warm": True}).raise_for_status()
    kinds = _kinds()
    for kind in ("valid", "violation", "refusal", "refusal"):  # the first approve succeeds
        _send(client, kinds[kind], None)
    entries = client.get("/_sandbox/journal", params={"limit": 4}).json()["payload"]
    return {kind: _size(entries[i]) for kind, i in (("valid", 0), ("violation", 1), ("refusal", 3))}


def fill_inboxes(clients: Clients, say) -> dict:
    """~60 KiB posts round --max-sessions + 1 names (the most the inboxes keep, so none is
    evicted whole and only the byte bound drops entries) until twice --inbox-bytes is posted."""
    names = [f"bench-{i}" for i in range(SESSIONS + 1)]
    body = json.dumps({"bench": "y" * (POST_BYTES - 13)}).encode()
    posts = math.ceil(2 * INBOX_BYTES / len(body))
    say(f"bounded: {posts:,} inbox posts of {len(body):,} bytes over {len(names)} names ...")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        answers = list(pool.map(lambda i: clients.get().post(
            f"/_sandbox/inbox/{names[i % len(names)]}", content=body,
            headers={"Content-Type": "application/json"}).status_code, range(posts)))
    return {"posts": posts, "posted": posts * len(body), "seconds": time.perf_counter() - t0,
            "failed": sum(status != 204 for status in answers), "names": names}


def inbox_held(clients: Clients, names: list[str]) -> int:
    """The JSON bytes the inboxes hold now, read back."""
    client = clients.get()
    return sum(_size(entry) for name in names + ["bench-warm"]
               for entry in client.get(f"/_sandbox/inbox/{name}").json()["payload"])


def fill_journals(clients: Clients, sizes: dict[str, int], say) -> dict:
    """For each of --max-sessions + 5 names (the first ones are evicted) and the default session:
    violations and refusals in turn until each list got MARGIN times its bound, then valid calls
    until the journal holds only them, so its three lists share no entry: the worst case."""
    kinds = _kinds()
    counts = {kind: math.ceil(MARGIN * JOURNAL_BYTES / size) + 1 for kind, size in sizes.items()}
    plan = [kind for i in range(max(counts["violation"], counts["refusal"]))
            for kind in ("violation", "refusal") if i < counts[kind]] + ["valid"] * counts["valid"]
    sessions = [f"bench-{i}" for i in range(SESSIONS + 5)] + [None]
    say(f"bounded: {len(plan):,} requests in each of {len(sessions)} sessions ({counts}) ...")
    t0 = time.perf_counter()

    def fill(session):
        client = clients.get()
        _send(client, kinds["refusal"], session)  # approves the task: later approves are refused
        return [(kind, _send(client, kinds[kind], session)) for kind in plan]

    with ThreadPoolExecutor(WORKERS) as pool:
        answers = [a for done in pool.map(fill, sessions) for a in done]
    expect = {"valid": 200, "violation": 400, "refusal": 400}
    return {"requests": len(answers), "seconds": time.perf_counter() - t0, "counts": counts,
            "failed": sum(status != expect[kind] for kind, status in answers)}


def journals_held(clients: Clients) -> dict:
    """Each live session's three lists, read back: their JSON bytes (an entry in two lists counted
    once) and whether each list dropped entries, i.e. reached its bound."""
    client = clients.get()
    live = client.get("/_sandbox/sessions").json()["payload"]
    held, full = 0, 0
    for name in live:
        report = client.get("/_sandbox/report", params={"session": name}).json()["payload"]
        journal = client.get("/_sandbox/journal", headers={"X-Sandbox-Session": name}).json()["payload"]
        seen = {e["seq"]: e for e in [*journal, *report["violations"]["entries"], *report["refusals"]["entries"]]}
        held += sum(_size(entry) for entry in seen.values())
        full += (report["journal"]["dropped"] > 0 and report["violations"]["not_kept"] > 0
                 and report["refusals"]["not_kept"] > 0)
    return {"live": len(live), "full": full, "held": held}


def run(start, say) -> dict:
    """start(name, *serve args) -> a bench.Server; the figures of every stage. Each fill runs
    again (the inboxes' INBOX_ROUNDS times in all): where a bound holds, RSS levels off."""
    server = start("bounded", "--max-sessions", str(SESSIONS), "--inbox-bytes", str(INBOX_BYTES),
                   "--journal-bytes", str(JOURNAL_BYTES))
    clients = None
    try:
        server.first_200()
        clients = Clients(server.port)
        sizes = warm(clients)
        rss = {"idle": server.rss_mib()}
        inboxes = []
        for stage, rounds in (("inboxes", 1), ("inboxes again", INBOX_ROUNDS - 1)):
            inboxes += [fill_inboxes(clients, say) for _ in range(rounds)]
            rss[stage] = server.rss_mib()  # before anything is read back, which makes copies
        journals = []
        for stage in ("journals", "journals again"):
            journals.append(fill_journals(clients, sizes, say))
            rss[stage] = server.rss_mib()
        return {"rss": rss, "sizes": sizes, "inboxes": inboxes, "journals": journals,
                "inbox_held": inbox_held(clients, inboxes[0]["names"]), **journals_held(clients)}
    finally:
        if clients:
            clients.close()
        server.stop()


def table(b: dict, fmt, grid) -> str:
    """A row per stage: RSS, its growth over idle, the documented worst case's growth, the JSON
    bytes the bounded stores hold, growth over those bytes, and whether RSS stayed under."""
    rss, idle, inbox, held = b["rss"], b["rss"]["idle"], b["inbox_held"], b["inbox_held"] + b["held"]
    lists = RESIDENT * (SESSIONS + 1) * 3 * JOURNAL_BYTES / MIB
    inbox_bound = RESIDENT * INBOX_BYTES / MIB
    posted = b["inboxes"][0]["posted"] / MIB
    stages = [(f"inboxes filled ({posted:,.0f} MiB posted)", "inboxes", inbox_bound, inbox),
              (f"inboxes filled {INBOX_ROUNDS} times ({INBOX_ROUNDS * posted:,.0f} MiB posted)", "inboxes again",
               inbox_bound, inbox),
              (f"+ journals filled ({b['live']} live sessions, {b['full']} with all 3 lists at their bound)",
               "journals", inbox_bound + lists, held),
              ("+ journals filled again", "journals again", inbox_bound + lists, held)]
    body = [("idle (after one request of each kind)", fmt(idle), "—", "—", "—", "—", "—")]
    for name, key, bound, kept in stages:
        growth = rss[key] - idle
        body.append((name, fmt(rss[key]), fmt(growth), fmt(bound), fmt(kept / MIB), f"{growth * MIB / kept:.2f}×",
                     "yes" if growth <= bound else "!! NO, over the bound"))
    head = ("stage", "RSS MiB", "growth MiB", "worst-case growth MiB", "held as JSON MiB", "growth / held", "under")
    j, ins = b["journals"], b["inboxes"]
    factors = ((rss["inboxes again"] - idle) * MIB / inbox, (rss["journals again"] - rss["inboxes again"]) * MIB / b["held"])
    notes = [f"Worst case (the README's) = idle RSS + {RESIDENT} × (--inbox-bytes ({INBOX_BYTES / MIB:.0f} MiB) + "
             f"(--max-sessions {SESSIONS} + the default session) × 3 lists (journal, violations, refusals) × "
             f"--journal-bytes ({JOURNAL_BYTES / MIB:.0f} MiB)) = idle + {inbox_bound + lists:.0f} MiB: Python holds "
             f"each byte the bounds count as JSON in up to {RESIDENT} bytes of memory; sessions' own state is not in it.",
             f"serve --max-sessions {SESSIONS} --inbox-bytes {INBOX_BYTES} --journal-bytes {JOURNAL_BYTES}, memory store; "
             f"{WORKERS} httpx client threads. Inboxes: {ins[0]['posts']:,} posts of {POST_BYTES // 1024} KiB round "
             f"{SESSIONS + 1} names in {ins[0]['seconds']:.0f} s. Journals: {j[0]['requests']:,} requests in "
             f"{j[0]['seconds']:.0f} s over {SESSIONS + 5} names and the default session: invalid reports of "
             f"{POST_BYTES // 1024} KiB (violations), approves of an approved task with a {CLIENT_BYTES // 1024} KiB "
             f"X-Sandbox-Client header (refusals), then list pages (the journal); entries of "
             + ", ".join(f"{n:,} ({kind})" for kind, n in b["sizes"].items()) + " bytes as JSON.",
             "Held as JSON: the entries read back at the end (inboxes, and each live session's lists with an entry "
             "in two counted once). Memory per byte the bounds count: inboxes "
             f"{factors[0]:.2f}×, journals {factors[1]:.2f}× (each one's growth after its last fill over its JSON)."]
    failed = sum(r["failed"] for r in ins + j)
    return grid(head, body, 1) + "\n\n" + "\n".join(notes + ([f"!! {failed} requests answered otherwise than expected"]
                                                              if failed else []))
