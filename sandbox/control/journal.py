"""The request journal of one session: a bounded ring buffer of public calls (B12), its tally
for the client's report, and its filters."""
from __future__ import annotations

import itertools
import json
import threading
from collections import deque

RECORDED = "#"  # the tally's count of every entry since the journal was last emptied
KEPT = ("violations", "refusals")  # the entries the report shows, each kept apart from the journal


class Journal:
    """Old entries fall off the end, so a long load cannot exhaust memory. What the report
    needs survives that: a count per (operation, status, code) of every entry, and the
    entries that show a violation or a refusal, each kind kept apart under the same bound
    (so a client that keeps meeting refusals cannot push its violations out)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: deque[dict] = deque(maxlen=size)
        self._kept: dict[str, deque[dict]] = {kind: deque(maxlen=size) for kind in KEPT}
        self._tally: dict[str, int] = {}
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: dict, mark: str | None = None, keep: str | None = None) -> None:
        """`mark`: the tally's field this entry counts under (None: counted as recorded only);
        `keep`: one of KEPT, to keep the entry with those too."""
        with self._lock:
            entry = {"seq": next(self._seq), **entry}
            self._entries.append(entry)
            tally = self._tally  # a plain dict: on every request, a Counter's += costs more
            tally[RECORDED] = tally.get(RECORDED, 0) + 1
            if mark is not None:
                tally[mark] = tally.get(mark, 0) + 1
            if keep is not None:
                self._kept[keep].append(entry)

    def query(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def tally(self) -> dict:
        """{"kept": entries kept, "tally": {field: count}, "violations": [entries], "refusals": [entries]}."""
        with self._lock:
            return {"kept": len(self._entries), "tally": dict(self._tally),
                    **{kind: list(entries) for kind, entries in self._kept.items()}}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._tally.clear()
            for entries in self._kept.values():
                entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


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


def decode(text: str | None):
    """A journalled body as JSON when it is JSON (NaN and Infinity are not), else as text."""
    if not text:
        return None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except ValueError:
        return text


def _no_constants(name: str):  # validation.no_constants; importing it would pull Connexion into the store
    raise ValueError(f"{name} is not JSON")
