"""Processing over time: due transitions, applied in time order as the clock passes them (B6, B8, B9)."""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Callable

from sandbox import errors
from sandbox.domain import entities, lifecycle
from sandbox.domain.clock import exact, format_timestamp
from sandbox.domain.model import COMPLETED, PROCESSING, REVIEWING, Task, Upload, all_final

# A task PROCESSING after an upload is being read at its step: it settles REVIEWING there.
# A task PROCESSING after a complete moves on: next step, or COMPLETED at the last (B6).
READ, ADVANCE, EXPORT = "read", "advance", "export"


@dataclass(order=True, frozen=True)
class Event:
    due: float
    seq: int
    kind: str = field(compare=False)
    target: str = field(compare=False)
    version: float = field(compare=False)  # the state it was scheduled for; stale events skip


class Pipeline:
    """Events wait in a queue ordered by due time; `run_until(now)` applies every due one at its
    own due time, so one jump of the clock and many small steps reach the same state."""

    def __init__(self, records, new_id: Callable[[str], str]):
        self.records = records
        self.new_id = new_id
        self._queue: list[Event] = []
        self._seq = itertools.count()

    @staticmethod
    def in_flight(records) -> tuple[list[str], list[str]]:
        """What a seed leaves in flight: tasks PROCESSING, and uploads whose export is due.
        Computed once per seed, so a new session over 100,000 tasks costs no scan."""
        tasks = [t.id for t in records.tasks.values() if t.status == PROCESSING]
        uploads = [u.id for u in records.uploads.values()
                   if not u.fully_processed and all_final(records.tasks_of(u.id))]
        return tasks, uploads

    def start(self, now: float, in_flight: tuple[list[str], list[str]] | None = None) -> None:
        """Pick up what the world leaves in flight."""
        tasks, uploads = in_flight or self.in_flight(self.records)
        for task_id in tasks:
            self._schedule(READ, self.records.tasks.get(task_id), now)
        for upload_id in uploads:
            self.upload_changed(self.records.uploads.get(upload_id), now)

    def run_until(self, now: float) -> None:
        while self._queue and self._queue[0].due <= now:
            event = heapq.heappop(self._queue)
            if event.kind == EXPORT:
                self._export(event)
            else:
                self._settle(event)

    # -- what actions tell the pipeline --
    def completed(self, task: Task, at: float) -> None:
        self._schedule(ADVANCE, task, at)

    def task_created(self, task: Task, at: float) -> None:
        self._schedule(READ, task, at)

    def upload_changed(self, upload: Upload, at: float) -> None:
        if all_final(self.records.tasks_of(upload.id)):
            if upload.final_since is None and not upload.fully_processed:
                self.records.uploads[upload.id].final_since = at
                delay = self.records.projects.get(upload.project_id).export_delay
                self._push(Event(exact(at + delay), next(self._seq), EXPORT, upload.id, at))
        elif upload.final_since is not None:
            self.records.uploads[upload.id].final_since = None

    # -- events --
    def _schedule(self, kind: str, task: Task, at: float) -> None:
        delay = self.records.projects.get(task.project_id).processing_delay
        self._push(Event(exact(at + delay), next(self._seq), kind, task.id, task.version))

    def _push(self, event: Event) -> None:
        heapq.heappush(self._queue, event)

    def _settle(self, event: Event) -> None:
        task = self.records.tasks.get(event.target)
        if task is None or task.version != event.version or task.status != PROCESSING:
            return
        task = self.records.tasks[task.id]  # for writing
        project = self.records.projects.get(task.project_id)
        following = project.next_step(task.step_type) if event.kind == ADVANCE else task.step_type
        if task.outcome is not None:
            lifecycle.move(task, task.outcome)
            task.outcome = None
        elif following is None:
            lifecycle.move(task, COMPLETED)
        else:
            task.step_type = following
            lifecycle.move(task, REVIEWING)
            entities.predict(task, project, self.new_id)
            if project.automation == "auto_process":
                self._auto_complete(task, event.due)
        self.upload_changed(self.records.uploads.get(task.upload_id), event.due)

    def _auto_complete(self, task: Task, at: float) -> None:
        upload = self.records.uploads.get(task.upload_id)
        try:
            lifecycle.check("complete", task, upload, self.records.projects.get(task.project_id))
        except errors.StateRuleRefused:
            return  # fails validation: it waits for a person (B6)
        lifecycle.move(task, PROCESSING)
        self.completed(task, at)

    def _export(self, event: Event) -> None:
        upload = self.records.uploads.get(event.target)
        if upload is None or upload.fully_processed or upload.final_since != event.version:
            return
        self.records.uploads[upload.id].fully_processed = True
        fails = self.records.projects.get(upload.project_id).export_fails
        stamp = format_timestamp(event.due)
        for task in self.records.tasks_of(upload.id):
            if task.status == COMPLETED and task.exported_at is None:
                task = self.records.tasks[task.id]  # for writing
                if fails:
                    task.export_failed_at = stamp
                else:
                    task.exported_at = stamp
