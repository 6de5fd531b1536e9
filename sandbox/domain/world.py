"""The stateful world: seeded records, tenancy checks and every task action, under one lock."""
from __future__ import annotations

import threading
from typing import Callable

from sandbox import errors
from sandbox.domain import lifecycle, listing, uploads
from sandbox.domain.clock import Clock, IdSource, format_timestamp
from sandbox.domain.model import FINAL_STATUSES, PROCESSING, ApiKey, Project, Report, Task
from sandbox.domain.pipeline import Pipeline
from sandbox.domain.store import Records

__all__ = ["Records", "World"]


class World:
    """One lock around every read and change: handlers run on the event loop, but tests, the
    control plane's callers and future workers reach the world from other threads, and two
    concurrent actions on one task must produce exactly one success (B5). Every entry
    first applies the transitions that fell due since the last one (B9)."""

    def __init__(self, records: Records, clock: Clock | None = None, ids: IdSource | None = None,
                 in_flight: tuple[list[str], list[str]] | None = None):
        self._lock = threading.RLock()
        self.replace(records, clock or Clock(), ids or IdSource(), in_flight)

    def replace(self, records: Records, clock: Clock, ids: IdSource,
                in_flight: tuple[list[str], list[str]] | None = None) -> None:
        """Start over on `records` (a session's reset), keeping this object for its holders;
        `in_flight` is Pipeline.in_flight(records) when the caller knows it already."""
        with self._lock:
            self.records, self.clock, self.ids = records, clock, ids
            self.pipeline = Pipeline(records, ids.new)
            self.pipeline.start(clock.now(), in_flight)

    def settle(self) -> float:
        """Apply everything due by now; the caller holds the lock. Returns now."""
        now = self.clock.now()
        self.pipeline.run_until(now)
        return now

    # -- auth and tenancy (B3, B4) --
    def key(self, secret: str) -> ApiKey | None:
        return self.records.keys.get(secret)

    def _project(self, key: ApiKey, team_id: str, project_id: str) -> Project:
        # Another team answers exactly as a team that does not exist (B4).
        if team_id != key.team_id or team_id not in self.records.teams:
            raise errors.TeamNotFound(f"Team {team_id} was not found.")
        project = self.records.projects.get(project_id)
        if project is None or project.team_id != team_id:
            raise errors.ProjectNotFound(f"Project {project_id} was not found in team {team_id}.")
        if project_id not in key.projects:
            raise errors.ProjectNotGranted(
                f"The API key is not attached to project {project_id}; attach it to the project first.")
        return project

    def _task(self, key: ApiKey, team_id: str, project_id: str, task_id: str) -> Task:
        self._project(key, team_id, project_id)
        task = self.records.tasks.get(task_id)
        if task is None or task.project_id != project_id:
            raise errors.TaskNotFound(f"Task {task_id} was not found in project {project_id}.")
        return task

    # -- reads --
    def get_task(self, key: ApiKey, team_id: str, project_id: str, task_id: str) -> dict:
        with self._lock:
            self.settle()
            return self._task(key, team_id, project_id, task_id).public()

    def list_tasks(self, key: ApiKey, team_id: str, project_id: str, *, limit: int,
                   token: str | None = None, upload_id: str | None = None,
                   status: str | None = None, step_type: str | None = None) -> dict:
        with self._lock:
            self.settle()
            self._project(key, team_id, project_id)
            page = listing.paginate(self.records.tasks, project_id, limit, token, upload_id=upload_id,
                                    status=status, step_type=step_type)
            return {"count": page.count, "more": page.next_token is not None,
                    "paginationToken": page.next_token,
                    "payload": [t.public() for t in page.tasks]}

    def get_upload(self, key: ApiKey, team_id: str, project_id: str, upload_id: str) -> dict:
        with self._lock:
            self.settle()
            self._project(key, team_id, project_id)
            upload = self.records.uploads.get(upload_id)
            if upload is None or upload.project_id != project_id:
                raise errors.UploadNotFound(f"Upload {upload_id} was not found in project {project_id}.")
            return upload.public(self.records.tasks_of(upload.id))

    # -- actions (B5-B10) --
    def act(self, key: ApiKey, team_id: str, project_id: str, task_id: str, action: str) -> dict:
        with self._lock:
            now = self.settle()
            task = self.records.tasks[self._task(key, team_id, project_id, task_id).id]  # for writing
            upload = self.records.uploads.get(task.upload_id)
            lifecycle.apply(action, task, upload, self.records.projects.get(project_id), format_timestamp(now))
            if action == "complete":
                self.pipeline.completed(task, now)
            self.pipeline.upload_changed(upload, now)
            return task.public()

    def report(self, key: ApiKey, team_id: str, project_id: str, task_id: str,
               issues: list[dict], message: str | None, tracker_fails: bool = False) -> tuple[dict, list[dict]]:
        """Store the report; return the task and what failed outside (B10: 207 when not empty)."""
        with self._lock:
            stamp = format_timestamp(self.settle())
            task = self.records.tasks[self._task(key, team_id, project_id, task_id).id]  # for writing
            project = self.records.projects.get(project_id)
            lifecycle.apply("report", task, self.records.uploads.get(task.upload_id), project, stamp)
            task.reports.append(Report([dict(i) for i in issues], message, stamp))
            failures = [{"system": "issue_tracker",
                         "error": "The external issue tracker did not accept the report; "
                                  "it is stored and will not be sent again."}] if (
                project.issue_tracker_fails or tracker_fails) else []
            return task.public(), failures

    def create_upload(self, key: ApiKey, team_id: str, project_id: str, files: list[uploads.File],
                      name: str | None, meta: list[dict]) -> dict:
        with self._lock:
            now = self.settle()
            project = self._project(key, team_id, project_id)
            upload, tasks = uploads.build(project, files, name, meta, now, self.ids.new)
            self.records.uploads[upload.id] = upload
            for task in tasks:
                self.records.add_task(task)
                self.pipeline.task_created(task, now)
            return uploads.created_view(upload, files)

    # -- the control plane's changes (B12) --
    def move_clock(self, to: float | None = None, advance: float | None = None,
                   freeze: bool | None = None) -> None:
        """Set or advance, then freeze or unfreeze; what falls due applies at once (B9)."""
        with self._lock:
            if to is not None:
                self.clock.set(to)
            if advance:
                self.clock.advance(advance)
            if freeze is True:
                self.clock.freeze()
            elif freeze is False:
                self.clock.unfreeze()
            self.settle()

    def load(self, validate: Callable[[Records], Records]) -> dict[str, int]:
        """Add fixture records (over HTTP): `validate` checks them against this world, brought
        up to the clock first, and returns them on a layer; all under the lock, so concurrent
        loads neither lose records nor both add one id."""
        with self._lock:
            now = self.settle()
            layer = validate(self.records)
            self.records.merge(layer)
            added = layer.tasks.changed().values()
            for task in added:
                if task.status == PROCESSING:
                    self.pipeline.task_created(task, now)
            for upload_id in {t.upload_id for t in added} | set(layer.uploads.changed()):
                self.pipeline.upload_changed(self.records.uploads.get(upload_id), now)
            return {name: len(getattr(layer, name).changed())
                    for name in ("teams", "projects", "keys", "uploads", "tasks")}

    def force(self, task_id: str, status: str, step_type: str | None = None) -> dict:
        """Put a task in any status; its upload's invariants follow (B8): a non-final task
        makes the upload not fully processed, and a PROCESSING one settles as usual."""
        with self._lock:
            now = self.settle()
            if task_id not in self.records.tasks:
                raise errors.TaskNotFound(f"Task {task_id} was not found in this session.")
            steps = self.records.projects.get(self.records.tasks.get(task_id).project_id).steps
            if step_type is not None and step_type not in steps:
                raise errors.BadRequest(f"{step_type} is not a step of this task's project ({', '.join(steps)}).",
                                        [{"location": "body.step_type", "message": "not a step of the project"}])
            task = self.records.tasks[task_id]
            was = task.status
            if step_type is not None:
                task.step_type = step_type
            lifecycle.move(task, status)
            upload = self.records.uploads.get(task.upload_id)
            if upload.fully_processed and status not in FINAL_STATUSES:
                writable = self.records.uploads[upload.id]
                writable.fully_processed, writable.final_since = False, None
            if status == PROCESSING and was != PROCESSING:
                self.pipeline.task_created(task, now)
            self.pipeline.upload_changed(self.records.uploads.get(upload.id), now)
            return task.public()
