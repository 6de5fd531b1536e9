"""Waiting in tests without sleeping and hoping: every wait has a deadline that fails the test."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

import pytest

T = TypeVar("T")


def until(probe: Callable[[], T], what: str, timeout: float = 10.0, every: float = 0.02) -> T:
    """`probe()`'s first truthy answer; the test fails, saying `what` did not happen, at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s (last seen: {found!r})")
        time.sleep(every)


def sender_looked(sender, looks: int = 2, timeout: float = 10.0) -> None:
    """Until `sender` has passed over due deliveries `looks` more times (woken for each, so a
    thread that went idle starts again) and no attempt of it is in flight. Two looks: the
    first may have read the store before the caller's last change."""
    deadline = time.monotonic() + timeout
    with sender.progress:
        target = sender.looks + looks
    while True:
        sender.wake()
        with sender.progress:
            if sender.looks >= target and sender.claimed == sender.finished:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"the sender did not look {looks} more times with nothing in flight within "
                            f"{timeout:g} s (looks {sender.looks}/{target}, claimed {sender.claimed}, "
                            f"finished {sender.finished})")
            sender.progress.wait(min(remaining, 0.5))
