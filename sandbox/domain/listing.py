"""Filtering and keyset cursor paging of task lists, newest first (B11)."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sandbox import errors
from sandbox.domain.model import Task


@dataclass
class Page:
    count: int
    tasks: list[Task]
    next_token: str | None


def _sort_key(task: Task) -> tuple[str, str]:
    return (task.created_at, task.id)


def encode_token(task: Task) -> str:
    raw = json.dumps(list(_sort_key(task)), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(raw)
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(v, str) for v in decoded)):
            raise ValueError
        return decoded[0], decoded[1]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise errors.InvalidPaginationToken(
            "The pagination token is malformed; pass back paginationToken exactly as it came.",
            [{"location": "query.token", "message": "not a pagination token"}]) from None


def paginate(tasks: list[Task], limit: int, token: str | None, **filters: str | None) -> Page:
    """Keyset paging on (created_at, id): a page boundary survives tasks changing status."""
    wanted = {k: v for k, v in filters.items() if v is not None}
    matching = [t for t in tasks if all(getattr(t, k) == v for k, v in wanted.items())]
    matching.sort(key=_sort_key, reverse=True)
    start = 0
    if token is not None:
        after = decode_token(token)
        start = next((i for i, t in enumerate(matching) if _sort_key(t) < after), len(matching))
    window = matching[start:start + limit]
    more = start + limit < len(matching)
    return Page(len(matching), window, encode_token(window[-1]) if more and window else None)
