"""What both stores share: how a new session's state is made, and the options they take."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from sandbox import errors
from sandbox.store.journal import JOURNAL_BYTES
from sandbox.domain.clock import Clock
from sandbox.store.state import Seed, SessionState

DEFAULT = "default"
TENANT = "@"  # never in a session's name: a session's id is NAME, or NAME@TEAM on a hosted sandbox


def sid_of(tenant: str | None, name: str) -> str:
    return name if tenant is None else f"{name}{TENANT}{tenant}"


def split_sid(sid: str) -> tuple[str | None, str]:
    """(tenant, name) of a session's id."""
    name, _, tenant = sid.partition(TENANT)
    return tenant or None, name


def is_default(sid: str) -> bool:
    """A tenant's default session: never evicted, never idle, never deleted."""
    return sid.partition(TENANT)[0] == DEFAULT


INBOX_BYTES = 32 * 1024 * 1024


@dataclass
class Options:
    seeds: Callable[[str | None], Seed]   # a scenario's seed by name (None: the default)
    id_seed: int = 0
    max_sessions: int = 100                # per tenant, besides its default session
    idle_seconds: float | None = None      # a session unused this long starts afresh
    journal_size: int = 1000
    journal_bytes: int = JOURNAL_BYTES     # each of a session's journal, violations and refusals
    inbox_bytes: int = INBOX_BYTES         # what all inboxes together keep, oldest dropped first
    session_records: int = 10_000          # records a session holds of its own (check_bound)
    tenants: int = 1                       # teams (plus the laptop's none): what caches per session are sized for
    new_clock: Callable[[], Clock] = Clock
    default_clock: Clock | None = None
    namespace: str = "task-sandbox"        # Redis key prefix: several sandboxes on one Redis
    # When a sender should next look at a session (host's clock), from a committed unit of work,
    # and who to tell when there is such a time (sandbox/notify/): none, no notifications.
    wake_at: Callable | None = None
    on_wake: Callable[[], None] | None = None
    # What the memory store measures idleness by (tests move their own instead of waiting);
    # Redis expires idle sessions by its own TTLs.
    monotonic: Callable[[], float] = time.monotonic


def check_bound(options: "Options", state: SessionState, tx) -> None:
    """Before a commit: a session holds at most `session_records` records of its own (those it
    made or changed: tasks, uploads, subscriptions, events, deliveries...), so no client can grow
    one without bound; past it the unit commits nothing."""
    if tx.added and state.own.size + tx.added > options.session_records:
        raise errors.SessionFull(
            f"This session holds {options.session_records} records of its own, its limit "
            "(--session-records): reset it (POST /_sandbox/reset) or use a new one.")


def wake_of(options: Options, tx, now: float) -> float | None:
    return None if options.wake_at is None else options.wake_at(tx, now)


def tell(options: Options, wake: float | None) -> None:
    """After a commit that left a session something to send or settle: wake the sender."""
    if wake is not None and options.on_wake is not None:
        options.on_wake()


def fresh(options: Options, sid: str, scenario: str | None = None, clock: Clock | None = None,
          owner: str | None = None) -> SessionState:
    """A new session's state over a scenario's seed; the clock keeps its time across a reset."""
    clock = clock or (options.default_clock if sid == DEFAULT and options.default_clock else options.new_clock())
    return SessionState(seed=options.seeds(scenario), clock=clock, started_at=clock.now(),
                        scenario=scenario or DEFAULT, owner=owner)
