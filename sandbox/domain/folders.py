"""Folders (B15): each project's four default folders and its own, moving an upload between
them, and the filing the sandbox does by itself as an upload's status changes."""
from __future__ import annotations

from dataclasses import replace

from sandbox import errors
from sandbox.domain.model import Folder, Upload

INBOX, PROCESSED, REPORTED, BIN, CUSTOM = "inbox", "processed", "reported", "bin", "custom"
DEFAULTS = {INBOX: "Inbox", PROCESSED: "Processed", REPORTED: "Reported", BIN: "Bin"}
# Upstream describes Inbox as "processing or awaiting review" and Processed as "all tasks at an
# end state": an upload there follows its status. What puts one in Reported or Bin is not said,
# so only a move does.
BY_STATUS = {"PROCESSING": INBOX, "IN_REVIEW": INBOX, "COMPLETED": PROCESSED}


def default_id(project_id: str, role: str) -> str:
    """The id of a default folder the fixtures do not name: stable, so a run repeats."""
    return f"folder_{project_id.removeprefix('proj_')}_{role}"


def defaults_for(project_id: str, named: dict[str, Folder], taken) -> list[Folder]:
    """The default folders a project lacks, given those it has by role; an id some other
    folder holds already (`taken(id)`) gets a suffix instead of replacing it."""
    made = []
    for role, name in DEFAULTS.items():
        if role in named:
            continue
        ident, n = default_id(project_id, role), 1
        while taken(ident):
            n += 1
            ident = f"{default_id(project_id, role)}_{n}"
        made.append(Folder(ident, project_id, name, role))
    return made


def of_role(folders, project_id: str, role: str) -> Folder | None:
    return next((f for f in folders if f.project_id == project_id and f.role == role), None)


def filed_in(upload: Upload, status: str, folders) -> str | None:
    """The folder the upload belongs in: the default folder its status calls for, while it
    sits in Inbox or Processed and nobody moved it by hand; where it is otherwise."""
    if upload.pinned:
        return upload.folder_id
    current = next((f for f in folders if f.id == upload.folder_id), None)
    if upload.folder_id is not None and (current is None or current.role not in (INBOX, PROCESSED)):
        return upload.folder_id
    target = of_role(folders, upload.project_id, BY_STATUS[status])
    return upload.folder_id if target is None else target.id


def filed(upload: Upload, status: str, folders) -> Upload:
    """The upload, in the folder `filed_in` gives."""
    folder_id = filed_in(upload, status, folders)
    return upload if folder_id == upload.folder_id else replace(upload, folder_id=folder_id)


ORDER = (INBOX, PROCESSED, REPORTED, BIN, CUSTOM)


def listed(tx, project_id: str | None = None) -> list[dict]:
    found = [f for f in tx.values("folders") if project_id in (None, f.project_id)]
    found.sort(key=lambda f: (f.project_id, ORDER.index(f.role), f.name.casefold()))
    return [{"id": f.id, "project_id": f.project_id, "name": f.name, "role": f.role} for f in found]


def find(tx, upload: Upload, folder_id: str) -> Folder:
    folder = tx.get("folders", folder_id)
    if folder is None or folder.project_id != upload.project_id:
        raise errors.FolderNotFound(f"Folder {folder_id} was not found in project {upload.project_id}.")
    return folder


def move(tx, upload: Upload, folder: Folder) -> Upload:
    """Move by hand: the upload stays where it is put (pinned) until moved again."""
    moved = replace(upload, folder_id=folder.id, pinned=True)
    tx.put("uploads", upload.id, moved)
    return moved
