"""The one virtual clock and the one seeded id source that every timestamp and id comes from (B9)."""
from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from datetime import datetime, timezone



def parse_timestamp(text: str) -> float:
    """ISO 8601 UTC (`2024-01-15T10:30:00Z`) to epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def format_timestamp(epoch: float) -> str:
    """Epoch seconds to ISO 8601 UTC with `Z`, second precision, as upstream shows."""
    return _format_second(int(epoch))


@functools.lru_cache(maxsize=256)  # every request stamps its journal entry: most share a second
def _format_second(second: int) -> str:
    return datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _within_range(epoch: float) -> None:
    if not math.isfinite(epoch) or epoch > LATEST:
        raise ValueError(f"the clock cannot go past {LATEST_ISO}")


def exact(seconds: float) -> float:
    """Times are kept to the microsecond, so 300 steps of 0.1 s land where one of 30 s does."""
    return round(seconds, 6)


# The API shows whole seconds: setting a running clock to the second it just showed is "now".
SET_TOLERANCE = 1.0
# The latest instant the clock may be set or advanced to. Far below the last second ISO 8601
# timestamps (and Python's datetime) can show, 9999-12-31T23:59:59Z: a running clock, a
# fixture's delays (at most MAX_DELAY, sandbox/fixture_schema.yaml) and retries of
# notifications all add time to it, and every time they reach must still be shown.
LATEST_ISO = "2999-12-31T23:59:59Z"
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()
MAX_DELAY = 3_155_760_000  # 100 years of seconds: the most a fixture's delay or one advance may be


class Clock:
    """Follows real time by default; can be frozen, set and advanced, never moved back."""

    def __init__(self, now: float | None = None, frozen: bool = False, source=time.time):
        self._source = source
        self._lock = threading.Lock()
        self._offset = 0.0 if now is None else now - source()
        self._frozen_at: float | None = None
        if frozen:
            self._frozen_at = exact(self._read() if now is None else now)

    def copy(self) -> "Clock":
        other = Clock.__new__(Clock)
        other._source, other._lock = self._source, threading.Lock()
        other._offset, other._frozen_at = self._offset, self._frozen_at
        return other

    def assign(self, other: "Clock") -> None:
        """Take `other`'s time, keeping this object for those who hold it."""
        with self._lock:
            self._offset, self._frozen_at = other._offset, other._frozen_at

    def dump(self) -> tuple[float, float | None]:
        return self._offset, self._frozen_at

    @classmethod
    def load(cls, offset: float, frozen_at: float | None, source=time.time) -> "Clock":
        clock = cls(source=source)
        clock._offset, clock._frozen_at = offset, frozen_at
        return clock

    def _read(self) -> float:
        return self._frozen_at if self._frozen_at is not None else exact(self._source() + self._offset)

    def now(self) -> float:
        with self._lock:
            return self._read()

    def now_iso(self) -> str:
        return format_timestamp(self.now())

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self) -> None:
        with self._lock:
            self._frozen_at = self._read()

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - self._source()
                self._frozen_at = None

    def set(self, epoch: float) -> None:
        """Move the clock to `epoch`; never back, since transitions already applied stay applied."""
        _within_range(epoch)
        with self._lock:
            now = self._read()
            if exact(epoch) < now - SET_TOLERANCE:
                raise ValueError("the clock only moves forward")
            self._move_to(max(exact(epoch), now))

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward, by a finite number of seconds")
        with self._lock:
            target = self._read() + seconds
            _within_range(target)
            self._move_to(exact(target))

    def _move_to(self, epoch: float) -> None:
        if self._frozen_at is not None:
            self._frozen_at = epoch
        else:
            self._offset = epoch - self._source()


def derive_id(seed: int, session: str, counter: int, prefix: str, length: int = 12) -> str:
    """The id source: ids from (seed, session, counter), so the same scenario gives the same
    ids whichever worker or replica answers, and no generator state needs keeping."""
    digest = hashlib.blake2b(f"{seed}:{session}:{counter}".encode(), digest_size=16).hexdigest()
    return f"{prefix}_{digest[:length]}"
