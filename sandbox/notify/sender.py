"""The sender: a thread per process that claims due deliveries from the store's outbox, signs
and posts them (Standard Webhooks), and records each attempt, never inside a unit of work."""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
import orjson
from standardwebhooks import Webhook

from sandbox import errors
from sandbox.domain import outbox
from sandbox.notify.hosts import HostPolicy
from sandbox.http.stack import serialise
from sandbox.store.protocol import Store

log = logging.getLogger("sandbox.notify")
IDLE_EXIT = 2.0       # seconds with nothing to wait for before the thread ends (it starts again on demand)
MAX_WAIT = 0.5        # seconds between looks at the store: other processes' sessions wake here too
MIN_WAIT = 0.02       # seconds at least between two looks
RESPONSE_BYTES = 200  # of a receiver's answer kept with each attempt
USER_AGENT = "task-sandbox-webhooks/1"


class Sender:
    """Runs in a thread of its own with its own event loop, so a delivery never waits on (or
    delays) a request, and works the same under uvicorn and a test client. Each attempt is its
    own task: a receiver that hangs holds only its own delivery, for at most `timeout`."""

    def __init__(self, store: Store, document: dict, timeout: float = 5.0, hosts: HostPolicy | None = None):
        self.store = store
        self.timeout = timeout
        self.hosts = hosts or HostPolicy()
        self.lease = timeout + 10.0  # another process sends it again only after this
        self._components = document["components"]
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._pending = False  # a wake() the thread has not looked at yet (under _lock)
        self._stopping = False
        self._failing = False  # the store stopped answering: said once, not every look
        self._outages = 0      # looks in a row that found the store down
        # Progress, notified on each change, so tests wait for it instead of sleeping: passes over
        # due deliveries (`looks`, counted once a pass's claims are made), deliveries claimed, and
        # attempts finished (recorded or not); claimed == finished means none is in flight.
        self.progress = threading.Condition()
        self.looks = self.claimed = self.finished = 0

    def wake(self) -> None:
        """Something may be due: look now (start the thread if it is not running)."""
        with self._lock:
            if self._stopping:
                return
            self._pending = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="task-sandbox-sender", daemon=True)
                self._loop = self._event = None
                self._thread.start()
            elif self._loop is not None and self._event is not None:
                self._loop.call_soon_threadsafe(self._event.set)

    def stop(self, wait: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
            if self._loop is not None and self._event is not None:
                self._loop.call_soon_threadsafe(self._event.set)
        if thread is not None:
            thread.join(wait)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    async def _main(self) -> None:
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        inflight: set[asyncio.Task] = set()
        idle_since = None
        try:
            self._validator  # before any delivery is in flight: its import stalls the loop once
        except Exception:  # each attempt then records why it sent nothing
            log.exception("notifications: the UploadEvent validator could not be built")
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            try:
                await self.store.prepare()
            except Exception as exc:
                self._failed(exc)
            while not self._stopping:
                self._event.clear()
                with self._lock:
                    self._pending = False
                sends = await self._claim()
                for send in sends:
                    task = asyncio.create_task(self._deliver(client, send))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                self._progressed(looks=1, claimed=len(sends))
                upcoming = await self._upcoming()
                if upcoming is None and not inflight:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > IDLE_EXIT:
                        with self._lock:  # a wake() after this starts a new thread; one before, another look
                            if not self._pending:
                                self._thread = None
                                break
                else:
                    idle_since = None
                # never below MIN_WAIT: a session whose claim keeps failing must not spin the thread
                longest = MAX_WAIT if not self._outages else 5.0
                pause = MAX_WAIT if upcoming is None else min(longest, max(MIN_WAIT, upcoming - time.time()))
                try:
                    await asyncio.wait_for(self._event.wait(), pause)
                except asyncio.TimeoutError:
                    pass
            for task in inflight:
                task.cancel()
        await self.store.release()  # this loop's connections end with it

    async def _upcoming(self) -> float | None:
        try:
            found = await self.store.next_wake()
        except Exception:  # the store is down: look again, less and less often, up to every 5 s
            self._outages += 1
            return time.time() + min(5.0, 0.5 * 2 ** min(self._outages, 4))
        self._outages = 0
        return found

    async def _claim(self) -> list[outbox.Send]:
        """Due deliveries of every session that needs a look; a session whose claim fails
        (the store is down or busy) is looked at again next time, the others go on."""
        now, token = time.time(), uuid.uuid4().hex
        sends = []
        try:
            woken = await self.store.woken(now)
        except Exception as exc:
            return self._failed(exc)
        for sid in woken:
            try:
                sends += await self.store.run_existing(sid, outbox.claim, now, self.lease, token) or []
            except errors.StoreUncertain:  # the claim may have landed: send what it holds, if anything
                try:
                    sends += await self.store.run_existing(sid, outbox.held, token, now) or []
                except Exception as exc:
                    self._failed(exc)
            except Exception as exc:
                self._failed(exc)
        if self._failing:
            self._failing = False
            log.warning("notifications: looking for due deliveries again")
        return sends

    def _failed(self, exc: Exception) -> list:
        """An outage of the store is the store's to tell, once (sandbox/store/outage.py)."""
        if not self._failing and not isinstance(exc, errors.StoreUnavailable):
            self._failing = True
            log.warning("notifications: could not look for due deliveries (%s); trying again", exc)
        return []

    def _progressed(self, looks: int = 0, claimed: int = 0, finished: int = 0) -> None:
        with self.progress:
            self.looks += looks
            self.claimed += claimed
            self.finished += finished
            self.progress.notify_all()

    async def _deliver(self, client: httpx.AsyncClient, send: outbox.Send) -> None:
        try:
            outcome = await self.attempt(client, send)
            try:
                await self.store.run_existing(send.session, outbox.record, send.delivery_id, send.token, outcome)
            except Exception:  # its lease runs out and another attempt follows: at least once, as promised
                log.warning("notifications: could not record an attempt of %s", send.delivery_id, exc_info=True)
            log.info("webhook %s %s to %s: %s", send.event_id, send.delivery_id, send.url,
                     outcome["status"] if outcome["status"] is not None else outcome["error"])
        finally:
            self._progressed(finished=1)

    @functools.cached_property
    def _validator(self):
        """Made on the first send: openapi-schema-validator takes 55 ms to import, a seventh of
        the sandbox's start-up, and most runs send nothing."""
        from openapi_schema_validator import OAS30Validator

        return OAS30Validator({"$ref": "#/components/schemas/UploadEvent", "components": self._components})

    async def attempt(self, client: httpx.AsyncClient, send: outbox.Send) -> dict:
        """One POST of the event, signed; what came back, in the shape a delivery keeps."""
        body = serialise(send.body).rstrip(b"\n")
        try:
            problem = next(iter(self._validator.iter_errors(orjson.loads(body))), None)
        except ImportError as exc:  # never send what could not be checked
            return _outcome(error=f"the event could not be checked against UploadEvent: {exc}")
        if problem is not None:  # never send what the contract does not allow (B1, outbound too)
            return _outcome(error=f"the event does not conform to UploadEvent: {problem.message}")
        host = urlsplit(send.url).hostname
        if not self.hosts.allows(host):
            return _outcome(error=self.hosts.refusal(host))
        stamp = datetime.now(timezone.utc)  # the host's clock: receivers check it against theirs
        headers = {"content-type": "application/json", "user-agent": USER_AGENT,
                   "webhook-id": send.event_id, "webhook-timestamp": str(int(stamp.timestamp())),
                   "webhook-signature": Webhook(send.secret).sign(send.event_id, stamp, body.decode())}
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):  # the whole exchange: a receiver that drips bytes too
                async with client.stream("POST", send.url, content=body, headers=headers) as answer:
                    head = b""
                    async for chunk in answer.aiter_bytes():
                        head += chunk
                        if len(head) >= RESPONSE_BYTES:
                            break
                    return _outcome(answer.status_code, started, head[:RESPONSE_BYTES].decode("utf-8", "replace"))
        except (httpx.TimeoutException, TimeoutError):
            return _outcome(started=started, error=f"no answer within {self.timeout:g} s")
        except httpx.ConnectError as exc:
            return _outcome(started=started, error=f"could not connect: {exc or 'connection refused'}")
        except Exception as exc:  # whatever it was, the attempt is recorded and retried, never lost
            return _outcome(started=started, error=f"{type(exc).__name__}: {exc}")


def _outcome(status: int | None = None, started: float | None = None, response: str = "",
             error: str | None = None) -> dict:
    latency = 0 if started is None else round((time.monotonic() - started) * 1000)
    return {"status": status, "latency_ms": latency, "response": response, "error": error}
