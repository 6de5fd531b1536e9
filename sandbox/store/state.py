"""A session's state (its own records over a shared seed, due events, clock, ids, faults) and
the unit of work that changes it: every change is an explicit put, committed whole or not at all."""
from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Callable, Iterator

from sandbox.domain import listing, timeline
from sandbox.domain.clock import Clock, derive_id, exact
from sandbox.domain.faults import Rule
from sandbox.domain.folders import filed
from sandbox.domain.model import PROCESSING, SESSION_START, all_final, upload_status
from sandbox.domain.records import KINDS
from sandbox.domain.timeline import TIMELINE

TX_KINDS = (*KINDS, TIMELINE)  # what a session holds of its own: records, and its timeline's ring

Event = tuple  # (due, seq, kind, target, version): heap order is due, then scheduling order


class Seed:
    """A scenario's records, read-only and shared by every session over it, with what they
    leave in flight as a schedule relative to a session's start (so a new session copies
    nothing, even over 100,000 tasks)."""

    def __init__(self, name: str, records):
        self.name = name
        self.tables: dict[str, dict] = {kind: getattr(records, kind).flattened() for kind in KINDS}
        self.tables[TIMELINE] = {}
        self.by_upload: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in records.by_upload.items()}
        uploads = self.tables["uploads"]
        self.folders_by_project: dict[str, list] = {}
        for folder in self.tables["folders"].values():
            self.folders_by_project.setdefault(folder.project_id, []).append(folder)
        for upload in list(uploads.values()):
            tasks = [self.tables["tasks"][t] for t in self.by_upload.get(upload.id, ())]
            status = upload_status(tasks)
            folders = self.folders_by_project.get(upload.project_id, ())
            upload = uploads[upload.id] = filed(replace(upload, notified_status=status), status, folders)  # nothing to tell yet
            if not upload.fully_processed and upload.final_since is None and all_final(tasks):
                uploads[upload.id] = replace(upload, final_since=SESSION_START)  # final since each session began (B8)
        projects = self.tables["projects"]
        schedule = [(projects[t.project_id].processing_delay, "read", t.id, t.version)
                    for t in self.tables["tasks"].values() if t.status == PROCESSING]
        schedule += [(projects[u.project_id].export_delay, "export", u.id, SESSION_START)
                     for u in uploads.values() if u.final_since == SESSION_START]
        self.schedule = sorted(schedule, key=lambda e: e[0])  # stable: scheduling order on ties
        self.index = listing.SeedIndex(self.tables["tasks"])


class Own:
    """The records one session holds itself: new ones and its versions of seeded ones."""

    def __init__(self):
        self.tables: dict[str, dict] = {kind: {} for kind in TX_KINDS}
        self.by_upload: dict[str, tuple[str, ...]] = {}
        self.task_keys: dict[str, list] = {}  # per project, in listing order (B11)

    @property
    def size(self) -> int:
        """How many records the session holds itself (what its bound counts; its timeline is a
        ring of fixed size, bounded by itself)."""
        return sum(len(table) for kind, table in self.tables.items() if kind != TIMELINE)

    def put(self, kind: str, key: str, value) -> None:
        table = self.tables[kind]
        if kind == "tasks" and key not in table:
            bisect.insort(self.task_keys.setdefault(value.project_id, []), listing.key_of(value))
        table[key] = value


@dataclass(frozen=True)
class Part:
    """How one field of a session's state is carried by a unit of work (`by_tx`), and read from
    and written to JSON by the Redis store (`load`, `dump`; None: as it is)."""
    by_tx: str = "carried"  # see BY_TX
    load: Callable | None = None
    dump: Callable | None = None


# How a unit of work carries a field: copied into it and committed back as it left it; the clock
# copied and assigned back in place (whoever holds the state's clock keeps it); events copied on
# its first change; or fixed, never changed by a unit (it reads the state's).
BY_TX = ("carried", "clock", "events", "fixed")


def part(by_tx: str = "carried", load: Callable | None = None, dump: Callable | None = None) -> dict:
    assert by_tx in BY_TX, by_tx
    return {"part": Part(by_tx, load, dump)}


@dataclass
class SessionState:
    """Everything one session holds but its journal; `version` counts its commits. Every field
    but seed, own and version says how it is carried (part): Tx and sandbox/store/codec.py
    derive from that, so a new field is declared here only."""
    seed: Seed
    clock: Clock = field(metadata=part("clock", load=lambda raw: Clock.load(*raw), dump=Clock.dump))
    started_at: float = field(metadata=part("fixed"))
    scenario: str = field(default="default", metadata=part("fixed"))
    own: Own = field(default_factory=Own)
    events: list = field(default_factory=list, metadata=part(  # a heap of Event
        "events", load=lambda raw: [tuple(e) for e in raw]))
    seq: int = field(default=0, metadata=part())
    cursor: int = field(default=0, metadata=part())         # seed schedule entries applied
    next_id: int = field(default=0, metadata=part())
    faults: tuple = field(default=(), metadata=part(load=lambda raw: tuple(Rule(**r) for r in raw)))
    fault_seq: int = field(default=0, metadata=part())
    owner: str | None = field(default=None, metadata=part())  # the team whose key first used it
    outbox: tuple = field(default=(), metadata=part(          # (due, delivery id) of deliveries to send, in due order
        load=lambda raw: tuple(tuple(e) for e in raw)))
    notify_seq: int = field(default=0, metadata=part())       # ids of events, deliveries, subscriptions
    timeline_seq: int = field(default=0, metadata=part())     # entries ever noted: the next one's slot
    version: int = 0

    def get(self, kind: str, key: str):
        found = self.own.tables[kind].get(key)
        return found if found is not None else self.seed.tables[kind].get(key)

    def count(self, kind: str) -> int:
        own, seeded = self.own.tables[kind], self.seed.tables[kind]
        return len(seeded) + sum(1 for k in own if k not in seeded)

    def values(self, kind: str) -> Iterator:
        own, seeded = self.own.tables[kind], self.seed.tables[kind]
        yield from (own.get(k, v) for k, v in seeded.items())
        yield from (v for k, v in own.items() if k not in seeded)

    def task_ids_of(self, upload_id: str) -> tuple[str, ...]:
        found = self.own.by_upload.get(upload_id)
        return found if found is not None else self.seed.by_upload.get(upload_id, ())

    def folders_of(self, project_id: str) -> list:
        """A project's folders: the seed's, by an index, and the few this session added."""
        own = [f for f in self.own.tables["folders"].values() if f.project_id == project_id]
        return [*self.seed.folders_by_project.get(project_id, ()), *own] if own else \
            self.seed.folders_by_project.get(project_id, [])

    def tasks(self) -> "TaskView":
        return TaskView(self.seed.tables["tasks"], self.seed.index, self.own.tables["tasks"], self.own.task_keys)


PARTS: dict[str, Part] = {f.name: f.metadata["part"] for f in fields(SessionState) if "part" in f.metadata}
CARRIED = tuple(name for name, p in PARTS.items() if p.by_tx == "carried")
_carried = attrgetter(*CARRIED)


@dataclass
class TaskView:
    """What listing reads: the seed's tasks and index, and a session's own tasks in order."""
    seed: dict
    index: listing.SeedIndex
    own: dict
    own_keys: dict


class Tx:
    """A unit of work over one session's state: reads see the state and this unit's own puts;
    nothing reaches the state until the store commits it, and a failed unit leaves no trace."""

    def __init__(self, state: SessionState, session: str, id_seed: int):
        self.state, self.session, self.id_seed = state, session, id_seed
        self.writes: dict[str, dict] = {kind: {} for kind in TX_KINDS}
        self.by_upload: dict[str, tuple[str, ...]] = {}
        self.clock = state.clock.copy()
        self.events: list | None = None  # copied on the first push or pop
        vars(self).update(zip(CARRIED, _carried(state)))  # seq, cursor, next_id, faults...: see SessionState
        self.dirty = False
        self.added = 0  # records this unit adds to those the session holds itself
        # why this unit changes what it changes, and when (None: now), for the timeline; the
        # pipeline makes it the clock while it applies what fell due (sandbox/domain/timeline.py)
        self.cause, self.cause_at = timeline.SANDBOX, None
        self.noted: dict = {}  # (kind, id) -> the timeline entry this unit noted last for it

    # -- records --
    def get(self, kind: str, key: str):
        found = self.writes[kind].get(key)
        return found if found is not None else self.state.get(kind, key)

    def task(self, task_id: str):
        return self.get("tasks", task_id)

    def upload(self, upload_id: str):
        return self.get("uploads", upload_id)

    def project(self, project_id: str):
        return self.get("projects", project_id)

    def put(self, kind: str, key: str, value) -> None:
        writes = self.writes[kind]
        if kind == "tasks" or kind == "uploads":
            timeline.put(self, kind, self.get(kind, key), value)
        if key not in writes and key not in self.state.own.tables[kind]:
            self.added += 1
        writes[key] = value
        self.dirty = True

    def values(self, kind: str) -> Iterator:
        writes, own, seeded = self.writes[kind], self.state.own.tables[kind], self.state.seed.tables[kind]
        yield from (writes.get(k) or own.get(k, v) for k, v in seeded.items())
        yield from (writes.get(k, v) for k, v in own.items() if k not in seeded)
        yield from (v for k, v in writes.items() if k not in seeded and k not in own)

    def add_task(self, task) -> None:
        self.put("tasks", task.id, task)
        self.by_upload[task.upload_id] = (*self.task_ids_of(task.upload_id), task.id)

    def task_ids_of(self, upload_id: str) -> tuple[str, ...]:
        found = self.by_upload.get(upload_id)
        return found if found is not None else self.state.task_ids_of(upload_id)

    def folders_of(self, project_id: str) -> list:
        added = [f for f in self.writes["folders"].values() if f.project_id == project_id]
        return [*self.state.folders_of(project_id), *added] if added else self.state.folders_of(project_id)

    def tasks_of(self, upload_id: str) -> list:
        return [self.task(i) for i in self.task_ids_of(upload_id)]

    def tasks(self) -> TaskView:
        """The tasks as listing reads them, this unit's puts included."""
        view = self.state.tasks()
        if not self.writes["tasks"]:
            return view
        own, keys = dict(view.own), {p: list(k) for p, k in view.own_keys.items()}
        for task_id, task in self.writes["tasks"].items():
            if task_id not in own:
                bisect.insort(keys.setdefault(task.project_id, []), listing.key_of(task))
            own[task_id] = task
        return TaskView(view.seed, view.index, own, keys)

    # -- ids, time and what falls due --
    def new_id(self, prefix: str, length: int = 12) -> str:
        self.next_id += 1
        self.dirty = True
        return derive_id(self.id_seed, self.session, self.next_id, prefix, length)

    def notify_id(self, prefix: str) -> tuple[str, int]:
        """An id of the notifications' own sequence, so events never shift the ids of tasks."""
        self.notify_seq += 1
        self.dirty = True
        return derive_id(self.id_seed, self.session + "/notify", self.notify_seq, prefix), self.notify_seq

    def set_outbox(self, outbox: tuple) -> None:
        self.outbox = outbox
        self.dirty = True

    def next_due(self) -> float | None:
        """When the next transition of the pipeline falls due, on the session's clock."""
        events = self.state.events if self.events is None else self.events
        dues = [events[0][0]] if events else []
        if self.cursor < len(self.state.seed.schedule):
            dues.append(exact(self.state.started_at + self.state.seed.schedule[self.cursor][0]))
        return min(dues) if dues else None

    def pending(self) -> Iterator[Event]:
        """Every event still to fall due, in the order pop_due gives them (the seed's first on a tie)."""
        events = self.state.events if self.events is None else self.events
        schedule, start = self.state.seed.schedule, self.state.started_at
        seeded = ((exact(start + delay), 0, kind, target, version)
                  for delay, kind, target, version in (schedule[i] for i in range(self.cursor, len(schedule))))
        return heapq.merge(seeded, sorted(events), key=lambda e: e[0])

    def now(self) -> float:
        return self.clock.now()

    def clock_changed(self) -> None:
        self.dirty = True

    def push(self, due: float, kind: str, target: str, version) -> None:
        if self.events is None:
            self.events = list(self.state.events)
        self.seq += 1
        heapq.heappush(self.events, (due, self.seq, kind, target, version))
        self.dirty = True

    def pop_due(self, now: float) -> Event | None:
        """The next event due by `now`: the seed's schedule and this session's own, in due order."""
        events = self.state.events if self.events is None else self.events
        seeded = None
        if self.cursor < len(self.state.seed.schedule):
            delay, kind, target, version = self.state.seed.schedule[self.cursor]
            seeded = (exact(self.state.started_at + delay), 0, kind, target, version)
        if seeded is not None and seeded[0] <= now and (not events or seeded[0] <= events[0][0]):
            self.cursor += 1
            self.dirty = True
            return seeded
        if events and events[0][0] <= now:
            if self.events is None:
                self.events = events = list(events)
            self.dirty = True
            return heapq.heappop(events)
        return None

    def set_faults(self, faults: tuple, fault_seq: int | None = None) -> None:
        self.faults = faults
        if fault_seq is not None:
            self.fault_seq = fault_seq
        self.dirty = True

    def claim(self, team_id: str) -> None:
        self.owner = team_id
        self.dirty = True

    def commit_into(self, state: SessionState) -> None:
        """Apply this unit to `state` (the one it was read from, or the same version's copy)."""
        for kind, writes in self.writes.items():
            for key, value in writes.items():
                state.own.put(kind, key, value)
        state.own.by_upload.update(self.by_upload)
        state.clock.assign(self.clock)
        if self.events is not None:
            state.events = self.events
        vars(state).update(zip(CARRIED, _carried(self)))
        state.version += 1

    def after(self, name: str):
        """Field `name` of the state as this unit would leave it (what the Redis store writes)."""
        by_tx = PARTS[name].by_tx
        if by_tx == "fixed":
            return getattr(self.state, name)
        if by_tx == "events":
            return self.state.events if self.events is None else self.events
        return getattr(self, name)
