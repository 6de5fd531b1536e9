"""A store outage is told once: one warning when it starts, at most one line a minute while it
lasts (with a count), one when the store is back."""
from __future__ import annotations

import logging

import pytest

from sandbox.store.outage import Outage


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def told(caplog):
    caplog.set_level(logging.WARNING, logger="sandbox")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "sandbox"]


# (seconds after the start, calls failed then) ... -> lines told, each by its first words
@pytest.mark.parametrize("failures,lines", [
    ([(0, 1)], ["Redis store unavailable"]),
    ([(0, 9000)], ["Redis store unavailable"]),
    ([(0, 100), (59, 100)], ["Redis store unavailable"]),
    # the line comes with the first failure a minute after the last, counting those since
    ([(0, 100), (60, 100)], ["Redis store unavailable",
                             "Redis store still unavailable after 60 s (failed calls in the last 60 s: 100)"]),
    ([(0, 1), (61, 5), (90, 5), (122, 1)],
     ["Redis store unavailable", "Redis store still unavailable after 61 s (failed calls in the last 61 s: 1)",
      "Redis store still unavailable after 122 s (failed calls in the last 61 s: 10)"]),
])
def test_an_outage_is_one_line_and_at_most_one_a_minute(told, failures, lines):
    clock = Clock()
    outage = Outage(clock=clock)
    for at, count in failures:
        clock.now = at
        for _ in range(count):
            outage.failed(ConnectionError("refused"))
    assert len(told()) == len(lines)
    for said, expected in zip(told(), lines):
        assert said.startswith(expected), said


def test_the_end_of_an_outage_is_one_line_with_its_count(told):
    clock = Clock()
    outage = Outage(clock=clock)
    outage.answered()
    assert told() == [], "a store that answers says nothing"
    for _ in range(40):
        outage.failed(TimeoutError())
    clock.now = 4
    outage.answered()
    outage.answered()
    assert told()[1:] == ["Redis store is back after 4 s (failed calls meanwhile: 40)"]
    outage.failed(ConnectionError("again"))
    assert told()[-1].startswith("Redis store unavailable (again)"), "a new outage is told anew"
