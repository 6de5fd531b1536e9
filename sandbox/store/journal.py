"""A session's request journal as the stores keep it: a bounded ring buffer of entries (B12),
the tally the client's report reads, and the entries it keeps apart; plain data, below the control plane."""
from __future__ import annotations

import json
import threading
from collections import deque

import orjson

from sandbox.store import codec

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
    """Entries under a count and a byte bound, the oldest dropped first; each kept as (seq, its JSON,
    its size), which the garbage collector does not track, where a parsed entry is five objects."""

    __slots__ = ("items", "bytes")

    def __init__(self):
        self.items: deque[tuple[int, bytes, int]] = deque()
        self.bytes = 0

    def append(self, item: tuple[int, bytes, int], count: int, budget: int) -> None:
        self.items.append(item)
        self.bytes += item[2]
        while self.items and (len(self.items) > count or self.bytes > budget):
            self.bytes -= self.items.popleft()[2]

    def entries(self) -> list[dict]:
        return [{"seq": seq, **codec.loads(data)} for seq, data, _ in self.items]


# One lock for every journal: each holds it for microseconds, and a lock per session was one more
# object per session for the cyclic garbage collector to walk (see docs/performance.md).
_LOCK = threading.Lock()


class Journal:
    """Old entries fall off the end, so a long load cannot exhaust memory: past `size`
    entries or `budget` bytes (as JSON) in each list. What the report needs survives that:
    a count per (operation, status, code) of every entry, and the entries that show a
    violation or a refusal, each kind kept apart under the same bounds (so a client that
    keeps meeting refusals cannot push its violations out).

    A hosted sandbox holds tens of thousands of sessions, each with its journal, and every
    object they hold is walked by each full garbage collection: so the journal is a few
    objects (slots, an int for the seq, a tally of ints and entries as JSON bytes, which the
    collector does not track), and its kept lists are made only when an entry is first kept."""

    __slots__ = ("size", "budget", "_entries", "_kept", "_tally", "_seq")

    def __init__(self, size: int, budget: int = JOURNAL_BYTES):
        self.size, self.budget = size, budget
        self._entries = _Bounded()
        self._kept: dict[str, _Bounded] | None = None
        self._tally: dict[str, int] = {}
        self._seq = 0

    def record(self, entry: dict, mark: str | None = None, keep: str | None = None) -> None:
        """`mark`: the tally's field this entry counts under, or several separated by newlines
        (None: counted as recorded only); `keep`: one of KEPT, to keep the entry with those too."""
        data = codec.dumps(entry)  # outside the lock; as JSON, the size the Redis store counts too
        with _LOCK:
            self._seq += 1
            item = (self._seq, data, len(data))
            self._entries.append(item, self.size, self.budget)
            tally = self._tally  # a plain dict: on every request, a Counter's += costs more
            tally[RECORDED] = tally.get(RECORDED, 0) + 1
            if mark:
                for field in mark.split("\n"):
                    tally[field] = tally.get(field, 0) + 1
            if keep is not None:
                if self._kept is None:
                    self._kept = {kind: _Bounded() for kind in KEPT}
                self._kept[keep].append(item, self.size, self.budget)

    def query(self) -> list[dict]:
        with _LOCK:
            return self._entries.entries()

    def tally(self) -> dict:
        """{"kept": entries kept, "tally": {field: count}, "violations": [entries], "refusals": [entries]}."""
        with _LOCK:
            kept = self._kept or {}
            return {"kept": len(self._entries.items), "tally": dict(self._tally),
                    **{kind: kept[kind].entries() if kind in kept else [] for kind in KEPT}}

    def held(self) -> dict[str, int]:
        """The bytes each list counts now: "journal" and each of KEPT."""
        with _LOCK:
            kept = self._kept or {}
            return {"journal": self._entries.bytes, **{kind: kept[kind].bytes if kind in kept else 0 for kind in KEPT}}

    def clear(self) -> None:
        with _LOCK:
            self._entries = _Bounded()
            self._tally = {}
            self._kept = None

    def __len__(self) -> int:
        return len(self._entries.items)
