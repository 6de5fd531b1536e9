"""The task API's rules over one session's unit of work: tenancy checks, reads and every action.
Each function first applies the transitions that fell due since the last unit (B9)."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from sandbox import errors
from sandbox.domain import folders, lifecycle, listing, uploads
from sandbox.domain.clock import format_timestamp
from sandbox.domain.model import (
    FINAL_STATUSES, PROCESSING, ApiKey, Project, Report, Task, Upload, freeze, upload_status,
)
from sandbox.domain.pipeline import Pipeline
from sandbox.domain.records import FIXTURE_KINDS


def settle(tx) -> float:
    """Apply everything due by now. Returns now."""
    now = tx.now()
    Pipeline(tx).run_until(now)
    return now


# -- auth and tenancy (B3, B4) --
def _project(tx, key: ApiKey, team_id: str, project_id: str) -> Project:
    # Another team answers exactly as a team that does not exist (B4).
    if team_id != key.team_id or tx.get("teams", team_id) is None:
        raise errors.TeamNotFound(f"Team {team_id} was not found.")
    project = tx.project(project_id)
    if project is None or project.team_id != team_id:
        raise errors.ProjectNotFound(f"Project {project_id} was not found in team {team_id}.")
    if project_id not in key.projects:
        raise errors.ProjectNotGranted(
            f"The API key is not attached to project {project_id}; attach it to the project first.")
    return project


def _task(tx, key: ApiKey, team_id: str, project_id: str, task_id: str) -> Task:
    _project(tx, key, team_id, project_id)
    task = tx.task(task_id)
    if task is None or task.project_id != project_id:
        raise errors.TaskNotFound(f"Task {task_id} was not found in project {project_id}.")
    return task


# -- reads --
def get_task(tx, key: ApiKey, team_id: str, project_id: str, task_id: str) -> dict:
    settle(tx)
    return _task(tx, key, team_id, project_id, task_id).public()


def list_tasks(tx, key: ApiKey, team_id: str, project_id: str, *, limit: int, token: str | None = None,
               upload_id: str | None = None, status: str | None = None, step_type: str | None = None) -> dict:
    settle(tx)
    _project(tx, key, team_id, project_id)
    page = listing.paginate(tx.tasks(), project_id, limit, token, upload_id=upload_id,
                            status=status, step_type=step_type)
    return {"count": page.count, "more": page.next_token is not None, "paginationToken": page.next_token,
            "payload": [t.public() for t in page.tasks]}


def _upload(tx, key: ApiKey, team_id: str, project_id: str, upload_id: str) -> Upload:
    _project(tx, key, team_id, project_id)
    upload = tx.upload(upload_id)
    if upload is None or upload.project_id != project_id:
        raise errors.UploadNotFound(f"Upload {upload_id} was not found in project {project_id}.")
    return upload


def get_upload(tx, key: ApiKey, team_id: str, project_id: str, upload_id: str) -> dict:
    settle(tx)
    upload = _upload(tx, key, team_id, project_id, upload_id)
    return upload.public(tx.tasks_of(upload.id))


def move_upload(tx, key: ApiKey, team_id: str, project_id: str, upload_id: str, folder_id: str,
                named: str | None = None) -> dict:
    """B15: `named` is the upload_id a body may carry; it must be this upload's."""
    settle(tx)
    upload = _upload(tx, key, team_id, project_id, upload_id)
    folder = folders.find(tx, upload, folder_id)  # what is not there is a 404 before anything else
    if named is not None and named != upload_id:
        raise errors.UploadIdMismatch(
            f"The body names upload {named}, the path {upload_id}; send no body, or the same id.",
            [{"location": "body.upload_id", "message": f"not {upload_id}"}])
    return folders.move(tx, upload, folder).public(tx.tasks_of(upload_id))


# -- actions (B5-B10) --
def act(tx, key: ApiKey, team_id: str, project_id: str, task_id: str, action: str) -> dict:
    now = settle(tx)
    task = _task(tx, key, team_id, project_id, task_id)
    task = lifecycle.apply(action, task, tx.upload(task.upload_id), tx.project(project_id), format_timestamp(now))
    tx.put("tasks", task.id, task)
    pipeline = Pipeline(tx)
    if action == "complete":
        pipeline.completed(task, now)
    pipeline.upload_changed(task.upload_id, now)
    return task.public()


MAX_REPORTS = 50  # a task's reports: each may be as large as a request body


def report(tx, key: ApiKey, team_id: str, project_id: str, task_id: str, issues: list[dict],
           message: str | None, tracker_fails: bool = False) -> tuple[dict, list[dict]]:
    """Store the report; return the task and what failed outside (B10: 207 when not empty)."""
    stamp = format_timestamp(settle(tx))
    task = _task(tx, key, team_id, project_id, task_id)
    project = tx.project(project_id)
    task = lifecycle.apply("report", task, tx.upload(task.upload_id), project, stamp)
    if len(task.reports) >= MAX_REPORTS:
        raise errors.SessionFull(f"A task holds at most {MAX_REPORTS} reports in the sandbox; reset the session "
                                 "to report on it again.")
    task = replace(task, reports=(*task.reports, Report(freeze(issues), message, stamp)))
    tx.put("tasks", task.id, task)
    failures = [{"system": "issue_tracker",
                 "error": "The external issue tracker did not accept the report; "
                          "it is stored and will not be sent again."}] if (
        project.issue_tracker_fails or tracker_fails) else []
    return task.public(), failures


def create_upload(tx, key: ApiKey, team_id: str, project_id: str, files: list[uploads.File],
                  name: str | None, meta: list[dict]) -> dict:
    now = settle(tx)
    project = _project(tx, key, team_id, project_id)
    inbox = folders.of_role(tx.folders_of(project_id), project_id, folders.INBOX)
    upload, tasks = uploads.build(project, files, name, meta, now, tx.new_id, inbox.id if inbox else None)
    tx.put("uploads", upload.id, upload)
    pipeline = Pipeline(tx)
    for task in tasks:
        tx.add_task(task)
        pipeline.task_created(task, now)
    return uploads.created_view(upload, files)


# -- the control plane's changes (B12) --
def move_clock(tx, to: float | None = None, advance: float | None = None, freeze: bool | None = None) -> None:
    """Set or advance, then freeze or unfreeze; what falls due applies at once (B9)."""
    settle(tx)  # what fell due before the move applies at its own time
    if to is not None:
        tx.clock.set(to)
    if advance:
        tx.clock.advance(advance)
    if freeze is True:
        tx.clock.freeze()
    elif freeze is False:
        tx.clock.unfreeze()
    tx.clock_changed()
    settle(tx)


def load(tx, validate: Callable) -> dict[str, int]:
    """Add fixture records (over HTTP): `validate(tx)` checks them against this session, brought
    up to the clock first, and returns them as a Records layer."""
    now = settle(tx)
    layer = validate(tx)
    pipeline = Pipeline(tx)
    for kind in ("teams", "projects", "folders", "keys", "uploads", "subscriptions"):
        for ident, record in getattr(layer, kind).changed().items():
            tx.put(kind, ident, record)
    added = list(layer.tasks.changed().values())
    for task in added:
        tx.add_task(task)
    for upload_id, upload in layer.uploads.changed().items():  # as loaded: nothing to tell yet (B14)
        status = upload_status(tx.tasks_of(upload_id))
        tx.put("uploads", upload_id, folders.filed(replace(upload, notified_status=status), status,
                                                   tx.folders_of(upload.project_id)))
    for task in added:
        if task.status == PROCESSING:
            pipeline.task_created(task, now)
    for upload_id in {t.upload_id for t in added} | set(layer.uploads.changed()):
        pipeline.upload_changed(upload_id, now)
    return {kind: len(getattr(layer, kind).changed()) for kind in FIXTURE_KINDS}


def force(tx, task_id: str, status: str, step_type: str | None = None) -> dict:
    """Put a task in any status; its upload's invariants follow (B8): a non-final task
    makes the upload not fully processed, and a PROCESSING one settles as usual."""
    now = settle(tx)
    task = tx.task(task_id)
    if task is None:
        raise errors.TaskNotFound(f"Task {task_id} was not found in this session.")
    steps = tx.project(task.project_id).steps
    if step_type is not None and step_type not in steps:
        raise errors.BadRequest(f"{step_type} is not a step of this task's project ({', '.join(steps)}).",
                                [{"location": "body.step_type", "message": "not a step of the project"}])
    was = task.status
    task = lifecycle.move(task, status, **({"step_type": step_type} if step_type is not None else {}))
    tx.put("tasks", task_id, task)
    upload = tx.upload(task.upload_id)
    if upload.fully_processed and status not in FINAL_STATUSES:
        tx.put("uploads", upload.id, replace(upload, fully_processed=False, final_since=None))
    pipeline = Pipeline(tx)
    if status == PROCESSING and was != PROCESSING:
        pipeline.task_created(task, now)
    pipeline.upload_changed(upload.id, now)
    return task.public()


def describe(tx, team: str | None = None) -> dict:
    """The session's teams, projects and keys, sorted by id (the control plane's GET /world);
    `team`: only that team's, for a team's own view, which must never show another team's keys."""
    def mine(record, field: str = "team_id") -> bool:
        return team is None or getattr(record, field) == team
    teams = sorted((t for t in tx.values("teams") if mine(t, "id")), key=lambda t: t.id)
    projects = sorted((p for p in tx.values("projects") if mine(p)), key=lambda p: p.id)
    keys = sorted((k for k in tx.values("keys") if mine(k)), key=lambda k: (k.team_id, k.key))
    return {"teams": [{"id": t.id, "name": t.name} for t in teams],
            "projects": [{"id": p.id, "team_id": p.team_id, "name": p.name, "steps": list(p.steps),
                          "automation": p.automation} for p in projects],
            "keys": [{"key": k.key, "label": k.label, "team_id": k.team_id, "projects": sorted(k.projects),
                      "scopes": sorted(k.scopes)} for k in keys]}
