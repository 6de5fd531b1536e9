"""The virtual clock and the seeded id source (B9)."""
from __future__ import annotations

import pytest

from sandbox.domain.clock import Clock, derive_id, format_timestamp, parse_timestamp


class FakeTime:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_follows_real_time_by_default():
    real = FakeTime(1000.0)
    clock = Clock(source=real)
    real.now += 5
    assert clock.now() == 1005.0


def test_frozen_clock_stands_still_and_moves_only_when_told():
    real = FakeTime(1000.0)
    clock = Clock(now=50.0, frozen=True, source=real)
    real.now += 100
    assert clock.now() == 50.0
    clock.advance(10)
    assert clock.now() == 60.0
    clock.set(500.0)
    assert clock.now() == 500.0
    clock.set(500.0)  # setting the time it is already is fine
    assert clock.now() == 500.0


def test_unfreeze_resumes_from_the_frozen_time():
    real = FakeTime(1000.0)
    clock = Clock(now=50.0, frozen=True, source=real)
    clock.unfreeze()
    real.now += 7
    assert clock.now() == 57.0


@pytest.mark.parametrize("move", [lambda c: c.advance(-1), lambda c: c.set(c.now() - 1.5)])
def test_clock_never_moves_back(move):
    clock = Clock(now=100.0, frozen=True)
    with pytest.raises(ValueError):
        move(clock)
    assert clock.now() == 100.0


def test_timestamps_are_utc_z_second_precision():
    assert format_timestamp(parse_timestamp("2024-01-15T10:30:00Z") + 0.9) == "2024-01-15T10:30:00Z"


def test_ids_repeat_for_a_seed_session_and_counter_and_differ_otherwise():
    first = derive_id(7, "s1", 1, "task")
    assert derive_id(7, "s1", 1, "task") == first
    assert len({first, derive_id(8, "s1", 1, "task"), derive_id(7, "s2", 1, "task"),
                derive_id(7, "s1", 2, "task")}) == 4
    assert first.startswith("task_") and len(first) == len("task_abcdef123456")
    assert set(first[5:]) <= set("0123456789abcdef")


def test_small_steps_add_up_exactly():
    clock = Clock(now=0.0, frozen=True)
    for _ in range(300):
        clock.advance(0.1)
    assert clock.now() == 30.0


def test_a_running_clock_accepts_its_own_time_and_zero_advances():
    real = FakeTime(1000.0)
    clock = Clock(source=real)
    shown = clock.now()
    real.now += 0.4  # time passes between reading the clock and setting it
    clock.set(shown)
    clock.advance(0)
    assert clock.now() == 1000.4


@pytest.mark.parametrize("path, body, names", [
    ("/_sandbox/clock", {"set": "2025-03-01T13:00:00Z"}, "allowed: advance_seconds, freeze, now"),
    ("/_sandbox/faults", {"operation": "getTask", "statuss": 503}, "allowed: latency_ms, operation, probability"),
])
def test_an_unknown_field_of_a_control_body_names_the_allowed_ones(client, path, body, names):
    answer = client.post(path, json=body)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_request"
    assert names in answer.json()["details"][0]["message"] and names in answer.json()["error"]
