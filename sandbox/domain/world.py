"""The stateful world: seeded records, tenancy checks and every task action, under one lock."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sandbox import errors
from sandbox.domain import lifecycle, listing, uploads
from sandbox.domain.clock import Clock, IdSource
from sandbox.domain.model import ApiKey, Project, Report, Task, Team, Upload
from sandbox.domain.pipeline import Pipeline


@dataclass
class Records:
    """Everything fixtures define, keyed by id (keys by their secret value)."""
    teams: dict[str, Team] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    by_upload: dict[str, list[str]] = field(default_factory=dict)

    def add_task(self, task: Task) -> None:
        self.tasks[task.id] = task
        self.by_upload.setdefault(task.upload_id, []).append(task.id)

    def tasks_of(self, upload_id: str) -> list[Task]:
        return [self.tasks[i] for i in self.by_upload.get(upload_id, ())]


class World:
    """One lock around every read and change: FlaskApp runs handlers on a thread pool, and
    two concurrent actions on one task must produce exactly one success (B5). Every entry
    first applies the transitions that fell due since the last one (B9)."""

    def __init__(self, records: Records, clock: Clock | None = None, ids: IdSource | None = None):
        self.records = records
        self.clock = clock or Clock()
        self.ids = ids or IdSource()
        self.pipeline = Pipeline(records, self.ids.new)
        self._lock = threading.RLock()
        self.pipeline.start(self.clock.now())

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
            tasks = [t for t in self.records.tasks.values() if t.project_id == project_id]
            page = listing.paginate(tasks, limit, token, upload_id=upload_id,
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
            task = self._task(key, team_id, project_id, task_id)
            upload = self.records.uploads[task.upload_id]
            lifecycle.apply(action, task, upload, self.records.projects[project_id], self.clock.now_iso())
            if action == "complete":
                self.pipeline.completed(task, now)
            self.pipeline.upload_changed(upload, now)
            return task.public()

    def report(self, key: ApiKey, team_id: str, project_id: str, task_id: str,
               issues: list[dict], message: str | None) -> tuple[dict, list[dict]]:
        """Store the report; return the task and what failed outside (B10: 207 when not empty)."""
        with self._lock:
            self.settle()
            task = self._task(key, team_id, project_id, task_id)
            project = self.records.projects[project_id]
            lifecycle.apply("report", task, self.records.uploads[task.upload_id], project, self.clock.now_iso())
            task.reports.append(Report([dict(i) for i in issues], message, self.clock.now_iso()))
            failures = [{"system": "issue_tracker",
                         "error": "The external issue tracker did not accept the report; "
                                  "it is stored and will not be sent again."}] if project.issue_tracker_fails else []
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
