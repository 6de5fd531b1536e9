"""Sessions (B12): each name gets its own copy-on-write world, clock, journal and faults."""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from sandbox import errors
from sandbox.control.faults import Faults
from sandbox.control.journal import Journal
from sandbox.control.scenarios import DEFAULT, Scenarios
from sandbox.domain.clock import Clock, IdSource
from sandbox.domain.pipeline import Pipeline
from sandbox.domain.world import World

HEADER = "X-Sandbox-Session"
HEADER_KEY = HEADER.lower().encode()
SCOPE_KEY = "sandbox.session"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass
class Session:
    name: str
    world: World
    journal: Journal
    faults: Faults
    scenario: str = DEFAULT


class Sessions:
    """Created on first use as a layer over the seed, so a new session copies nothing up front;
    at most `max_sessions` named sessions are kept besides the default, the least recently
    used going first."""

    def __init__(self, scenarios: Scenarios, *, seed: int = 0, max_sessions: int = 100,
                 journal_size: int = 1000, default_clock: Clock | None = None,
                 new_clock: Callable[[], Clock] = Clock):
        self.scenarios = scenarios
        self.seed = seed
        self.max_sessions = max_sessions
        self.journal_size = journal_size
        self.new_clock = new_clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._seed_in_flight: dict[int, tuple[list[str], list[str]]] = {}  # seeds live as long as we do
        self._lock = threading.Lock()
        self._sessions[DEFAULT] = self._new(DEFAULT, default_clock or new_clock())

    def _new(self, name: str, clock: Clock) -> Session:
        seed = self.scenarios.seed(DEFAULT)
        world = World(seed.layer(), clock, IdSource(self.seed), self._in_flight(seed))
        return Session(name, world, Journal(self.journal_size), Faults())

    def _in_flight(self, seed) -> tuple[list[str], list[str]]:
        key = id(seed)
        if key not in self._seed_in_flight:
            self._seed_in_flight[key] = Pipeline.in_flight(seed)
        return self._seed_in_flight[key]

    @property
    def default(self) -> Session:
        return self._sessions[DEFAULT]

    def get(self, name: str | None) -> Session:
        name = DEFAULT if name is None else name
        if not NAME.match(name):
            raise errors.InvalidSession(
                f"{HEADER} must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit.")
        with self._lock:
            session = self._sessions.get(name)
            if session is None:
                session = self._sessions[name] = self._new(name, self.new_clock())
                self._evict()
            if name != DEFAULT:  # never evicted, so it keeps its place first
                self._sessions.move_to_end(name)
            return session

    def for_scope(self, scope) -> Session:
        """The request's session, looked up once and kept in its ASGI scope, so every layer of
        one request (faults, auth, handler, journal) works on the same session object even
        if the name is evicted meanwhile."""
        extensions = scope.setdefault("extensions", {})
        session = extensions.get(SCOPE_KEY)
        if session is None:
            name = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == HEADER_KEY), None)
            session = extensions[SCOPE_KEY] = self.get(name)
        return session

    def _evict(self) -> None:
        while len(self._sessions) - 1 > self.max_sessions:  # the default does not count
            oldest = next(n for n in self._sessions if n != DEFAULT)
            del self._sessions[oldest]

    def reset(self, name: str | None, scenario: str | None = None) -> Session:
        """Back to the fixtures (or a scenario): records, pending transitions, ids, journal and
        faults. The clock keeps its time: it never moves back (B9)."""
        seed = self.scenarios.seed(scenario)
        session = self.get(name)
        session.world.replace(seed.layer(), session.world.clock, IdSource(self.seed), self._in_flight(seed))
        session.journal.clear()
        session.faults.clear()
        session.scenario = scenario or DEFAULT
        return session

    def delete(self, name: str) -> None:
        """Forget a named session; the default one stays (reset it instead)."""
        if name == DEFAULT:
            raise errors.InvalidSession("The default session cannot be deleted; reset it with POST /_sandbox/reset.")
        with self._lock:
            self._sessions.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._sessions)
