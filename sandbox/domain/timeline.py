"""A session's timeline: each change of a task's status or step and of an upload's status or
folder, with its time and cause, and each control action, noted inside the unit of work that
made it and kept in a ring of SLOTS records (a put overwrites the oldest: no deletes, no bound)."""
from __future__ import annotations

from sandbox.domain.clock import format_timestamp

TIMELINE = "timeline"  # the records' kind: a session's own, never a seed's nor a fixture's
SLOTS = 500
KINDS = ("task", "upload", "control")
CLOCK = {"by": "clock"}      # a due transition the pipeline applied
SANDBOX = {"by": "sandbox"}  # a unit of work no request ran (a test's, a script's)


def cause_of(kind: str, operation: str | None) -> dict:
    """Why a request's unit of work changes what it changes: its API call, a forced status, or
    another control action."""
    if kind == "api":
        return {"by": "api", "operation": operation}
    if operation == "forceTaskStatus":
        return {"by": "forced"}
    return {"by": "control", "operation": operation}


def _task(task) -> dict:
    return {"status": task.status, "step_type": task.step_type}


def _upload(upload) -> dict:
    # notified_status follows the status derived from the upload's tasks: events.observe moves it
    # on every change, so the derived status is never computed again here, per put
    return {"status": upload.notified_status, "folder_id": upload.folder_id}


def put(tx, kind: str, before, after) -> None:
    """Note what a put of a task or an upload changes of what the timeline follows."""
    if kind == "tasks":
        was, now = (None if before is None else _task(before)), _task(after)
        subject = {"kind": "task", "task_id": after.id, "upload_id": after.upload_id}
    elif kind == "uploads":
        was, now = (None if before is None else _upload(before)), _upload(after)
        subject = {"kind": "upload", "upload_id": after.id}
    else:
        return
    if was != now:
        note(tx, subject, was, now)


def note(tx, subject: dict, was: dict | None, now: dict) -> None:
    key = (subject["kind"], subject.get("task_id") or subject["upload_id"])
    at = format_timestamp(tx.now() if tx.cause_at is None else tx.cause_at)
    earlier = tx.noted.get(key)
    # one subject changed twice for one cause at one time (a loaded upload filed, a settled task
    # auto-completed) is one change
    if earlier is not None and earlier["cause"] is tx.cause and earlier["at"] == at:
        earlier["to"] = now
        return
    tx.noted[key] = add(tx, {**subject, "from": was, "to": now}, at)


def action(tx, operation: str, details: dict, **subject) -> None:
    """Note a control action: what it did, and the task or upload it concerns, if any."""
    add(tx, {"kind": "control", "operation": operation, **subject, "details": details}, format_timestamp(tx.now()))


def add(tx, entry: dict, at: str) -> dict:
    tx.timeline_seq += 1
    entry.update(seq=tx.timeline_seq, at=at, cause=tx.cause)
    tx.writes[TIMELINE][str(tx.timeline_seq % SLOTS)] = entry
    tx.dirty = True
    return entry


def select(entries, task_id: str | None = None, upload_id: str | None = None, kind: str | None = None,
           limit: int = 100) -> list[dict]:
    """The newest `limit` entries, newest first, that match every filter given."""
    found = sorted(entries, key=lambda e: e["seq"], reverse=True)
    return [e for e in found if (task_id is None or e.get("task_id") == task_id)
            and (upload_id is None or e.get("upload_id") == upload_id)
            and (kind is None or e["kind"] == kind)][:limit]
