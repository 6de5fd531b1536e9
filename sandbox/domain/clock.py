"""The one virtual clock and the one seeded id source that every timestamp and id comes from (B9)."""
from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timezone

ID_ALPHABET = "abcdef0123456789"


def parse_timestamp(text: str) -> float:
    """ISO 8601 UTC (`2024-01-15T10:30:00Z`) to epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def format_timestamp(epoch: float) -> str:
    """Epoch seconds to ISO 8601 UTC with `Z`, second precision, as upstream shows."""
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """Follows real time by default; can be frozen, set and advanced."""

    def __init__(self, now: float | None = None, frozen: bool = False, source=time.time):
        self._source = source
        self._lock = threading.Lock()
        self._offset = 0.0 if now is None else now - source()
        self._frozen_at: float | None = None
        if frozen:
            self._frozen_at = self.now() if now is None else now

    def now(self) -> float:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return self._source() + self._offset

    def now_iso(self) -> str:
        return format_timestamp(self.now())

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self) -> None:
        now = self.now()
        with self._lock:
            self._frozen_at = now

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - self._source()
                self._frozen_at = None

    def set(self, epoch: float) -> None:
        """Move the clock to `epoch`; never back, since transitions already applied stay applied."""
        if epoch < self.now():
            raise ValueError("the clock only moves forward")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = epoch
            else:
                self._offset = epoch - self._source()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.set(self.now() + seconds)


class IdSource:
    """Seeded, so the same run gives the same ids."""

    def __init__(self, seed: int = 0):
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def new(self, prefix: str, length: int = 12) -> str:
        with self._lock:
            return prefix + "_" + "".join(self._random.choice(ID_ALPHABET) for _ in range(length))
