"""How each kind of fixture record becomes a record of the world, with the checks that need
the records loaded before it (references, duplicates, folders of a project) (B13, B15)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from sandbox.domain import folders as folder_rules
from sandbox.domain.events import TYPES, Subscription, secret_problem, url_problem
from sandbox.domain.model import (
    APPROVED, DISAPPROVED, FINAL_STATUSES, ApiKey, Folder, Project, Task, Team, Upload, freeze,
)
from sandbox.domain.records import Records
from sandbox.spec import SAFE_LOADER

PUBLIC_SCHEMA = {"uploads": "Upload", "tasks": "Task"}
TASK_SCHEMA = {"$ref": "#/components/schemas/Task"}      # module constants: validators are
UPLOAD_SCHEMA = {"$ref": "#/components/schemas/Upload"}  # compiled once per schema object
TASK_DEFAULTS = {"meta": [], "step_type": "EXTRACT", "approved": False, "exported_at": None,
                 "export_failed_at": None, "last_opened_at": None, "pages": []}
PROJECT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Project)}
_SCHEMAS = yaml.load((Path(__file__).parent / "fixture_schema.yaml").read_text(), Loader=SAFE_LOADER)


def _folders_of(records: Records, project_id: str) -> list[Folder]:
    """A project's folders: this layer's, and (for fixtures loaded over HTTP) the session's."""
    base = records.folders._base
    known = list(base.values()) if hasattr(base, "values") else []
    return [f for f in [*known, *records.folders.changed().values()] if f.project_id == project_id]


def add_default_folders(records: Records) -> bool:
    for project_id in records.projects.changed():
        named = {f.role: f for f in _folders_of(records, project_id)}
        for folder in folder_rules.defaults_for(project_id, named, lambda ident: ident in records.folders):
            records.folders[folder.id] = folder
    return True


def _add_folder(file: str, label: str, rec: dict, records: Records, checker) -> None:
    project_id, role = rec["project_id"], rec.get("role", folder_rules.CUSTOM)
    if project_id not in records.projects:
        return checker.fail(file, label, "project_id", f"no project {project_id!r}")
    name = rec.get("name") or folder_rules.DEFAULTS.get(role)
    if name is None:
        return checker.fail(file, label, "name", "a custom folder needs a name (2-15 characters)")
    if role == folder_rules.CUSTOM and name.casefold() in {n.casefold() for n in folder_rules.DEFAULTS.values()}:
        return checker.fail(file, label, "name", f"{name!r} is a default folder's name; give its role instead")
    for other in _folders_of(records, project_id):
        if role != folder_rules.CUSTOM and other.role == role:
            return checker.fail(file, label, "role", f"{project_id} has its {role} folder already ({other.id})")
        if other.name.casefold() == name.casefold():
            return checker.fail(file, label, "name", f"{project_id} has a folder named {other.name!r} already")
    if not _duplicate(records.folders, rec["id"], checker, file, label, "id"):
        records.folders[rec["id"]] = Folder(rec["id"], project_id, name, role)


def _duplicate(table, ident: str, checker, file: str, label: str, field: str) -> bool:
    if (file, label) in checker.flagged:  # a duplicate within the load: said once already
        return True
    if ident in table:
        first = checker.origins.get((id(table), ident))
        checker.fail(file, label, field, f"duplicate {ident!r}, " + (
            f"first defined at {first}" if first else "already in the world"))
        return True
    checker.origins[(id(table), ident)] = f"{file}: {label}"
    return False


def add(kind: str, file: str, label: str, rec: dict, records: Records, checker) -> None:
    if kind in PUBLIC_SCHEMA:
        extras_schema = _SCHEMAS[kind]
        extras = {k: rec.pop(k) for k in list(rec) if k in extras_schema["properties"]}
        if not checker.validate(extras_schema, extras, file, label, oas=False):
            return
        return (_add_upload if kind == "uploads" else _add_task)(file, label, rec, extras, records, checker)
    if not checker.validate(_SCHEMAS[kind], rec, file, label, oas=False):
        return
    if kind == "teams":
        if not _duplicate(records.teams, rec["id"], checker, file, label, "id"):
            records.teams[rec["id"]] = Team(rec["id"], rec["name"])
    elif kind == "projects":
        if rec["team_id"] not in records.teams:
            return checker.fail(file, label, "team_id", f"no team {rec['team_id']!r}")
        if not _duplicate(records.projects, rec["id"], checker, file, label, "id"):
            records.projects[rec["id"]] = _project(rec)
    elif kind == "folders":
        _add_folder(file, label, rec, records, checker)
    elif kind == "keys":
        _add_key(file, label, rec, records, checker)
    elif kind == "subscriptions":
        if rec["project_id"] not in records.projects:
            return checker.fail(file, label, "project_id", f"no project {rec['project_id']!r}")
        if (problem := secret_problem(rec["secret"])) is not None:
            return checker.fail(file, label, "secret", problem)
        if (problem := url_problem(rec["url"])) is not None:
            return checker.fail(file, label, "url", problem)
        if not _duplicate(records.subscriptions, rec["id"], checker, file, label, "id"):
            records.subscriptions[rec["id"]] = Subscription(
                rec["id"], rec["project_id"], rec["url"], tuple(rec.get("events", TYPES)), rec["secret"],
                rec.get("enabled", True), description=rec.get("description", ""))


def _project(rec: dict) -> Project:
    return Project(
        rec["id"], rec["team_id"], rec["name"], steps=tuple(rec.get("steps", ["EXTRACT"])),
        processing_delay=rec.get("processing_delay", PROJECT_DEFAULTS["processing_delay"]),
        automation=rec.get("automation", PROJECT_DEFAULTS["automation"]),
        required_entities=tuple(rec.get("required_entities", [])),
        export_delay=rec.get("export_delay", PROJECT_DEFAULTS["export_delay"]),
        export_fails=rec.get("export_connector", "ok") == "failing",
        issue_tracker_fails=rec.get("issue_tracker", "ok") == "failing")


def _add_key(file: str, label: str, rec: dict, records: Records, checker) -> None:
    if rec["team_id"] not in records.teams:
        return checker.fail(file, label, "team_id", f"no team {rec['team_id']!r}")
    for i, project_id in enumerate(rec.get("projects", [])):
        project = records.projects.get(project_id)
        if project is None or project.team_id != rec["team_id"]:
            return checker.fail(file, label, f"projects[{i}]", f"no project {project_id!r} in team {rec['team_id']}")
    for i, scope in enumerate(rec["scopes"]):
        if scope not in checker.scopes:
            return checker.fail(file, label, f"scopes[{i}]", f"unknown scope {scope!r}; known: {', '.join(sorted(checker.scopes))}")
    if not _duplicate(records.keys, rec["key"], checker, file, label, "key"):
        records.keys[rec["key"]] = ApiKey(rec["key"], rec["team_id"], frozenset(rec.get("projects", [])),
                                          frozenset(rec["scopes"]), rec.get("label", ""))


def _add_upload(file, label, rec, extras, records: Records, checker) -> None:
    # every problem of the record at once: each check below says its own and the next still runs
    derived = "status" in rec
    if derived:
        checker.fail(file, label, "status", "is derived from the upload's tasks (B8); leave it out")
    public = {"files": {}, "meta": [], "folder_id": None, **rec, "status": "PROCESSING"}
    valid = checker.validate(UPLOAD_SCHEMA, public, file, label, oas=True)
    known = extras.get("project_id") in records.projects
    if not known:
        checker.fail(file, label, "project_id", f"no project {extras.get('project_id')!r}")
    if derived or not valid or not known:
        return
    folder = records.folders.get(public["folder_id"]) if public["folder_id"] is not None else None
    if public["folder_id"] is not None and (folder is None or folder.project_id != extras["project_id"]):
        return checker.fail(file, label, "folder_id", f"no folder {public['folder_id']!r} in {extras['project_id']} "
                                                      "(leave it out, and the upload is filed by its status)")
    if not _duplicate(records.uploads, public["id"], checker, file, label, "id"):
        records.uploads[public["id"]] = Upload(
            public["id"], extras["project_id"], public["name"], freeze(public["files"]), freeze(public["meta"]),
            public["folder_id"], public["created_at"], extras.get("fully_processed", False),
            pinned=extras.get("pinned", False))


def _add_task(file, label, rec, extras, records: Records, checker) -> None:
    upload_id = rec.get("upload_id")
    upload = records.uploads.get(upload_id) if isinstance(upload_id, str) else None
    if upload is None:  # still checked against the schema below: every problem of the record at once
        checker.fail(file, label, "upload_id", "missing: a task names its upload" if upload_id is None
                     else f"no upload {upload_id!r}")
    # the task's project_id default comes from its upload; without one, a stand-in the schema accepts
    public = {**TASK_DEFAULTS, "project_id": upload.project_id if upload else "proj_000000",
              **({k: v for k, v in rec.items() if k != "upload_id"} if upload is None else rec),
              **({"upload_id": "upl_000000000"} if upload is None else {})}
    if not checker.validate(TASK_SCHEMA, public, file, label, oas=True) or upload is None:
        return
    if public["project_id"] != upload.project_id:
        return checker.fail(file, label, "project_id", f"upload {upload.id} belongs to {upload.project_id}")
    steps = records.projects.get(upload.project_id).steps
    if public["step_type"] not in steps:
        return checker.fail(file, label, "step_type",
                            f"{public['step_type']} is not a step of {upload.project_id} ({', '.join(steps)})")
    if upload.fully_processed and public["status"] not in FINAL_STATUSES:
        return checker.fail(file, label, "status", f"upload {upload.id} is fully_processed, so its tasks "
                                                   f"are final, not {public['status']} (B8)")
    if public["approved"] and extras.get("disapproved"):
        return checker.fail(file, label, "disapproved", "a task cannot be approved and disapproved")
    approval = APPROVED if public["approved"] else (DISAPPROVED if extras.get("disapproved") else None)
    if not _duplicate(records.tasks, public["id"], checker, file, label, "id"):
        records.add_task(Task(
            public["id"], public["name"], public["created_at"], freeze(public["meta"]), public["status"],
            public["step_type"], public["upload_id"], public["project_id"], approval,
            public["exported_at"], public["export_failed_at"], public["last_opened_at"], freeze(public["pages"]),
            outcome=extras.get("outcome")))
