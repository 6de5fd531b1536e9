"""What the Redis store writes reads back the same (sandbox/store/codec.py), awkward values included."""
from __future__ import annotations

import pytest

from sandbox.domain.faults import Rule
from sandbox.domain.model import Report, Task, freeze
from sandbox.store import codec

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
