"""The task lifecycle as one transition table (B5): which action moves which status where."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from sandbox import errors
from sandbox.domain import entities
from sandbox.domain.model import (
    APPROVED, COMPLETED, DISAPPROVED, DISCARDED, FILTERED, PROCESSING, REVIEWING,
    TASK_STATUSES, Project, Task, Upload, evolve,
)

Guard = Callable[[Task, Upload, Project], Optional[errors.SandboxError]]


def _valid(task: Task, upload: Upload, project: Project):
    details = entities.problems(task, project)
    if details:
        names = ", ".join(d["location"].split(".", 1)[1] for d in details)
        return errors.ValidationFailed(
            f"Task {task.id} fails validation: required entities missing or empty: {names}.", details)


def _not_exported(task: Task, upload: Upload, project: Project):
    if task.exported_at is not None:
        return errors.TaskExported(
            f"Task {task.id} was exported at {task.exported_at}; an exported task cannot be unlocked.")


def _upload_not_processed(task: Task, upload: Upload, project: Project):
    if upload.fully_processed:
        return errors.UploadProcessed(
            f"Task {task.id} cannot be unlocked: its upload {upload.id} is fully processed.")


def _not_approved(task: Task, upload: Upload, project: Project):
    if task.approval == APPROVED:
        return errors.TaskAlreadyApproved(f"Task {task.id} is approved already.")


def _not_disapproved(task: Task, upload: Upload, project: Project):
    if task.approval == DISAPPROVED:
        return errors.TaskAlreadyDisapproved(f"Task {task.id} is disapproved already.")


@dataclass(frozen=True)
class Rule:
    moves: dict[str, str]                  # from status -> to status
    refusal: type[errors.StateRuleRefused] | None
    refusal_text: str = ""                 # formatted with the task's id and status
    guards: tuple[Guard, ...] = ()
    approval: str | None = None            # what the action sets `approval` to
    touches: bool = True                   # sets last_opened_at (B5); report does not (B10)


_STAY_UNLESS_PROCESSING = {s: s for s in TASK_STATUSES if s != PROCESSING}

TRANSITIONS: dict[str, Rule] = {
    "complete": Rule(
        {REVIEWING: PROCESSING}, errors.TaskNotReviewing,
        "Task {id} is {status}; only a REVIEWING task can be completed.", guards=(_valid,)),
    "discard": Rule(
        {REVIEWING: DISCARDED}, errors.TaskNotReviewing,
        "Task {id} is {status}; only a REVIEWING task can be discarded."),
    "unlock": Rule(
        {COMPLETED: REVIEWING, DISCARDED: REVIEWING, FILTERED: REVIEWING}, errors.TaskNotUnlockable,
        "Task {id} is {status}; only a COMPLETED, DISCARDED or FILTERED task can be unlocked.",
        guards=(_not_exported, _upload_not_processed)),
    "approve": Rule(
        _STAY_UNLESS_PROCESSING, errors.TaskProcessing,
        "Task {id} is PROCESSING; it can be approved once processing ends.",
        guards=(_not_approved,), approval=APPROVED),
    "disapprove": Rule(
        _STAY_UNLESS_PROCESSING, errors.TaskProcessing,
        "Task {id} is PROCESSING; it can be disapproved once processing ends.",
        guards=(_not_disapproved,), approval=DISAPPROVED),
    "report": Rule({s: s for s in TASK_STATUSES}, None, touches=False),
}


def check(action: str, task: Task, upload: Upload, project: Project) -> Rule:
    """Raise the refusal for `action` on `task`, or return its rule; changes nothing."""
    rule = TRANSITIONS[action]
    if task.status not in rule.moves:
        raise rule.refusal(rule.refusal_text.format(id=task.id, status=task.status))
    for guard in rule.guards:
        refusal = guard(task, upload, project)
        if refusal is not None:
            raise refusal
    return rule


def apply(action: str, task: Task, upload: Upload, project: Project, now: str) -> Task:
    """The task after `action`, or the refusal; `task` itself never changes."""
    rule = check(action, task, upload, project)
    changes = {}
    if rule.approval is not None:
        changes["approval"] = rule.approval
    if rule.touches:
        changes["last_opened_at"] = now
    return move(task, rule.moves[task.status], **changes)


def move(task: Task, status: str, **changes) -> Task:
    """Every status change goes through here, so events scheduled for the old status go stale."""
    if task.status != status:
        changes.update(status=status, version=task.version + 1)
    return evolve(task, **changes) if changes else task
