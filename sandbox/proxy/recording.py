"""A recording's fixture files: the answers held, and the placeholder records the API never shows."""
from __future__ import annotations

# The placeholders (docs/recording.md says the same to users):
# - a project is `<id> (recorded)`, its steps the step types its tasks were seen at (in the
#   pipeline's order; EXTRACT if none), automation none, no required entities, and processing
#   and export delays of 100 years, so nothing a recorded task or upload shows changes by itself;
# - a team is `<id> (recorded)`; without the request's path it is `team_recorded`;
# - a folder is a custom one named `Recorded <n>` (its role and name are never shown);
# - each team gets a key with every scope and all its projects: `RECORDED_KEY_FULL_ACCESS` for
#   the lowest team id, `RECORDED_KEY_FULL_ACCESS_<team id>` for any other;
# - an upload named by a task but never answered for itself is `unseen upload (recorded)`;
# - a task `task_unseen_<upload id>` stands for a task the recording never saw, where the
#   upload's answered status needs one (an IN_REVIEW upload whose recorded tasks are all final).

import re
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import orjson
import yaml

from sandbox import spec
from sandbox.domain.model import FINAL_STATUSES, PROCESSING, REVIEWING, upload_status

PLACEHOLDER_TEAM = "team_recorded"
KEY = "RECORDED_KEY_FULL_ACCESS"
FOREVER = 3155760000  # the fixture schema's most (100 years): a recording does not move on
STEPS = ("CLASSIFY", "SEGMENT", "GROUP", "EXTRACT")  # the pipeline's order, as the schema lists them
UNSEEN_UPLOAD = "unseen upload (recorded)"
UNSEEN_TASK = "unseen task (recorded)"
UPLOAD_FIELDS = ("id", "name", "files", "meta", "folder_id", "created_at")  # the Upload schema's, but status
JSON = orjson.OPT_SORT_KEYS  # one line a record: diffs a record at a time; sorted keys: the same answers, the same bytes

# The fixture schema's id patterns, searched as its validator does: an id outside them cannot be
# a fixture record, and a task or upload is no more recordable than its project.
_FIXTURE = yaml.load((spec.PACKAGE_DIR / "fixture_schema.yaml").read_text(encoding="utf-8"),
                     Loader=spec.SAFE_LOADER)
TEAM_ID, PROJECT_ID, FOLDER_ID = (re.compile(_FIXTURE[kind]["properties"]["id"]["pattern"])
                                  for kind in ("teams", "projects", "folders"))


class HeldTask(NamedTuple):
    """A task as last answered: its JSON, and what the placeholders are worked out from."""
    id: str
    body: bytes
    project_id: str
    upload_id: str
    status: str
    step_type: str
    created_at: str
    exported: bool  # exported_at or export_failed_at set: its upload was exported (B8)


class HeldUpload(NamedTuple):
    fields: dict  # UPLOAD_FIELDS as answered
    status: str   # as answered; a created upload is PROCESSING


def _steps(tasks: Iterable[HeldTask]) -> list[str]:
    seen = {t.step_type for t in tasks}
    return [s for s in STEPS if s in seen] or ["EXTRACT"]


@dataclass(frozen=True, slots=True)
class _Status:
    status: str


def _missing_status(answered: str, statuses: set[str]) -> str | None:
    """The status of the one unseen task that makes the upload's derived status the answered
    one, or None when none is needed or none would do (a recorded task contradicts it)."""
    if upload_status([_Status(s) for s in statuses]) == answered:
        return None
    if answered == "PROCESSING":
        return PROCESSING
    if answered == "IN_REVIEW" and PROCESSING not in statuses:
        return REVIEWING
    return None


def _unseen_task(upload: dict, project_id: str, status: str, step: str) -> dict:
    return {"id": f"task_unseen_{upload['id']}", "name": UNSEEN_TASK, "created_at": upload["created_at"],
            "meta": [], "status": status, "step_type": step, "upload_id": upload["id"], "project_id": project_id,
            "approved": False, "exported_at": None, "export_failed_at": None, "last_opened_at": None, "pages": []}


def build(tasks: dict[str, HeldTask], uploads: dict[str, HeldUpload], project_of: dict[str, str],
          team_of: dict[str, str], folders: dict[str, str], scopes: Iterable[str]) -> tuple[bytes, bytes]:
    """(world.yaml, tasks.yaml), written as JSON (which the fixture loader reads as YAML, and
    fastest). `project_of`: each upload's project, as an answer last named it; `team_of`: each
    project's team, as a request's path named it; `folders`: each folder's project, kept from one
    write to the next (a folder seen once exists upstream) and added to here."""
    by_upload: dict[str, list[HeldTask]] = {}
    for task in tasks.values():
        if project_of.get(task.upload_id) == task.project_id:  # else its upload is in another project
            by_upload.setdefault(task.upload_id, []).append(task)
    records: dict[str, tuple[dict, str, str | None]] = {}  # upload id -> (fields, project, answered status)
    for upload_id, held in uploads.items():
        if upload_id in project_of:  # else held back: no answer has named its project yet
            records[upload_id] = (held.fields, project_of[upload_id], held.status)
    for upload_id, seen in by_upload.items():
        if upload_id not in records:
            records[upload_id] = ({"id": upload_id, "name": UNSEEN_UPLOAD, "files": {}, "meta": [], "folder_id": None,
                                   "created_at": min(t.created_at for t in seen)}, project_of[upload_id], None)
    projects: dict[str, list[HeldTask]] = {p: [] for p in team_of}
    for upload_id, (_, project_id, _) in records.items():
        projects.setdefault(project_id, []).extend(by_upload.get(upload_id, ()))
    steps = {p: _steps(seen) for p, seen in projects.items()}
    tasks_file = _tasks_file(records, by_upload, steps, folders)  # first: it adds the folders the world lists
    return _world(steps, team_of, folders, scopes), tasks_file


def _tasks_file(records: dict, by_upload: dict[str, list[HeldTask]], steps: dict[str, list[str]],
                folders: dict[str, str]) -> bytes:
    task_rows = {t.id: t.body for seen in by_upload.values() for t in seen}
    upload_rows = []
    for upload_id in sorted(records):
        fields, project_id, answered = records[upload_id]
        statuses = {t.status for t in by_upload.get(upload_id, ())}
        missing = _missing_status(answered, statuses) if answered else None
        unseen = _unseen_task(fields, project_id, missing, steps[project_id][0]) if missing else None
        if unseen is not None and unseen["id"] not in task_rows:
            task_rows[unseen["id"]] = orjson.dumps(unseen, option=JSON)
            statuses.add(missing)
        row = {**fields, "project_id": project_id, "pinned": True}  # pinned: folder_id stays as answered (B15)
        if statuses and statuses <= FINAL_STATUSES and any(t.exported for t in by_upload.get(upload_id, ())):
            row["fully_processed"] = True  # exported: what the upstream refuses to unlock, the sandbox does too
        folder_id = fields["folder_id"]
        if folder_id is not None and not (FOLDER_ID.search(folder_id)
                                          and folders.setdefault(folder_id, project_id) == project_id):
            row["folder_id"] = None  # no fixture folder can hold it (docs/recording.md)
        upload_rows.append(orjson.dumps(row, option=JSON))
    listed = b",\n".join(task_rows[i] for i in sorted(task_rows))
    return b'{\n"uploads": [\n' + b",\n".join(upload_rows) + b'\n],\n"tasks": [\n' + listed + b"\n]\n}\n"


def _world(steps: dict[str, list[str]], team_of: dict[str, str], folders: dict[str, str],
           scopes: Iterable[str]) -> bytes:
    for project_id in folders.values():
        steps.setdefault(project_id, ["EXTRACT"])  # a folder's project, though no upload is in it now
    teams = {p: team_of.get(p, PLACEHOLDER_TEAM) for p in steps}
    team_ids = sorted(set(teams.values()) or {PLACEHOLDER_TEAM})
    named: dict[str, int] = {}
    folder_rows = []
    for folder_id in sorted(folders):
        project_id = folders[folder_id]
        named[project_id] = named.get(project_id, 0) + 1
        folder_rows.append({"id": folder_id, "project_id": project_id, "name": f"Recorded {named[project_id]}"})
    world = {
        "teams": [{"id": t, "name": f"{t} (recorded)"} for t in team_ids],
        "projects": [{"id": p, "team_id": teams[p], "name": f"{p} (recorded)", "steps": steps[p],
                      "automation": "none", "processing_delay": FOREVER, "export_delay": FOREVER}
                     for p in sorted(steps)],
        "folders": folder_rows,
        "keys": [{"key": KEY if i == 0 else f"{KEY}_{t}", "label": f"placeholder: every scope in {t}",
                  "team_id": t, "projects": sorted(p for p in steps if teams[p] == t),
                  "scopes": sorted(scopes)} for i, t in enumerate(team_ids)],
    }
    return orjson.dumps(world, option=orjson.OPT_INDENT_2) + b"\n"  # built in a fixed order: teams first
