"""Records as fixtures build them: tables keyed by id (keys by their secret value), over a
read-only base (nothing, for a seed; a session's unit of work, for fixtures loaded over HTTP)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")
EMPTY: Mapping = {}
FIXTURE_KINDS = ("teams", "projects", "folders", "keys", "uploads", "tasks", "subscriptions")  # in reference order
KINDS = (*FIXTURE_KINDS, "events", "deliveries")  # the last two only a session makes (notifications)


class Table(Generic[T]):
    """Reads fall through to the base; writes stay in this table, so the base never changes."""

    def __init__(self, base: Mapping = EMPTY):
        self._base = base
        self._own: dict[str, T] = {}

    def get(self, key: str, default=None):
        found = self._own.get(key)
        return found if found is not None else self._base.get(key, default)

    def __getitem__(self, key: str) -> T:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key) -> bool:
        return key in self._own or self._base.get(key) is not None

    def __setitem__(self, key: str, value: T) -> None:
        self._own[key] = value

    def __iter__(self) -> Iterator[str]:
        return iter(self.flattened())

    def __len__(self) -> int:
        return len(self.flattened())

    def values(self) -> Iterator[T]:
        return iter(self.flattened().values())

    def changed(self) -> dict[str, T]:
        """The records this table holds itself."""
        return self._own

    def flattened(self) -> dict[str, T]:
        return {**self._base, **self._own} if self._base else self._own


class Records:
    """Everything fixtures define. `base(kind)` gives a table's base, `ids_of(upload_id)` the
    base's task ids of an upload."""

    def __init__(self, base=None, ids_of=None):
        base = base or (lambda kind: EMPTY)
        self.teams: Table = Table(base("teams"))
        self.projects: Table = Table(base("projects"))
        self.folders: Table = Table(base("folders"))
        self.keys: Table = Table(base("keys"))
        self.uploads: Table = Table(base("uploads"))
        self.tasks: Table = Table(base("tasks"))
        self.subscriptions: Table = Table(base("subscriptions"))
        self.events: Table = Table(base("events"))
        self.deliveries: Table = Table(base("deliveries"))
        self._ids_of = ids_of or (lambda upload_id: ())
        self.by_upload: dict[str, list[str]] = {}  # this layer's task ids of each upload

    def add_task(self, task) -> None:
        self.tasks[task.id] = task
        ids = self.by_upload.get(task.upload_id)
        if ids is None:
            ids = self.by_upload[task.upload_id] = list(self._ids_of(task.upload_id))
        ids.append(task.id)
