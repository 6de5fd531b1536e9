"""A session's request journal as the stores keep it: a bounded ring buffer of entries (B12),
the tally the client's report reads, and the entries it keeps apart; plain data, below the control plane."""
from __future__ import annotations

import itertools
import json
import threading
from collections import deque

import orjson

RECORDED = "#"  # the tally's count of every entry since the journal was last emptied
KEPT = ("violations", "refusals")  # the entries the report shows, each kept apart from the journal


JOURNAL_BYTES = 2 * 1024 * 1024  # each of a session's three lists, as JSON


def size_of(entry: dict) -> int:
    """An entry's bytes as JSON, as the Redis store keeps it."""
    try:
        return len(orjson.dumps(entry))
    except TypeError:  # an integer past 64 bits or a lone surrogate
        return len(json.dumps(entry, separators=(",", ":")))


class _Bounded:
    """Entries under a count and a byte bound, the oldest dropped first."""

    def __init__(self, size: int, budget: int):
        self.size, self.budget = size, budget
        self.items: deque[tuple[dict, int]] = deque()
        self.bytes = 0

    def append(self, entry: dict, size: int) -> None:
        self.items.append((entry, size))
        self.bytes += size
        while self.items and (len(self.items) > self.size or self.bytes > self.budget):
            self.bytes -= self.items.popleft()[1]

    def entries(self) -> list[dict]:
        return [entry for entry, _ in self.items]

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0


class Journal:
    """Old entries fall off the end, so a long load cannot exhaust memory: past `size`
    entries or `budget` bytes (as JSON) in each list. What the report needs survives that:
    a count per (operation, status, code) of every entry, and the entries that show a
    violation or a refusal, each kind kept apart under the same bounds (so a client that
    keeps meeting refusals cannot push its violations out)."""

    def __init__(self, size: int, budget: int = JOURNAL_BYTES):
        self.size = size
        self._entries = _Bounded(size, budget)
        self._kept = {kind: _Bounded(size, budget) for kind in KEPT}
        self._tally: dict[str, int] = {}
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: dict, mark: str | None = None, keep: str | None = None) -> None:
        """`mark`: the tally's field this entry counts under (None: counted as recorded only);
        `keep`: one of KEPT, to keep the entry with those too."""
        size = size_of(entry)  # outside the lock: the seq adds the same few bytes to every entry
        with self._lock:
            entry = {"seq": next(self._seq), **entry}
            self._entries.append(entry, size)
            tally = self._tally  # a plain dict: on every request, a Counter's += costs more
            tally[RECORDED] = tally.get(RECORDED, 0) + 1
            if mark is not None:
                tally[mark] = tally.get(mark, 0) + 1
            if keep is not None:
                self._kept[keep].append(entry, size)

    def query(self) -> list[dict]:
        with self._lock:
            return self._entries.entries()

    def tally(self) -> dict:
        """{"kept": entries kept, "tally": {field: count}, "violations": [entries], "refusals": [entries]}."""
        with self._lock:
            return {"kept": len(self._entries.items), "tally": dict(self._tally),
                    **{kind: entries.entries() for kind, entries in self._kept.items()}}

    def held(self) -> dict[str, int]:
        """The bytes each list counts now: "journal" and each of KEPT."""
        with self._lock:
            return {"journal": self._entries.bytes, **{kind: kept.bytes for kind, kept in self._kept.items()}}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._tally.clear()
            for entries in self._kept.values():
                entries.clear()

    def __len__(self) -> int:
        return len(self._entries.items)
