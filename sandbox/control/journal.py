"""The request journal of one session: a bounded ring buffer of public calls (B12), its tally
for the client's report, and its filters."""
from __future__ import annotations

import itertools
import json
import threading
from collections import Counter, deque

RECORDED = "#"  # the tally's count of every entry since the journal was last emptied


class Journal:
    """Old entries fall off the end, so a long load cannot exhaust memory. What the report
    needs survives that: a count per (operation, status, code) of every entry, and the
    entries that show a violation or a refusal, kept apart under the same bound."""

    def __init__(self, size: int):
        self.size = size
        self._entries: deque[dict] = deque(maxlen=size)
        self._flagged: deque[dict] = deque(maxlen=size)
        self._tally: Counter[str] = Counter()
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: dict, mark: str | None = None, flag: bool = False) -> None:
        """`mark`: the tally's field this entry counts under (None: counted as recorded only);
        `flag`: kept with the violations and refusals too."""
        with self._lock:
            entry = {"seq": next(self._seq), **entry}
            self._entries.append(entry)
            self._tally[RECORDED] += 1
            if mark is not None:
                self._tally[mark] += 1
            if flag:
                self._flagged.append(entry)

    def query(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def tally(self) -> dict:
        """{"kept": entries kept, "tally": {field: count}, "flagged": [entries]}."""
        with self._lock:
            return {"kept": len(self._entries), "tally": dict(self._tally), "flagged": list(self._flagged)}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._flagged.clear()
            self._tally.clear()

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


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")
