"""What the control plane journals of a call: bodies cut to a bound, and the journal's filters;
the journal itself (its bounds, tally and kept entries) is sandbox/store/journal.py."""
from __future__ import annotations

import json

from sandbox.store.journal import size_of

BODY_BYTES = 8 * 1024  # each journalled body, request and response


def select(entries: list[dict], operation: str | None = None, task_id: str | None = None,
           status: int | None = None, since: str | None = None, limit: int | None = None) -> list[dict]:
    """Oldest first; `since` is an ISO timestamp of the session's clock (inclusive); `limit`
    keeps the newest entries."""
    found = [e for e in entries
             if (operation is None or e["operation"] == operation)
             and (task_id is None or e["task_id"] == task_id)
             and (status is None or e["status"] == status)
             and (since is None or e["time"] >= since)]
    return found[-limit:] if limit else found


def cut(data: bytes, total: int, limit: int) -> str | None:
    """A journalled body: its first `limit` bytes as text, and how many bytes were cut. Cut,
    JSON stays text when read (see decode)."""
    if not total:
        return None
    text = data[:limit].decode("utf-8", "replace")
    return text if total <= limit else f"{text}[… {total - limit} more bytes not journalled]"


HEADER_CHARS = 256          # of each journalled header's value
HEADERS_BYTES = 4 * 1024   # of all of an entry's headers: a header section may be 64 KiB
MASKED = {b"authorization", b"proxy-authorization", b"cookie", b"x-sandbox-admin-token"}
MASK = "••••"


def headers_of(raw) -> dict[str, str]:
    """A request's headers as the journal keeps them: the first of each name, each value cut at
    HEADER_CHARS and all at HEADERS_BYTES, credentials masked (an Authorization keeps its scheme,
    so a wrong one shows, never its key)."""
    found: dict[str, str] = {}
    used = 0
    for key, value in raw:
        name = key.decode("latin-1")
        if name in found:
            continue
        if key in MASKED:
            scheme = value.split(b" ", 1)[0].decode("latin-1")[:20] if key.endswith(b"authorization") else ""
            text = f"{scheme} {MASK}".strip() if b" " in value else MASK
        else:
            text = value.decode("latin-1")
            text = text if len(text) <= HEADER_CHARS else text[:HEADER_CHARS] + "…"
        used += len(name) + len(text)
        if used > HEADERS_BYTES:
            break
        found[name] = text
    return found


def keep(buffer: bytearray, chunk: bytes, limit: int) -> None:
    """The first `limit` bytes of a body, as its chunks pass: what the journal keeps of it."""
    if len(buffer) < limit:
        buffer.extend(chunk[:limit - len(buffer)])


def fitting(items: list, limit: int) -> list:
    """The first items that fit in `limit` bytes as JSON: an answer's details repeat its body."""
    used = 0
    for i, item in enumerate(items):
        used += size_of(item)
        if used > limit:
            return items[:i]
    return items


def decode(text: str | None):
    """A journalled body as JSON when it is JSON that can be answered again (no NaN or Infinity,
    no nesting deep enough to exhaust the stack, no number JSON's readers cannot hold), else as
    text: a refused request's body is journalled as it came, and must never break a read."""
    if not text:
        return None
    try:
        return json.loads(text, parse_constant=_no_constants, parse_float=_finite, parse_int=_int64)
    except (ValueError, RecursionError):
        return text


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is not a finite number")
    return value


def _int64(text: str) -> int:
    value = int(text) if len(text) < 25 else None
    if value is None or not -2**63 <= value < 2**64:
        raise ValueError(f"{text[:20]}... does not fit 64 bits")
    return value


def _no_constants(name: str):  # as validation.no_constants: reading a journal needs no Connexion
    raise ValueError(f"{name} is not JSON")
