"""The request journal of one session: a bounded ring buffer of public calls (B12), its tally
for the client's report, and its filters."""
from __future__ import annotations

import itertools
import json
import threading
from collections import deque

import orjson

RECORDED = "#"  # the tally's count of every entry since the journal was last emptied
KEPT = ("violations", "refusals")  # the entries the report shows, each kept apart from the journal


JOURNAL_BYTES = 2 * 1024 * 1024  # each of a session's three lists, as JSON
BODY_BYTES = 8 * 1024            # each journalled body, request and response


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


def select(entries: list[dict], operation: str | None = None, task_id: str | None = None,
           status: int | None = None, since: str | None = None, limit: int | None = None) -> list[dict]:
    """Oldest first; `since` is an ISO timestamp of the session's clock (inclusive); `limit`
    keeps the newest entries."""
    found = [e for e in entries
             if (operation is None or e["operation"] == operation)
             and (task_id is None or e["task_id"] == task_id)
             and (status is None or e["status"] == status)
             and (since is None or e["time"] >= since)]
    return found[-limit:] if limit else found


def cut(data: bytes, total: int, limit: int) -> str | None:
    """A journalled body: its first `limit` bytes as text, and how many bytes were cut. Cut,
    JSON stays text when read (see decode)."""
    if not total:
        return None
    text = data[:limit].decode("utf-8", "replace")
    return text if total <= limit else f"{text}[… {total - limit} more bytes not journalled]"


def fitting(items: list, limit: int) -> list:
    """The first items that fit in `limit` bytes as JSON: an answer's details repeat its body."""
    used = 0
    for i, item in enumerate(items):
        used += size_of(item)
        if used > limit:
            return items[:i]
    return items


def decode(text: str | None):
    """A journalled body as JSON when it is JSON that can be answered again (no NaN or Infinity,
    no nesting deep enough to exhaust the stack, no number JSON's readers cannot hold), else as
    text: a refused request's body is journalled as it came, and must never break a read."""
    if not text:
        return None
    try:
        return json.loads(text, parse_constant=_no_constants, parse_float=_finite, parse_int=_int64)
    except (ValueError, RecursionError):
        return text


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is not a finite number")
    return value


def _int64(text: str) -> int:
    value = int(text) if len(text) < 25 else None
    if value is None or not -2**63 <= value < 2**64:
        raise ValueError(f"{text[:20]}... does not fit 64 bits")
    return value


def _no_constants(name: str):  # validation.no_constants; importing it would pull Connexion into the store
    raise ValueError(f"{name} is not JSON")
