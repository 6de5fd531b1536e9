"""Loads `fixtures/*.yaml` into the world's records, validating each record against the spec (B13)."""
from __future__ import annotations

import contextlib
import dataclasses
import gc
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import orjson
import yaml
from jsonschema import Draft4Validator, FormatChecker
from openapi_schema_validator import OAS30Validator

from sandbox import errors, spec as spec_module
from sandbox.domain.model import (
    APPROVED, DISAPPROVED, FINAL_STATUSES, ApiKey, Project, Task, Team, Upload, freeze,
)
from sandbox.domain.events import TYPES, Subscription, secret_problem
from sandbox.domain.records import FIXTURE_KINDS, Records
from sandbox.schemas import Compiled

PUBLIC_SCHEMA = {"uploads": "Upload", "tasks": "Task"}
TASK_SCHEMA = {"$ref": "#/components/schemas/Task"}      # module constants: validators are
UPLOAD_SCHEMA = {"$ref": "#/components/schemas/Upload"}  # compiled once per schema object
TASK_DEFAULTS = {"meta": [], "step_type": "EXTRACT", "approved": False, "exported_at": None,
                 "export_failed_at": None, "last_opened_at": None, "pages": []}
PROJECT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Project)}
_SCHEMAS = yaml.safe_load((Path(__file__).parent / "fixture_schema.yaml").read_text())


FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    """The spec's pattern fixes the shape; this catches 2024-99-99 (no extra package needed)."""
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _parse(text: str):
    """JSON is YAML, and parses far faster (orjson: 100,000 tasks in under a second), so a
    generated world is best written as JSON."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # YAML's flow style looks like JSON too
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def default_dir() -> Path:
    return spec_module.resource_path("fixtures")


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


class _Checker:
    def __init__(self, openapi: dict):
        self.components = {"components": openapi["components"]}
        self.scopes = set(openapi["components"]["securitySchemes"]["bearerAuth"]["x-scopes"])
        self.problems: list[str] = []
        self.details: list[dict] = []  # the same problems, located for an HTTP answer
        self.origins: dict[tuple[int, str], str] = {}
        self._compiled: dict[tuple[int, bool], Compiled] = {}

    def fail(self, file: str, record: str, field: str, message: str) -> None:
        self.problems.append(f"{file}: {record}: field {field}: {message}")
        where = record.split(" ")[0] + ("" if field == "(record)" else f".{field}")
        self.details.append({"location": f"body.{where}", "message": message})

    def fail_document(self, file: str, message: str) -> None:
        self.problems.append(f"{file}: {message}")
        self.details.append({"location": "body", "message": message})

    def _validator(self, schema: dict, oas: bool) -> Compiled:
        """Compiled once per schema: a generated world holds 100,000 tasks."""
        key = (id(schema), oas)
        if key not in self._compiled:
            full = {**schema, **self.components}
            explain = (OAS30Validator if oas else Draft4Validator)(full, format_checker=FORMATS)
            self._compiled[key] = Compiled(full, explain, resolved=False)
        return self._compiled[key]

    def validate(self, schema: dict, value: Any, file: str, record: str, oas: bool) -> bool:
        found = list(self._validator(schema, oas).iter_errors(value))
        if not found:  # the common case, 100,000 times in a generated world
            return True
        found.sort(key=lambda e: list(map(str, e.absolute_path)))
        for err in found:
            where = list(err.absolute_path)
            if err.validator == "additionalProperties":  # name the unknown field itself
                for name in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                    self.fail(file, record, _where([*where, name]), "unknown field")
                continue
            self.fail(file, record, _where(where), err.message)
        return not found


def _documents(files: list[Path], checker: _Checker) -> list[tuple[str, Any]]:
    docs = []
    for path in files:
        try:
            docs.append((path.name, _parse(path.read_text(encoding="utf-8")) or {}))
        except UnicodeDecodeError as exc:
            checker.fail_document(path.name, f"not UTF-8 text: {exc}")
        except yaml.YAMLError as exc:
            checker.fail_document(path.name, f"not valid YAML: {exc}")
    return docs


def _records(docs: list[tuple[str, Any]], checker: _Checker) -> Iterator[tuple[str, str, str, dict]]:
    """Yield (kind, file, record label, record) in FIXTURE_KINDS order, so references resolve."""
    valid = []
    for name, doc in docs:
        if not isinstance(doc, dict):
            checker.fail_document(name, f"top level must be a mapping of {', '.join(FIXTURE_KINDS)}")
            continue
        for unknown in sorted(set(doc) - set(FIXTURE_KINDS), key=str):
            checker.fail_document(name, f"unknown top-level key {unknown!r}; expected {', '.join(FIXTURE_KINDS)}")
        valid.append((name, doc))
    for kind in FIXTURE_KINDS:
        for name, doc in valid:
            records = doc.get(kind) or []
            if not isinstance(records, list):
                checker.fail_document(name, f"{kind} must be a list")
                continue
            for i, rec in enumerate(records):
                ident = (rec.get("id") or rec.get("key")) if isinstance(rec, dict) else None
                label = f"{kind}[{i}]" + (f" ({ident})" if isinstance(ident, str) else "")
                if not isinstance(rec, dict):
                    checker.fail(name, label, "(record)", "must be a mapping")
                    continue
                yield kind, name, label, rec


def _load(docs, records: Records, checker: _Checker) -> Records:
    for kind, file, label, rec in _records(docs, checker):
        _add(kind, file, label, dict(rec), records, checker)  # shallow: nested values are never changed in place
    return records


@contextlib.contextmanager
def _collector_paused():
    """Loading makes millions of containers and no cycles; left on, the cyclic garbage
    collector rescans them again and again (a 100,000-task world: 7 s instead of 2)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()  # what was loaded stays for the process's life: keep it out of later scans


def fixture_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_records(directory: Path | str | None = None, openapi: dict | None = None,
                 files: list[Path] | None = None) -> Records:
    """Build records from every `*.yaml` in `directory` (or from `files`); raise FixtureError
    naming each bad record's file, record and field."""
    directory = Path(directory) if directory else default_dir()
    files = fixture_files(directory) if files is None else files
    if not files:
        raise errors.FixtureError(f"{directory}: no fixture files (*.yaml) found")
    checker = _Checker(openapi or spec_module.load_public())
    with _collector_paused():
        records = _load(_documents(files, checker), Records(), checker)
    if checker.problems:
        raise errors.FixtureError("invalid fixtures in %s:\n  %s" % (directory, "\n  ".join(checker.problems)))
    return records


def load_into(tx, document: Any, openapi: dict | None = None) -> Records:
    """Validate `document` (one fixture file's content) exactly as files are, against and on
    top of a session's unit of work; return a layer holding the additions, or raise
    errors.InvalidFixture."""
    checker = _Checker(openapi or spec_module.load_public())
    layer = _load([("request body", document)], Records(_Base.of(tx), tx.task_ids_of), checker)
    if checker.problems:
        raise errors.InvalidFixture("Invalid fixture records: " + "; ".join(checker.problems[:3])
                                    + ("; ..." if len(checker.problems) > 3 else ""), checker.details)
    return layer


class _Base:
    """One kind of a unit of work's records, as the read-only mapping a Table reads through."""

    def __init__(self, tx, kind: str):
        self.tx, self.kind = tx, kind

    @classmethod
    def of(cls, tx):
        return lambda kind: cls(tx, kind)

    def get(self, key, default=None):
        found = self.tx.get(self.kind, key)
        return default if found is None else found

    def __bool__(self) -> bool:
        return True


def _duplicate(table, ident: str, checker: _Checker, file: str, label: str, field: str) -> bool:
    if ident in table:
        first = checker.origins.get((id(table), ident))
        checker.fail(file, label, field, f"duplicate {ident!r}, " + (
            f"first defined at {first}" if first else "already in the world"))
        return True
    checker.origins[(id(table), ident)] = f"{file}: {label}"
    return False


def _add(kind: str, file: str, label: str, rec: dict, records: Records, checker: _Checker) -> None:
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
    elif kind == "keys":
        _add_key(file, label, rec, records, checker)
    elif kind == "subscriptions":
        if rec["project_id"] not in records.projects:
            return checker.fail(file, label, "project_id", f"no project {rec['project_id']!r}")
        if (problem := secret_problem(rec["secret"])) is not None:
            return checker.fail(file, label, "secret", problem)
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


def _add_key(file: str, label: str, rec: dict, records: Records, checker: _Checker) -> None:
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


def _add_upload(file, label, rec, extras, records: Records, checker: _Checker) -> None:
    if "status" in rec:
        return checker.fail(file, label, "status", "is derived from the upload's tasks (B8); leave it out")
    public = {"files": {}, "meta": [], "folder_id": None, **rec, "status": "PROCESSING"}
    if not checker.validate(UPLOAD_SCHEMA, public, file, label, oas=True):
        return
    if extras["project_id"] not in records.projects:
        return checker.fail(file, label, "project_id", f"no project {extras['project_id']!r}")
    if not _duplicate(records.uploads, public["id"], checker, file, label, "id"):
        records.uploads[public["id"]] = Upload(
            public["id"], extras["project_id"], public["name"], freeze(public["files"]), freeze(public["meta"]),
            public["folder_id"], public["created_at"], extras.get("fully_processed", False))


def _add_task(file, label, rec, extras, records: Records, checker: _Checker) -> None:
    upload_id = rec.get("upload_id")
    upload = records.uploads.get(upload_id) if isinstance(upload_id, str) else None
    if upload is None:  # checked first: the task's project_id default comes from its upload
        return checker.fail(file, label, "upload_id", f"no upload {upload_id!r}")
    public = {**TASK_DEFAULTS, "project_id": upload.project_id, **rec}
    if not checker.validate(TASK_SCHEMA, public, file, label, oas=True):
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
