"""Fault rules of one session: inject a status, a latency or both, N times or with a seeded probability."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace

from sandbox import errors


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


MAX_RULES = 100  # a session's fault rules: each request reads them all


def add(tx, **spec) -> Rule:
    if len(tx.faults) >= MAX_RULES:
        raise errors.InvalidFault(f"A session holds at most {MAX_RULES} fault rules; remove some "
                                  "(DELETE /_sandbox/faults/{fault_id}) or clear them.")
    rule = Rule(id=f"fault_{tx.fault_seq + 1}", **spec)
    tx.set_faults((*tx.faults, rule), tx.fault_seq + 1)
    return rule


def remove(tx, rule_id: str) -> bool:
    kept = tuple(r for r in tx.faults if r.id != rule_id)
    if len(kept) == len(tx.faults):
        return False
    tx.set_faults(kept)
    return True


def clear(tx) -> None:
    tx.set_faults(())


def fire(tx, operation: str, task_id: str | None) -> Rule | None:
    """The first rule that matches and fires for this call; spent rules are dropped."""
    rules = list(tx.faults)
    for i, rule in enumerate(rules):
        if rule.operation != operation or rule.task_id not in (None, task_id):
            continue
        drawn = rule.draw() if rule.probability < 1.0 else 0.0
        rules[i] = rule = replace(rule, draws=rule.draws + 1)
        if drawn >= rule.probability:
            tx.set_faults(tuple(rules))
            continue
        rule = rules[i] = replace(rule, fired=rule.fired + 1,
                                  times=None if rule.times is None else rule.times - 1)
        if rule.times == 0:
            del rules[i]
        tx.set_faults(tuple(rules))
        return rule
    return None
