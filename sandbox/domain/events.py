"""The platform's upload events (B14): what fires them, and the records of subscriptions,
events and deliveries a session keeps. Sending is elsewhere (sandbox/notify/): nothing here
touches the network."""
from __future__ import annotations

import base64
import binascii
import bisect
from dataclasses import dataclass
from urllib.parse import urlsplit

from sandbox.domain.clock import format_timestamp
from sandbox.domain.folders import filed_in
from sandbox.domain.model import FrozenDict, evolve, freeze, upload_status

IN_REVIEW, PROCESSED = "upload.in_review", "upload.processed"
TYPES = {IN_REVIEW: "IN_REVIEW", PROCESSED: "PROCESSED"}  # subscription name -> the body's `event`
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where a project's events go. The secret signs them; it is shown once, when made."""
    id: str
    project_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    enabled: bool = True
    disabled_reason: str | None = None
    description: str = ""
    created_at: str | None = None
    deleted: bool = False  # records are never removed from a session, only replaced

    def public(self, with_secret: bool = False) -> dict:
        out = {"id": self.id, "project_id": self.project_id, "url": self.url, "events": list(self.events),
               "enabled": self.enabled, "disabled_reason": self.disabled_reason,
               "description": self.description, "created_at": self.created_at}
        if with_secret:
            out["secret"] = self.secret
        return out


@dataclass(frozen=True, slots=True)
class Event:
    """One event as it is sent to every subscription that wants it; `seq` orders a session's events."""
    id: str
    type: str
    seq: int
    project_id: str
    upload_id: str
    body: FrozenDict
    created_at: str

    def public(self) -> dict:
        return {"id": self.id, "type": self.type, "seq": self.seq, "project_id": self.project_id,
                "upload_id": self.upload_id, "created_at": self.created_at, "body": self.body}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event to one subscription, and every attempt at sending it. `next_at` is on the
    session's virtual clock; `lease_until` on the host's (a process sending it holds it)."""
    id: str
    event_id: str
    subscription_id: str
    seq: int
    status: str = PENDING
    attempts: tuple = ()
    next_at: float | None = None
    lease_until: float = 0.0
    lease_token: str = ""  # the claim the lease belongs to: only that claim's outcome is recorded
    round_start: int = 0  # attempts before the last resend: the retry budget counts from here

    def public(self) -> dict:
        return {"id": self.id, "event_id": self.event_id, "subscription_id": self.subscription_id,
                "status": self.status, "attempts": list(self.attempts),
                "next_attempt_at": format_timestamp(self.next_at) if self.next_at is not None else None}


def secret_problem(secret: str) -> str | None:
    """Why `secret` cannot sign Standard Webhooks messages, or None."""
    if not secret.startswith("whsec_"):
        return "must start with whsec_"
    try:
        raw = base64.b64decode(secret[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        return "must be whsec_ and base64 (with its padding)"
    return None if 24 <= len(raw) <= 64 else f"must hold 24 to 64 bytes, not {len(raw)}"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a subscriber's address (whoever the host), or None."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not hold spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        return f"is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL"
    return None


def schedule(tx, delivery_id: str, due: float) -> None:
    """Put a delivery in the outbox, due at `due` on the session's clock."""
    outbox = [e for e in tx.outbox if e[1] != delivery_id]
    bisect.insort(outbox, (due, delivery_id))
    tx.set_outbox(tuple(outbox))


def unschedule(tx, delivery_id: str) -> None:
    if any(e[1] == delivery_id for e in tx.outbox):
        tx.set_outbox(tuple(e for e in tx.outbox if e[1] != delivery_id))


def fire(tx, upload_id: str, event_type: str, at: float) -> Event:
    """Record an event and a delivery to each enabled subscription of the upload's project that wants it."""
    upload = tx.upload(upload_id)
    project = tx.project(upload.project_id)
    event_id, seq = tx.notify_id("evt")
    body = freeze({"id": event_id, "event": TYPES[event_type], "event_level": "UPLOAD",
                   "team_id": project.team_id, "project_id": project.id,
                   "upload": upload.public(tx.tasks_of(upload_id)), "task": None})
    event = Event(event_id, event_type, seq, project.id, upload_id, body, format_timestamp(at))
    tx.put("events", event_id, event)
    if tx.owner is not None and project.team_id != tx.owner:
        return event  # a team's session never sends another team's events: their subscribers are that team's
    for sub in sorted(tx.values("subscriptions"), key=lambda s: s.id):
        if sub.enabled and not sub.deleted and sub.project_id == project.id and event_type in sub.events:
            delivery_id, dseq = tx.notify_id("dlv")
            tx.put("deliveries", delivery_id, Delivery(delivery_id, event_id, sub.id, dseq, next_at=at))
            schedule(tx, delivery_id, at)
    return event


def observe(tx, upload_id: str, at: float) -> None:
    """After an upload's tasks changed: file it by its new status (B15), then fire
    upload.in_review each time its status becomes IN_REVIEW, so the event shows where it is."""
    upload = tx.upload(upload_id)
    status = upload_status(tx.tasks_of(upload_id))
    if status == upload.notified_status:
        return
    folder_id = filed_in(upload, status, tx.folders_of(upload.project_id))
    tx.put("uploads", upload_id, evolve(upload, notified_status=status, folder_id=folder_id))
    if status == "IN_REVIEW":
        fire(tx, upload_id, IN_REVIEW, at)
