"""The request journal of one session: a bounded ring buffer of public calls (B12), and its filters."""
from __future__ import annotations

import itertools
import threading
from collections import deque


class Journal:
    """Old entries fall off the end, so a long load cannot exhaust memory."""

    def __init__(self, size: int):
        self.size = size
        self._entries: deque[dict] = deque(maxlen=size)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: dict) -> None:
        with self._lock:
            self._entries.append({"seq": next(self._seq), **entry})

    def query(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

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
