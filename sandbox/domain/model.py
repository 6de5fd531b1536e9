"""Records of the seeded world (teams, projects, keys, uploads, tasks), read-only, and their public shapes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROCESSING, REVIEWING, COMPLETED = "PROCESSING", "REVIEWING", "COMPLETED"
FAILED, DISCARDED, FILTERED = "FAILED", "DISCARDED", "FILTERED"
TASK_STATUSES = (PROCESSING, REVIEWING, COMPLETED, FAILED, DISCARDED, FILTERED)
FINAL_STATUSES = frozenset({COMPLETED, DISCARDED, FILTERED, FAILED})



class FrozenDict(dict):
    """A JSON object nobody can change in place: records share their nested values with every
    session that reads them, so a reader's slip must fail instead of changing them all."""
    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("records are read-only; build a new value and put it")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _refuse

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


def freeze(value):
    """JSON values (as parsed) with every list a tuple and every object a FrozenDict."""
    if isinstance(value, dict):
        return value if type(value) is FrozenDict else FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def evolve(record, **changes):
    """`dataclasses.replace` for these records, without its per-call introspection: a unit of
    work replaces a task or an upload on every action, and replace() cost more than the rule."""
    new = object.__new__(type(record))
    for name in type(record).__slots__:
        object.__setattr__(new, name, changes.pop(name) if name in changes else getattr(record, name))
    if changes:
        raise TypeError(f"{type(record).__name__} has no field {', '.join(changes)}")
    return new


# Approval is three-valued because upstream refuses a second approve and a second
# disapprove separately, while a fresh task (approved: false) may still be disapproved.
APPROVED, DISAPPROVED = "approved", "disapproved"
SESSION_START = -1.0


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Project:
    """A project and how it runs its tasks over time (B6-B8, B10)."""
    id: str
    team_id: str
    name: str
    steps: tuple[str, ...] = ("EXTRACT",)
    processing_delay: float = 30.0       # seconds from complete to the next step (B6)
    automation: str = "none"             # none | auto_predict | auto_process (B6)
    required_entities: tuple[str, ...] = ()  # what completing at EXTRACT requires (B7)
    export_delay: float = 300.0          # seconds from an upload turning final to its export (B8)
    export_fails: bool = False           # the export connector fails: export_failed_at (B8)
    issue_tracker_fails: bool = False    # reports answer 207 (B10)

    def next_step(self, step: str) -> str | None:
        """The step after `step`, or None at the last one (or a step this project lacks)."""
        if step in self.steps:
            i = self.steps.index(step)
            return self.steps[i + 1] if i + 1 < len(self.steps) else None
        return None


@dataclass(frozen=True, slots=True)
class Folder:
    """One of a project's folders: a default one (its role names it) or a custom one."""
    id: str
    project_id: str
    name: str
    role: str = "custom"  # inbox | processed | reported | bin | custom


@dataclass(frozen=True, slots=True)
class ApiKey:
    key: str
    team_id: str
    projects: frozenset[str]
    scopes: frozenset[str]
    label: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    issues: tuple[dict, ...]
    message: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class Task:
    """id, project_id and created_at never change once a task exists: listing keeps every
    task filed by them (sandbox/domain/listing.py)."""

    id: str
    name: str
    created_at: str
    meta: tuple[dict, ...]
    status: str
    step_type: str
    upload_id: str
    project_id: str
    approval: str | None
    exported_at: str | None
    export_failed_at: str | None
    last_opened_at: str | None
    pages: tuple[dict, ...]
    reports: tuple[Report, ...] = ()
    outcome: str | None = None  # a fixture may make processing end FAILED or FILTERED (B6)
    version: int = 0            # bumped on every status change; stale scheduled events skip

    def public(self) -> dict[str, Any]:
        """The task as the API shows it, fields in upstream order."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "meta": self.meta,
            "status": self.status,
            "step_type": self.step_type,
            "upload_id": self.upload_id,
            "project_id": self.project_id,
            "approved": self.approval == APPROVED,
            "exported_at": self.exported_at,
            "export_failed_at": self.export_failed_at,
            "last_opened_at": self.last_opened_at,
            "pages": self.pages,
        }


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    project_id: str
    name: str
    files: dict
    meta: tuple[dict, ...]
    folder_id: str | None
    created_at: str
    fully_processed: bool = False
    # When every task last became final; export waits on it (B8). SESSION_START for a seed's
    # upload that was final already: it is final since each session over the seed began.
    final_since: float | None = None
    notified_status: str | None = None  # the status its events last followed (B14: fired on each change)
    pinned: bool = False                # moved by hand: the sandbox no longer files it by its status (B15)

    def public(self, tasks: list[Task]) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": upload_status(tasks),
            "files": self.files,
            "meta": self.meta,
            "folder_id": self.folder_id,
            "created_at": self.created_at,
        }


def all_final(tasks: list[Task]) -> bool:
    return all(t.status in FINAL_STATUSES for t in tasks)


def upload_status(tasks: list[Task]) -> str:
    """Derived from the upload's tasks (B8)."""
    statuses = {t.status for t in tasks}
    if PROCESSING in statuses:
        return "PROCESSING"
    if REVIEWING in statuses:
        return "IN_REVIEW"
    return "COMPLETED"
