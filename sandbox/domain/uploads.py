"""New uploads: one task per file, PROCESSING at the project's first step (B6), upstream limits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from sandbox.domain.clock import format_timestamp
from sandbox.domain.model import PROCESSING, Project, Task, Upload, freeze

MAX_FILE_BYTES = 40 * 1024 * 1024  # upstream: 40 MB a file, read as 40 MiB (41,943,040 bytes)
MAX_FILES = 100                    # upstream: 100 files a batch


@dataclass(frozen=True)
class File:
    """What the sandbox keeps of an uploaded file: never its bytes."""
    filename: str
    size: int
    content_type: str


def file_type(file: File) -> str:
    """The extension (`.pdf` alone counts as pdf), else the media subtype, else `bin`."""
    name = PurePosixPath(file.filename).name
    suffix = (PurePosixPath(name).suffix or (name if name.startswith(".") else "")).lstrip(".").lower()
    subtype = file.content_type.split(";", 1)[0].strip().rsplit("/", 1)[-1].lower()
    return suffix or (subtype if subtype.replace("-", "").replace(".", "").replace("+", "").isalnum() else "") or "bin"


def build(project: Project, files: list[File], name: str | None, meta: list[dict], now: float,
          new_id, folder_id: str | None = None) -> tuple[Upload, list[Task]]:
    """The upload (in `folder_id`, the project's Inbox) and its tasks."""
    stamp = format_timestamp(now)
    meta = freeze(meta)
    upload = Upload(new_id("upl"), project.id, name or files[0].filename, freeze({}), meta, folder_id, stamp,
                    notified_status="PROCESSING")
    tasks = [Task(new_id("task"), f.filename, stamp, meta, PROCESSING, project.steps[0], upload.id,
                  project.id, None, None, None, None, ()) for f in files]
    return upload, tasks


def created_view(upload: Upload, files: list[File]) -> dict:
    """The upstream example's shape: no envelope, camelCase, lower-case status."""
    return {"id": upload.id, "name": upload.name, "projectId": upload.project_id,
            "status": "processing", "fileType": file_type(files[0]),
            "fileSize": sum(f.size for f in files), "createdAt": upload.created_at,
            "updatedAt": upload.created_at}
