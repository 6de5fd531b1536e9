"""What the Redis store writes reads back the same (sandbox/store/codec.py), awkward values and
every field of a session's state included."""
from __future__ import annotations

import dataclasses

import pytest

from sandbox.domain.faults import Rule
from sandbox.domain.model import Report, Task, freeze
from sandbox.domain.clock import Clock
from sandbox.store import codec
from sandbox.store.state import PARTS, Own, SessionState, Tx

TASK = Task("task_1", "a", "2024-01-01T00:00:00Z", freeze([{"n": 1}]), "REVIEWING", "EXTRACT", "upl_1",
            "proj_1", None, None, None, None, freeze([{"id": "p", "annotations": []}]),
            (Report(freeze([{"label": "x", "value": "y"}]), None, "2024-01-01T00:00:00Z"),))


@pytest.mark.parametrize("value", [
    pytest.param(2 ** 70, id="an integer past 64 bits"),
    pytest.param(-(10 ** 30), id="a negative one"),
    pytest.param("\ud800", id="a lone surrogate"),
    pytest.param(0.1, id="a float"),
    pytest.param(None, id="null"),
])
def test_awkward_values_read_back_exactly(value):
    task = TASK.__class__(**{**{f: getattr(TASK, f) for f in TASK.__dataclass_fields__},
                             "meta": freeze([{"v": value}])})
    [(name, raw)] = codec.record_fields(type("Tx", (), {"writes": {"tasks": {task.id: task}}, "by_upload": {}})()).items()
    back = codec.own_from({name.encode(): raw}).tables["tasks"][task.id]
    assert back == task and type(back.meta[0]["v"]) is type(value)


def test_a_fault_rule_with_a_huge_seed_keeps_its_draws():
    rule = Rule("fault_1", "getTask", seed=2 ** 70, probability=0.5, draws=3)
    assert Rule(**codec.loads(codec.dumps(rule))) == rule


# A value of each field of a session's state (but seed, own and version), none its default: a new
# field needs one here, and is then checked through the codec and a unit of work with the rest.
SAMPLE = {
    "clock": Clock(now=1_700_000_000.5, frozen=True),
    "started_at": 1_699_999_000.25,
    "scenario": "other",
    "events": [(5.0, 1, "read", "task_1", 2)],
    "seq": 3,
    "cursor": 4,
    "next_id": 5,
    "faults": (Rule("fault_1", "getTask", status=503, times=2, probability=0.5, seed=9, fired=1, draws=2),),
    "fault_seq": 6,
    "owner": "team_1",
    "outbox": ((7.5, "dlv_1"),),
    "notify_seq": 8,
    "timeline_seq": 9,
}
SEED = object()  # neither the codec nor a unit of work reads the seed's records here


def values(state: SessionState) -> dict:
    return {name: (v.dump() if isinstance(v, Clock) else v) for name in PARTS for v in [getattr(state, name)]}


def test_the_sample_names_every_field_each_unlike_its_default():
    declared = {f.name: f for f in dataclasses.fields(SessionState)}
    assert set(SAMPLE) == set(PARTS) == set(declared) - {"seed", "own", "version"}
    # a unit of work changes every field but these: only a reset (a new state) does
    assert {name for name, part in PARTS.items() if part.by_tx == "fixed"} == {"started_at", "scenario"}
    for name, value in SAMPLE.items():
        f = declared[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert value != default, name


@pytest.mark.parametrize("write", [
    pytest.param(codec.state_meta, id="a state"),
    pytest.param(lambda state: codec.tx_meta(Tx(state, "s", 0)), id="a unit of work that changed nothing"),
])
def test_every_field_of_a_state_reads_back_as_written(write):
    state = SessionState(seed=SEED, **SAMPLE)
    back = codec.state_from(write(state), 3, lambda scenario: SEED, Own())
    assert values(back) == values(state)
    assert (back.version, back.seed) == (3, SEED)


def test_a_unit_of_work_commits_every_field_it_carries():
    state = SessionState(seed=SEED, **SAMPLE)
    target = SessionState(seed=SEED, clock=Clock(now=0.0, frozen=True), started_at=0.0)
    tx = Tx(state, "s", 0)
    tx.push(9.0, "read", "task_2", 1)  # events are copied on their first change: change them too
    tx.commit_into(target)
    expected = {**values(state), "events": [*SAMPLE["events"], (9.0, 4, "read", "task_2", 1)], "seq": 4}
    carried = [name for name, part in PARTS.items() if part.by_tx != "fixed"]
    assert {n: values(target)[n] for n in carried} == {n: expected[n] for n in carried}
    assert target.version == 1
