"""Fault rules of one session: inject a status, a latency or both, N times or with a seeded
probability. A rule itself is sandbox/domain/faults.py: part of a session's state."""
from __future__ import annotations

from dataclasses import replace

from sandbox import errors
from sandbox.domain.faults import Rule

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
