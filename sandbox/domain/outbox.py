"""Notifications over a session's unit of work: subscriptions, the outbox a sender claims from,
what each attempt leaves, retries on the virtual clock, resends and events fired on demand."""
from __future__ import annotations

from dataclasses import dataclass, replace

from sandbox import errors
from sandbox.domain import events
from sandbox.domain.clock import format_timestamp
from sandbox.domain.events import DELIVERED, FAILED, PENDING, Delivery, Subscription
from sandbox.domain.model import freeze, upload_status
from sandbox.domain.world import settle

# Seconds on the session's clock before each retry: 5 attempts in all, the last about 7 minutes
# after the first. Short, so a test reaches the end by advancing a frozen clock.
BACKOFF = (5, 20, 80, 320)
ATTEMPTS = len(BACKOFF) + 1


@dataclass(frozen=True)
class Send:
    """What a sender needs to make one attempt, outside any unit of work."""
    session: str
    delivery_id: str
    event_id: str
    url: str
    secret: str
    body: dict
    attempt: int
    token: str  # the claim's: an outcome counts only for the claim that made it


# -- subscriptions (over the control plane; fixtures add them too) --
def subscription(tx, subscription_id: str) -> Subscription:
    found = tx.get("subscriptions", subscription_id)
    if found is None or found.deleted:
        raise errors.SubscriptionNotFound(f"No subscription {subscription_id} in this session.")
    return found


def subscriptions(tx, project_id: str | None = None, team: str | None = None) -> list[dict]:
    """`team`: only that team's projects' (a team's view of its session never shows another's receivers)."""
    return [s.public() for s in sorted(tx.values("subscriptions"), key=lambda s: (s.created_at or "", s.id))
            if not s.deleted and project_id in (None, s.project_id)
            and (team is None or getattr(tx.project(s.project_id), "team_id", None) == team)]


def subscribe(tx, project_id: str, url: str, secret: str, event_types: list[str] | None = None,
              enabled: bool = True, description: str = "") -> dict:
    settle(tx)
    if tx.project(project_id) is None:
        raise errors.ProjectNotFound(f"Project {project_id} was not found in this session.")
    sub_id, _ = tx.notify_id("sub")
    sub = Subscription(sub_id, project_id, url, tuple(event_types or events.TYPES), secret, enabled,
                       description=description, created_at=tx.clock.now_iso())
    tx.put("subscriptions", sub_id, sub)
    return sub.public(with_secret=True)


def update(tx, subscription_id: str, **changes) -> dict:
    sub = subscription(tx, subscription_id)
    changes = {k: v for k, v in changes.items() if v is not None}
    if "events" in changes:
        changes["events"] = tuple(changes["events"])
    if changes.get("enabled"):
        changes["disabled_reason"] = None
    elif changes.get("enabled") is False:
        changes["disabled_reason"] = "disabled over the control plane"
    sub = replace(sub, **changes)
    tx.put("subscriptions", sub.id, sub)
    return sub.public()


def unsubscribe(tx, subscription_id: str) -> None:
    sub = subscription(tx, subscription_id)
    tx.put("subscriptions", sub.id, replace(sub, enabled=False, deleted=True))


# -- events and deliveries --
def event_list(tx, event_type: str | None = None, upload_id: str | None = None) -> list[dict]:
    settle(tx)
    found = sorted(tx.values("events"), key=lambda e: e.seq)
    return [e.public() for e in found if event_type in (None, e.type) and upload_id in (None, e.upload_id)]


def trigger(tx, upload_id: str, event_type: str) -> dict:
    """Fire an event for an upload now, without waiting for the transition, when the upload is
    in the state the event announces."""
    now = settle(tx)
    if tx.upload(upload_id) is None:
        raise errors.UploadNotFound(f"Upload {upload_id} was not found in this session.")
    status = upload_status(tx.tasks_of(upload_id))
    wanted = {events.IN_REVIEW: "IN_REVIEW", events.PROCESSED: "COMPLETED"}[event_type]
    if status != wanted:  # the platform never sends such a body: a client must not learn to expect one
        raise errors.InvalidEvent(
            f"{event_type} needs the upload {wanted}, and {upload_id} is {status}; "
            "force its tasks' status first (PUT /_sandbox/tasks/{task_id}/status).",
            [{"location": "body.upload_id", "message": f"upload is {status}"}])
    return events.fire(tx, upload_id, event_type, now).public()


def delivery(tx, delivery_id: str) -> Delivery:
    found = tx.get("deliveries", delivery_id)
    if found is None:
        raise errors.DeliveryNotFound(f"No delivery {delivery_id} in this session.")
    return found


def deliveries(tx, subscription_id: str | None = None, event_id: str | None = None,
               status: str | None = None) -> list[dict]:
    settle(tx)
    return [d.public() for d in sorted(tx.values("deliveries"), key=lambda d: d.seq)
            if subscription_id in (None, d.subscription_id) and event_id in (None, d.event_id)
            and status in (None, d.status)]


def resend(tx, delivery_id: str, real_now: float) -> dict:
    """Send a delivery again now, with a fresh budget of retries; the event (and its id) stays.
    Refused while an attempt is on its way: its outcome is still to come."""
    now = settle(tx)
    found = delivery(tx, delivery_id)
    if found.lease_until > real_now:
        raise errors.DeliveryInFlight(f"Delivery {delivery_id} is being sent right now; resend it once "
                                      "the attempt is recorded.")
    found = replace(found, status=PENDING, next_at=now, lease_until=0.0, lease_token="",
                    round_start=len(found.attempts))
    tx.put("deliveries", found.id, found)
    events.schedule(tx, found.id, now)
    return found.public()


def claim(tx, real_now: float, lease: float, token: str) -> list[Send]:
    """The deliveries due by the session's clock that no process holds, each held for `lease`
    seconds of the host's clock; one whose subscription is gone fails without a send."""
    now = settle(tx)
    tx.clock_changed()  # always commit: the store recomputes when to wake for this session
    sends = []
    for due, delivery_id in tx.outbox:
        if due > now:
            break
        found = tx.get("deliveries", delivery_id)
        if found.lease_until > real_now:
            continue
        sub = tx.get("subscriptions", found.subscription_id)
        if sub is None or sub.deleted or not sub.enabled:
            reason = "the subscription was deleted" if sub is None or sub.deleted else "the subscription is disabled"
            _attempt(tx, found, {"status": None, "latency_ms": 0, "response": "", "error": reason}, now, final=True)
            continue
        mine = f"{token}/{delivery_id}"
        tx.put("deliveries", delivery_id, replace(found, lease_until=real_now + lease, lease_token=mine))
        body = tx.get("events", found.event_id).body
        sends.append(Send(tx.session, delivery_id, found.event_id, sub.url, sub.secret, body,
                          len(found.attempts) - found.round_start + 1, mine))
    return sends


def held(tx, token: str, real_now: float) -> list[Send]:
    """The deliveries a claim with `token` holds: after a claim whose confirmation was lost
    (it may or may not have landed), the sender sends what it holds instead of waiting out
    the lease."""
    sends = []
    for _, delivery_id in tx.outbox:
        found = tx.get("deliveries", delivery_id)
        sub = tx.get("subscriptions", found.subscription_id)
        if found.lease_token.startswith(f"{token}/") and found.lease_until > real_now and sub is not None:
            sends.append(Send(tx.session, delivery_id, found.event_id, sub.url, sub.secret,
                              tx.get("events", found.event_id).body,
                              len(found.attempts) - found.round_start + 1, found.lease_token))
    return sends


def record(tx, delivery_id: str, token: str, outcome: dict) -> None:
    """What one attempt gave (`outcome`: status, latency_ms, response, error): delivered on a
    2xx; on 410 the subscription is disabled; otherwise retried after the next backoff, until
    the attempts run out."""
    now = settle(tx)
    found = tx.get("deliveries", delivery_id)
    if found is None or found.status != PENDING or found.lease_token != token:
        return  # a reset, a delete or a lease that ran out came between: another claim owns it now
    status = outcome.get("status")
    if status == 410:
        sub = tx.get("subscriptions", found.subscription_id)
        if sub is not None:
            tx.put("subscriptions", sub.id, replace(
                sub, enabled=False, disabled_reason=f"the receiver answered 410 Gone at {format_timestamp(now)}"))
    _attempt(tx, found, outcome, now, final=status == 410)


def _attempt(tx, found: Delivery, outcome: dict, now: float, final: bool) -> None:
    attempts = freeze((*found.attempts, {"at": format_timestamp(now), **outcome}))
    ok = outcome.get("status") is not None and 200 <= outcome["status"] < 300
    made = len(attempts) - found.round_start
    if ok or final or made >= ATTEMPTS:
        found = replace(found, status=DELIVERED if ok else FAILED, attempts=attempts, next_at=None,
                        lease_until=0.0, lease_token="")
        events.unschedule(tx, found.id)
    else:
        due = now + BACKOFF[made - 1]
        found = replace(found, attempts=attempts, next_at=due, lease_until=0.0, lease_token="")
        events.schedule(tx, found.id, due)
    tx.put("deliveries", found.id, found)


def wake_at(tx, real_now: float) -> float | None:
    """When, on the host's clock, a sender should next look at this session: a delivery falls
    due or its lease ends, or (with a subscription to notify) the pipeline moves on. None: not
    before something else changes it (a frozen clock waits for a control call)."""
    subscribed = _subscribed(tx)
    if not tx.outbox and not subscribed:  # the common case, on every commit: nothing to send
        return None
    clock = tx.clock
    now = clock.now()

    def real(due: float) -> float | None:
        if due <= now:
            return real_now
        return None if clock.frozen else real_now + (due - now)

    times = []
    for due, delivery_id in tx.outbox:
        lease = tx.get("deliveries", delivery_id).lease_until
        times.append(lease if lease > real_now else real(due))
    if subscribed and any(s.enabled and not s.deleted for s in tx.values("subscriptions")):
        due = tx.next_due()
        if due is not None:
            times.append(real(due))
    times = [t for t in times if t is not None]
    return min(times) if times else None


def _subscribed(tx) -> bool:
    """Whether the session holds any subscription at all (enabled or not), without reading one."""
    return bool(tx.writes["subscriptions"] or tx.state.own.tables["subscriptions"]
                or tx.state.seed.tables["subscriptions"])
