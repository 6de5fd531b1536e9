"""Processing over time: due transitions, applied in time order as the clock passes them (B6, B8, B9)."""
from __future__ import annotations


from sandbox import errors
from sandbox.domain import entities, events, lifecycle, timeline
from sandbox.domain.clock import exact, format_timestamp
from sandbox.domain.model import COMPLETED, PROCESSING, REVIEWING, Task, all_final, evolve

# A task PROCESSING after an upload is being read at its step: it settles REVIEWING there.
# A task PROCESSING after a complete moves on: next step, or COMPLETED at the last (B6).
READ, ADVANCE, EXPORT = "read", "advance", "export"


class Pipeline:
    """Events wait in the session's queue ordered by due time (`tx.push`, `tx.pop_due`);
    `run_until(now)` applies every due one at its own due time, so one jump of the clock and
    many small steps reach the same state. Each event carries the version of what it was
    scheduled for, so an event whose task or upload moved on meanwhile does nothing."""

    def __init__(self, tx):
        self.tx = tx

    def run_until(self, now: float) -> None:
        tx = self.tx
        cause, at = tx.cause, tx.cause_at
        try:  # what falls due is the clock's doing, at its own time, whichever unit applies it
            while (event := tx.pop_due(now)) is not None:
                due, _, kind, target, version = event
                tx.cause, tx.cause_at = timeline.CLOCK, due
                if kind == EXPORT:
                    self._export(due, target, version)
                else:
                    self._settle(due, kind, target, version)
        finally:
            tx.cause, tx.cause_at = cause, at

    # -- what actions tell the pipeline --
    def completed(self, task: Task, at: float) -> None:
        self._schedule(ADVANCE, task, at)

    def task_created(self, task: Task, at: float) -> None:
        self._schedule(READ, task, at)

    def upload_changed(self, upload_id: str, at: float) -> None:
        tx = self.tx
        upload = tx.upload(upload_id)
        if all_final(tx.tasks_of(upload_id)):
            if upload.final_since is None and not upload.fully_processed:
                tx.put("uploads", upload_id, evolve(upload, final_since=at))
                delay = tx.project(upload.project_id).export_delay
                tx.push(exact(at + delay), EXPORT, upload_id, at)
        elif upload.final_since is not None:
            tx.put("uploads", upload_id, evolve(upload, final_since=None))
        events.observe(tx, upload_id, at)

    # -- events --
    def _schedule(self, kind: str, task: Task, at: float) -> None:
        delay = self.tx.project(task.project_id).processing_delay
        self.tx.push(exact(at + delay), kind, task.id, task.version)

    def _settle(self, due: float, kind: str, task_id: str, version: int) -> None:
        tx = self.tx
        if not live(tx, kind, task_id, version):
            return
        task = tx.task(task_id)
        project = tx.project(task.project_id)
        following = project.next_step(task.step_type) if kind == ADVANCE else task.step_type
        if task.outcome is not None:
            task = lifecycle.move(task, task.outcome, outcome=None)
        elif following is None:
            task = lifecycle.move(task, COMPLETED)
        else:
            task = entities.predict(lifecycle.move(task, REVIEWING, step_type=following), project, tx.new_id)
            if project.automation == "auto_process":
                task = self._auto_complete(task, due)
        tx.put("tasks", task.id, task)
        self.upload_changed(task.upload_id, due)

    def _auto_complete(self, task: Task, at: float) -> Task:
        upload = self.tx.upload(task.upload_id)
        try:
            lifecycle.check("complete", task, upload, self.tx.project(task.project_id))
        except errors.StateRuleRefused:
            return task  # fails validation: it waits for a person (B6)
        task = lifecycle.move(task, PROCESSING)
        self.completed(task, at)
        return task

    def _export(self, due: float, upload_id: str, version) -> None:
        tx = self.tx
        if not live(tx, EXPORT, upload_id, version):
            return
        upload = tx.upload(upload_id)
        tx.put("uploads", upload_id, evolve(upload, fully_processed=True))
        fails = tx.project(upload.project_id).export_fails
        stamp = format_timestamp(due)
        for task in tx.tasks_of(upload_id):
            if task.status == COMPLETED and task.exported_at is None:
                tx.put("tasks", task.id, evolve(task, **{"export_failed_at" if fails else "exported_at": stamp}))
        events.fire(tx, upload_id, events.PROCESSED, due)


def live(tx, kind: str, target: str, version) -> bool:
    """Whether an event still does something: its task or upload has not moved on since it was scheduled."""
    if kind == EXPORT:
        upload = tx.upload(target)
        return upload is not None and not upload.fully_processed and upload.final_since == version
    task = tx.task(target)
    return task is not None and task.version == version and task.status == PROCESSING


def upcoming(tx) -> dict | None:
    """After applying what fell due by now, the next transition that will change something (its
    time, kind and task or upload), or None: events gone stale are skipped, as they will be."""
    now = tx.now()
    Pipeline(tx).run_until(now)
    for due, _, kind, target, version in tx.pending():
        if live(tx, kind, target, version):
            return {"at": format_timestamp(due), "in_seconds": exact(max(due - now, 0.0)), "kind": kind, "target": target}
    return None
