"""Copy-on-write record tables, so that a session costs only the records it changed (B12)."""
from __future__ import annotations

import bisect
import copy
import dataclasses
from collections import ChainMap, defaultdict
from typing import Callable, Generic, Iterator, TypeVar

from sandbox.domain import listing

T = TypeVar("T")


def _clone(record):
    """A record's copy for writing: nested lists that actions append to are copied too;
    pages and meta are only ever replaced whole, so they stay shared."""
    if dataclasses.is_dataclass(record):
        changes = {"reports": list(record.reports)} if hasattr(record, "reports") else {}
        return dataclasses.replace(record, **changes)
    return copy.copy(record)


class Table(Generic[T]):
    """Reads fall through to the seed; indexing (`table[id]`) is for writing and copies the
    record into this layer first. The seed itself is never changed."""

    def __init__(self, seed: dict[str, T] | None = None, clone: Callable[[T], T] = _clone):
        self._seed: dict[str, T] = seed if seed is not None else {}
        self._own: dict[str, T] = {}
        self._clone = clone

    def get(self, key: str, default=None):
        found = self._own.get(key)
        return found if found is not None else self._seed.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self._own or key in self._seed

    def __getitem__(self, key: str) -> T:
        if key not in self._own:
            self._own[key] = self._clone(self._seed[key])
            self._owned(self._own[key])
        return self._own[key]

    def __setitem__(self, key: str, value: T) -> None:
        if key not in self._own:
            self._owned(value)
        self._own[key] = value

    def _owned(self, record: T) -> None:
        """Called once for each record that enters this layer."""

    def __iter__(self) -> Iterator[str]:
        yield from self._seed
        yield from (k for k in self._own if k not in self._seed)

    def __len__(self) -> int:
        return len(self._seed) + sum(1 for k in self._own if k not in self._seed)

    def values(self) -> Iterator[T]:
        return (self.get(k) for k in self)

    def items(self) -> Iterator[tuple[str, T]]:
        return ((k, self.get(k)) for k in self)

    def changed(self) -> dict[str, T]:
        """The records this layer holds itself (new or copied for writing)."""
        return self._own

    def flattened(self) -> dict[str, T]:
        return {**self._seed, **self._own}

    def layer(self) -> "Table[T]":
        """A new layer seeded with this table's current view (flattened once if this one
        is itself a layer, so chains never grow)."""
        return type(self)(self._own if not self._seed else self.flattened(), self._clone)


class TaskTable(Table):
    """Tasks, with what listing needs (B11): the keys of this layer's own tasks per project in
    listing order, kept as they enter it, beside the seed's index, built once per seed."""

    def __init__(self, seed: dict | None = None, clone: Callable = _clone):
        super().__init__(seed, clone)
        self.own_keys: dict[str, list[listing.Key]] = defaultdict(list)

    def _owned(self, task) -> None:
        bisect.insort(self.own_keys[task.project_id], listing.key_of(task))

    def seed(self) -> dict:
        """The records under this layer, read-only."""
        return self._seed

    def seed_index(self) -> listing.SeedIndex:
        return listing.SeedIndex.of(self._seed)


class Records:
    """Everything fixtures define, keyed by id (keys by their secret value)."""

    def __init__(self, teams=None, projects=None, keys=None, uploads=None, tasks=None, by_upload=None):
        self.teams: Table = teams or Table()
        self.projects: Table = projects or Table()
        self.keys: Table = keys or Table()
        self.uploads: Table = uploads or Table()
        self.tasks: TaskTable = tasks or TaskTable()
        self.by_upload: ChainMap = by_upload if by_upload is not None else ChainMap({})

    def add_task(self, task) -> None:
        self.tasks[task.id] = task
        own = self.by_upload.maps[0]
        ids = own.get(task.upload_id)
        if ids is None:  # first task of this upload in this layer: start from the seed's list
            seeded = self.by_upload.maps[1:]
            ids = own[task.upload_id] = list(next((m[task.upload_id] for m in seeded if task.upload_id in m), ()))
        ids.append(task.id)

    def tasks_of(self, upload_id: str) -> list:
        return [self.tasks.get(i) for i in self.by_upload.get(upload_id, ())]

    def layer(self) -> "Records":
        """A cheap copy-on-write view: nothing is copied until it is written."""
        index = dict(self.by_upload) if len(self.by_upload.maps) > 1 or self.tasks._seed else self.by_upload.maps[0]
        return Records(self.teams.layer(), self.projects.layer(), self.keys.layer(),
                       self.uploads.layer(), self.tasks.layer(), ChainMap({}, index))

    def merge(self, other: "Records") -> None:
        """Take what a layer over these records added or changed (fixtures loaded over HTTP)."""
        for name in ("teams", "projects", "keys", "uploads", "tasks"):
            for key, value in getattr(other, name).changed().items():
                getattr(self, name)[key] = value
        for upload_id, ids in other.by_upload.maps[0].items():
            known = list(self.by_upload.get(upload_id, ()))
            seen = set(known)
            self.by_upload.maps[0][upload_id] = known + [i for i in ids if i not in seen]
