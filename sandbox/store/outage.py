"""A store outage told once: a warning when it starts, at most one line a minute while it lasts, one when it ends."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("sandbox")
EVERY = 60.0  # seconds between the lines that say an outage goes on


class Outage:
    """Shared by a store and its senders' store (another thread): under load every request of an
    outage fails, and a hosted deployment's log pipeline pays for every line."""

    def __init__(self, what: str = "Redis store", every: float = EVERY, clock: Callable[[], float] = time.monotonic):
        self.what, self.every, self.clock = what, every, clock
        self.since: float | None = None  # when this outage began; None: the store answers
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            now = self.clock()
            if self.since is None:
                self.since, self.said, self.count, self.unsaid = now, now, 1, 0
                log.warning("%s unavailable (%s): requests answer 503 store_unavailable until it is back",
                            self.what, exc or type(exc).__name__)
                return
            self.count += 1
            self.unsaid += 1
            if now - self.said >= self.every:
                log.warning("%s still unavailable after %.0f s (failed calls in the last %.0f s: %d)",
                            self.what, now - self.since, now - self.said, self.unsaid)
                self.said, self.unsaid = now, 0

    def answered(self) -> None:
        if self.since is None:  # the usual case, without taking the lock
            return
        with self._lock:
            if self.since is not None:
                log.warning("%s is back after %.0f s (failed calls meanwhile: %d)", self.what,
                            self.clock() - self.since, self.count)
                self.since = None
