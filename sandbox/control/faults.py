"""Fault rules of one session: inject a status, a latency or both, N times or with a seeded probability."""
from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field


@dataclass
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
    _random: random.Random = field(default=None, repr=False)

    def __post_init__(self):
        self._random = random.Random(self.seed)

    def public(self) -> dict:
        return {"id": self.id, "operation": self.operation, "task_id": self.task_id, "status": self.status,
                "latency_ms": self.latency_ms, "times": self.times, "probability": self.probability,
                "seed": self.seed, "fired": self.fired}


class Faults:
    def __init__(self):
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, **spec) -> Rule:
        with self._lock:
            rule = Rule(id=f"fault_{next(self._ids)}", **spec)
            self._rules.append(rule)
            return rule

    def __bool__(self) -> bool:
        return bool(self._rules)

    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            kept = [r for r in self._rules if r.id != rule_id]
            found = len(kept) != len(self._rules)
            self._rules = kept
            return found

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def fire(self, operation: str, task_id: str | None) -> Rule | None:
        """The first rule that matches and fires for this call; spent rules are dropped."""
        with self._lock:
            for rule in self._rules:
                if rule.operation != operation or rule.task_id not in (None, task_id):
                    continue
                if rule._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule
        return None
