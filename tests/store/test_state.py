"""Explicit writes (sandbox/store/state.py): read values cannot be changed, and a unit of work
reads its own puts. That it lands whole or not at all, in its own session only, is every
store's contract: tests/store/test_conformance.py."""
from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import BASE, PROJECT, TEAM, auth

TASK = "task_abcdef123456"


@pytest.fixture
def key(world):
    return world.records.keys["YOUR_API_KEY"]


@pytest.mark.parametrize("write", [
    pytest.param(lambda task, payload: setattr(task, "status", "COMPLETED"), id="a record's field"),
    pytest.param(lambda task, payload: task.meta[0].update(value="changed"), id="a record's nested object"),
    pytest.param(lambda task, payload: task.pages[0]["annotations"].append({}), id="a record's nested list"),
    pytest.param(lambda task, payload: payload["meta"][0].__setitem__("value", "changed"), id="an answer's object"),
    pytest.param(lambda task, payload: payload["pages"][0].pop("id"), id="an answer's nested object"),
])
def test_no_write_through_a_read_value_reaches_the_seed_or_a_session(app, client, world, key, write):
    task = world.records.tasks[TASK]
    payload = world.get_task(key, TEAM, PROJECT, TASK)
    with pytest.raises((TypeError, AttributeError, dataclasses.FrozenInstanceError)):
        write(task, payload)
    before = client.get(f"{BASE}/task/{TASK}", headers={**auth(), "X-Sandbox-Session": "other"}).json()
    assert before["payload"]["meta"] == [{"name": "category", "value": "invoice"}]
    assert before["payload"]["status"] == "REVIEWING"


def test_reads_inside_a_unit_see_its_own_puts_before_the_commit(world):
    def put_then_read(tx):
        tx.put("tasks", TASK, dataclasses.replace(tx.task(TASK), status="DISCARDED"))
        inside = tx.task(TASK).status
        return inside, world.records.tasks[TASK].status

    assert world.change(put_then_read) == ("DISCARDED", "REVIEWING")
    assert world.records.tasks[TASK].status == "DISCARDED"


def test_evolve_is_replace_for_records():
    from dataclasses import replace

    from sandbox.domain.model import Task, evolve

    task = Task("t", "n", "2024-01-01T00:00:00Z", (), "REVIEWING", "EXTRACT", "u", "p", None, None, None, None, ())
    assert evolve(task, status="PROCESSING", version=3) == replace(task, status="PROCESSING", version=3)
    assert evolve(task) == task and evolve(task) is not task
    with pytest.raises(TypeError, match="no field colour"):
        evolve(task, colour="red")
