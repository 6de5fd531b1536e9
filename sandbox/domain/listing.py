"""Task lists newest first (B11): an index per project in listing order, filters and keyset paging."""
from __future__ import annotations

import base64
import binascii
import bisect
import heapq
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator

from sandbox import errors
from sandbox.domain.model import Task


@dataclass
class Page:
    count: int
    tasks: list[Task]
    next_token: str | None


Key = tuple[str, str]  # (created_at, id): the listing order, newest last; it never changes
FIELDS = ("status", "step_type", "upload_id")


def key_of(task: Task) -> Key:
    return (task.created_at, task.id)


def encode_token(task: Task) -> str:
    raw = json.dumps(list(key_of(task)), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> Key:
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


class SeedIndex:
    """The seed's task keys of each project, sorted, in all and per value of each filter field.
    Built once per seed and shared read-only by every session over it."""

    def __init__(self, tasks: dict[str, Task]):
        lists: dict[tuple, list[Key]] = defaultdict(list)
        for task in tasks.values():
            key = key_of(task)
            lists[(task.project_id, None, None)].append(key)
            for field in FIELDS:
                lists[(task.project_id, field, getattr(task, field))].append(key)
        for keys in lists.values():
            keys.sort()
        self.lists = dict(lists)

    def keys(self, project_id: str, field: str | None = None, value: str | None = None) -> list[Key]:
        return self.lists.get((project_id, field, value), [])


def paginate(tasks, project_id: str, limit: int, token: str | None, **filters: str | None) -> Page:
    """One page of `tasks` (a session's TaskView, sandbox/store/state.py) in a project, newest
    first, keyset-paged on (created_at, id) so a page boundary survives tasks changing status. It walks the seed's
    list for the most selective filter from the token on, skipping the tasks this session
    holds its own copy of, merged with this session's own tasks: O(limit + log n) when the
    filters keep what they walk. The count is the list's length, corrected for the session's
    own tasks; with several filters it walks the most selective list."""
    wanted = {k: v for k, v in filters.items() if v is not None}
    after = decode_token(token) if token is not None else None
    index, own = tasks.index, tasks.own
    field, value = min(wanted.items(), key=lambda fv: len(index.keys(project_id, *fv)), default=(None, None))
    seeded, owned = index.keys(project_id, field, value), tasks.own_keys.get(project_id, [])

    def matches(task: Task) -> bool:
        return all(getattr(task, f) == v for f, v in wanted.items())

    def walk(keys: list[Key], records: dict, skip: dict) -> Iterator[tuple[Key, Task]]:
        for i in range((bisect.bisect_left(keys, after) if after else len(keys)) - 1, -1, -1):
            if keys[i][1] not in skip:
                task = records[keys[i][1]]
                if matches(task):
                    yield keys[i], task

    found = heapq.merge(walk(seeded, tasks.seed, own), walk(owned, own, {}),
                        key=lambda pair: pair[0], reverse=True)
    window = [task for _, task in itertools.islice(found, limit + 1)]
    more = len(window) > limit
    window = window[:limit]
    return Page(_count(seeded, tasks, owned, wanted, matches), window,
                encode_token(window[-1]) if more and window else None)


def _count(seeded: list[Key], tasks, owned: list[Key], wanted: dict, matches) -> int:
    own, seed = tasks.own, tasks.seed
    if len(wanted) > 1:  # no list holds the combination: count along the most selective one
        total = sum(1 for _, task_id in seeded if task_id not in own and matches(seed[task_id]))
    else:  # the list is exactly the seed's matches; the session's copies replace theirs
        total = len(seeded) - sum(1 for _, task_id in owned if task_id in seed and matches(seed[task_id]))
    return total + sum(1 for _, task_id in owned if matches(own[task_id]))
