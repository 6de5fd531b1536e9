"""The control plane's side of the timeline: what each control action notes of itself, and the
thin handler of GET /_sandbox/timeline."""
from __future__ import annotations

from connexion import context

from sandbox.domain import timeline
from sandbox.domain.clock import format_timestamp
from sandbox.domain.world import settle
from sandbox.http.context import context_of


def _clock(tx, result, args, kwargs) -> dict | None:
    if tx.clock.dump() == tx.state.clock.dump():
        return None  # frozen again, or unfrozen again: nothing moved
    details = {"now": tx.clock.now_iso(), "frozen": tx.clock.frozen}
    if kwargs.get("to") is not None:
        details["set_to"] = format_timestamp(kwargs["to"])
    if kwargs.get("advance"):
        details["advanced_seconds"] = kwargs["advance"]
    return details


def _fault(tx, rule, args, kwargs) -> dict:
    return {"fault_id": rule.id, **{k: v for k, v in rule.public().items() if k not in ("id", "fired")}}


def _subscribed(tx, sub, args, kwargs) -> dict:  # never its secret
    return {"subscription_id": sub["id"], "project_id": sub["project_id"], "url": sub["url"], "events": sub["events"]}


# operationId -> what the action did, from (tx, what its unit returned, args, kwargs); None: it did
# nothing worth a note. A forced status is the task's change itself (cause "forced"), not an entry more.
ACTIONS = {
    "loadFixtures": lambda tx, added, a, k: {"added": {kind: n for kind, n in added.items() if n}}
    if any(added.values()) else None,
    "setClock": _clock,
    "addFault": _fault,
    "removeFault": lambda tx, removed, a, k: {"fault_id": a[0]} if removed else None,
    "clearFaults": lambda tx, _, a, k: {"removed": len(tx.state.faults)} if tx.state.faults else None,
    "createSubscription": _subscribed,
    "updateSubscription": lambda tx, sub, a, k: {"subscription_id": sub["id"], "changed": sorted(
        n for n, v in k.items() if v is not None and n != "secret")},
    "deleteSubscription": lambda tx, _, a, k: {"subscription_id": a[0]},
    "triggerEvent": lambda tx, event, a, k: {"event_id": event["id"], "type": event["type"],
                                              "upload_id": event["upload_id"]},
    "resendDelivery": lambda tx, delivery, a, k: {"delivery_id": delivery["id"]},
}


def noting(operation: str, fn):
    """fn as a unit of work that also notes the control action, in the same commit."""
    describe = ACTIONS[operation]

    def unit(tx, *args, **kwargs):
        result = fn(tx, *args, **kwargs)
        details = describe(tx, result, args, kwargs)
        if details is not None:
            timeline.action(tx, operation, details, **({"upload_id": details["upload_id"]}
                                                        if "upload_id" in details else {}))
        return result
    return unit


def done(tx, operation: str, details: dict) -> None:
    """A unit noting an action the store made outside any unit (a reset, a journal emptied)."""
    timeline.action(tx, operation, details)


class TimelineHandlers:
    async def get_timeline(self, task_id=None, upload_id=None, kind=None, limit=100, **_):
        session = context_of(context.scope).session
        await session.run(settle)  # what fell due by now is on the timeline, as a read of the API would see it
        found = timeline.select(await session.store.timeline(session.sid), task_id, upload_id, kind, limit)
        return {"count": len(found), "slots": timeline.SLOTS, "payload": found}, 200
