"""`proxy --record DIR`: the upstream's answers, held by id and written as a fixture folder (docs/recording.md)."""
from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Mapping

import jsonschema_rs
import orjson

from sandbox import spec
from sandbox.fixtures import collector_paused
from sandbox.proxy import recording
from sandbox.proxy.recording import PROJECT_ID, TEAM_ID, UPLOAD_FIELDS, HeldTask, HeldUpload
from sandbox.schemas import plain_json_schema

log = logging.getLogger("sandbox")

TASK_ANSWERS = frozenset({"getTask", "unlockTask", "completeTask", "discardTask", "reportTask",
                          "approveTask", "disapproveTask"})  # each answers {"payload": task, ...}
UPLOAD_ANSWERS = frozenset({"getUpload", "moveUpload"})  # each answers {"payload": upload}
FILES = ("world.yaml", "tasks.yaml")  # world first: a reader between the two replaces sees more projects, not fewer


@functools.lru_cache(maxsize=None)
def _validator(name: str):
    """The contract's schema, as the fixture loader judges a record (jsonschema-rs, formats on):
    what passes here passes `check`, and a record failing it would make the whole folder fail."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec.load_public()["components"]}
    return jsonschema_rs.Draft4Validator(plain_json_schema(schema), validate_formats=True)


def _valid(name: str, value) -> bool:
    try:
        return isinstance(value, dict) and _validator(name).is_valid(value)
    except (ValueError, OverflowError):  # what Rust cannot take (an int past 64 bits) is no record
        return False


def _path_id(params, name: str, pattern) -> str | None:
    value = params.get(name) if isinstance(params, Mapping) else None
    return value if isinstance(value, str) and pattern.search(value) else None


class Recorder:
    """Holds the newest 2xx answer for each task and upload id (at most `max_records` of them)
    and writes them, with the placeholder records the fixture schema needs, to `directory`:
    from `observe` at most once per `every` seconds, and on `flush` and `close`. A recording
    starts afresh: it replaces the folder's world.yaml and tasks.yaml."""

    def __init__(self, directory: Path, *, max_records: int = 100_000, every: float = 1.0):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)  # a bad folder fails here, at start-up, not per answer
        self.max_records, self.every = max_records, every
        self._tasks: dict[str, HeldTask] = {}
        self._uploads: dict[str, HeldUpload] = {}
        self._project_of: dict[str, str] = {}  # upload id -> project id
        self._team_of: dict[str, str] = {}     # project id -> team id, from request paths
        self._folders: dict[str, str] = {}     # folder id -> project id, kept from write to write
        self._scopes = spec.load_public()["components"]["securitySchemes"]["bearerAuth"]["x-scopes"]
        for name in ("Task", "Upload", "UploadCreated"):
            _validator(name)  # compiled now, not on the first answer's request path
        self._changed = True  # even a recording of nothing is a folder `check` accepts
        self._last_write = time.monotonic()
        self._warned = self._closed = False
        self._lock = threading.Lock()  # the proxy may answer on several threads

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def observe(self, operation: str, status: int, payload: object, *,
                params: Mapping[str, str] | None = None) -> None:
        """One answer of the upstream, as parsed JSON (the whole body), for `operation` (an
        operationId of openapi.yaml). `params`, if the proxy has them, are the request's path
        parameters: their team_id and project_id name a project's team and an upload's project,
        which no body does. Only 2xx answers carry records; anything else, or anything malformed
        or unexpected, is ignored. Never raises."""
        try:
            if self._closed or isinstance(status, bool) or not isinstance(status, int) or not 200 <= status < 300:
                return
            with self._lock:
                self._take(operation, payload, params)
                if self._changed and time.monotonic() - self._last_write >= self.every:
                    self._write()
        except Exception:  # a bug here, or a full disk, must not fail the proxied request
            log.warning("recorder: an answer of %s was not recorded", operation, exc_info=True)

    def flush(self) -> None:
        """Writes the files now if anything changed (each atomically: temp file + os.replace)."""
        with self._lock:
            if self._changed:
                self._write()

    def close(self) -> None:
        """flush, and stop: later answers are ignored."""
        if not self._closed:
            self.flush()
            self._closed = True

    # -- taking answers --
    def _take(self, operation: str, payload, params) -> None:
        team, project = _path_id(params, "team_id", TEAM_ID), _path_id(params, "project_id", PROJECT_ID)
        body = payload.get("payload") if isinstance(payload, dict) else None
        if operation in TASK_ANSWERS:
            taken = self._task(body)
        elif operation == "listTasks":
            # an empty page still shows the project exists: it is recorded, with its team
            taken = isinstance(body, list) and (body == [] or sum(self._task(task) for task in body) > 0)
        elif operation in UPLOAD_ANSWERS:
            taken = self._upload(body, project)
        else:
            taken = operation == "createUpload" and self._created(payload)
        if taken and team and project and (project in self._team_of or len(self._team_of) < self.max_records):
            if self._team_of.get(project) != team:
                self._team_of[project] = team  # the upstream answered 2xx: the project is that team's
                self._changed = True

    def _room(self, ident: str, held: dict) -> bool:
        if ident in held or len(self._tasks) + len(self._uploads) < self.max_records:
            return True
        if not self._warned:
            self._warned = True
            log.warning("recorder: %d tasks and uploads held, the most it keeps (max_records); "
                        "answers about other ids are no longer recorded", self.max_records)
        return False

    def _task(self, task) -> bool:
        if not _valid("Task", task) or not PROJECT_ID.search(task["project_id"]) or not self._room(task["id"], self._tasks):
            return False
        self._tasks[task["id"]] = HeldTask(
            task["id"], orjson.dumps(task, option=recording.JSON), task["project_id"], task["upload_id"],
            task["status"], task["step_type"], task["created_at"],
            task["exported_at"] is not None or task["export_failed_at"] is not None)
        if task["upload_id"] in self._project_of or len(self._project_of) < self.max_records:
            self._project_of[task["upload_id"]] = task["project_id"]  # bounded too: a task may name any upload
        self._changed = True
        return True

    def _upload(self, upload, project: str | None) -> bool:
        if not _valid("Upload", upload) or not self._room(upload["id"], self._uploads):
            return False
        # a copy, through JSON: the caller's objects may change after the answer was observed
        fields = orjson.loads(orjson.dumps({k: upload[k] for k in UPLOAD_FIELDS}))
        self._uploads[upload["id"]] = HeldUpload(fields, upload["status"])
        if project is not None:
            self._project_of[upload["id"]] = project
        self._changed = True
        return True

    def _created(self, created) -> bool:
        """createUpload's answer names the project but not meta nor folder: they stay [] and null
        until a getUpload of the upload is observed."""
        if not _valid("UploadCreated", created) or not PROJECT_ID.search(created["projectId"]):
            return False
        ident = created["id"]
        if ident not in self._uploads:
            if not self._room(ident, self._uploads):
                return False
            self._uploads[ident] = HeldUpload({"id": ident, "name": created["name"], "files": {}, "meta": [],
                                               "folder_id": None, "created_at": created["createdAt"]}, "PROCESSING")
        self._project_of[ident] = created["projectId"]
        self._changed = True
        return True

    # -- writing --
    def _write(self) -> None:
        started = self._last_write = time.monotonic()  # first: a failing disk is retried once per `every`, not per answer
        # building the files makes a container per record and no cycles: the collector would rescan them
        with collector_paused(freeze=False):
            documents = recording.build(self._tasks, self._uploads, self._project_of, self._team_of,
                                        self._folders, self._scopes)
        for name, data in zip(FILES, documents):
            _replace(self.directory / name, data)
        self._changed = False
        # The answer whose observe writes waits for the write: ten times its length apart, writes
        # take at most a tenth of the proxy's time however many records are held (0.5 s at 100,000).
        self._last_write += max(0.0, 10 * (time.monotonic() - started) - self.every)


def _replace(path: Path, data: bytes) -> None:
    # not *.yaml while half-written: the loader globs *.yaml. No fsync: a recording is
    # rewritten every second, and os.replace already keeps readers from a torn file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the recording from a server run as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
