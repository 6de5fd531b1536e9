"""A fault rule of a session, as its state keeps it: which calls it matches, what it injects,
and its seeded draws. Adding, removing and firing rules is the control plane's (sandbox/control/faults.py)."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    operation: str
    task_id: str | None = None
    status: int | None = None
    latency_ms: int = 0
    times: int | None = None          # remaining firings; None: every matching call
    probability: float = 1.0
    seed: int = 0
    fired: int = 0
    draws: int = 0                    # matching calls so far: the next draw's index

    def public(self) -> dict:
        out = asdict(self)
        del out["draws"]
        return out

    def draw(self) -> float:
        """The n-th number in [0, 1) of this rule's seed: the same calls fire whichever worker
        answers them, and no generator state needs keeping."""
        digest = hashlib.blake2b(f"{self.seed}:{self.draws}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2 ** 64
