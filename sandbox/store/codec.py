"""Session state as bytes for Redis: each record as JSON, the rest of a session as one JSON value."""
from __future__ import annotations

import dataclasses
import json
import re

import orjson

from sandbox.domain.events import Delivery, Event, Subscription
from sandbox.domain.model import ApiKey, Folder, Project, Report, Task, Team, Upload, freeze
from sandbox.domain.timeline import TIMELINE
from sandbox.store.state import PARTS, Own, SessionState, Tx

SEP = "\x1f"  # between a record's kind and its id in a Redis hash field
BY_UPLOAD = "by_upload"


def _default(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value, default=_default)
    except TypeError:  # an integer past 64 bits or a lone surrogate: the slow way keeps both
        return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


def _json_default(value):
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return _default(value)


LONG_NUMBER = re.compile(rb"\d{19,}")  # orjson reads integers past 64 bits as floats


def loads(raw: bytes):
    if LONG_NUMBER.search(raw):
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # a lone surrogate, which only the stdlib writes (escaped)
        return json.loads(raw)


def _task(d: dict) -> Task:
    d["meta"], d["pages"] = freeze(d["meta"]), freeze(d["pages"])
    d["reports"] = tuple(Report(freeze(r["issues"]), r["message"], r["created_at"]) for r in d["reports"])
    return Task(**d)


def _upload(d: dict) -> Upload:
    d["files"], d["meta"] = freeze(d["files"]), freeze(d["meta"])
    return Upload(**d)


def _project(d: dict) -> Project:
    d["steps"], d["required_entities"] = tuple(d["steps"]), tuple(d["required_entities"])
    return Project(**d)


def _key(d: dict) -> ApiKey:
    d["projects"], d["scopes"] = frozenset(d["projects"]), frozenset(d["scopes"])
    return ApiKey(**d)


def _subscription(d: dict) -> Subscription:
    d["events"] = tuple(d["events"])
    return Subscription(**d)


def _event(d: dict) -> Event:
    d["body"] = freeze(d["body"])
    return Event(**d)


def _delivery(d: dict) -> Delivery:
    d["attempts"] = freeze(d["attempts"])
    return Delivery(**d)


DECODERS = {"tasks": _task, "uploads": _upload, "projects": _project, "keys": _key,
            "teams": lambda d: Team(**d), "folders": lambda d: Folder(**d), "subscriptions": _subscription, "events": _event,
            "deliveries": _delivery, TIMELINE: lambda d: d}


def record_fields(tx) -> dict[str, bytes]:
    """A unit of work's puts of records as Redis hash fields."""
    out = {f"{kind}{SEP}{key}": dumps(value) for kind, writes in tx.writes.items() if kind != TIMELINE
           for key, value in writes.items()}
    out.update({f"{BY_UPLOAD}{SEP}{upload_id}": dumps(ids) for upload_id, ids in tx.by_upload.items()})
    return out


def timeline_fields(tx) -> dict[str, bytes]:
    """A unit of work's timeline entries, by their ring's slot (the session's timeline hash)."""
    return {slot: dumps(entry) for slot, entry in tx.writes[TIMELINE].items()}


def own_from(fields: dict[bytes, bytes]) -> Own:
    own = Own()
    for name, raw in fields.items():
        kind, _, key = name.decode().partition(SEP)
        if kind == BY_UPLOAD:
            own.by_upload[key] = tuple(loads(raw))
        else:
            own.put(kind, key, DECODERS[kind](loads(raw)))
    return own


def meta(state: SessionState, tx: Tx | None = None) -> bytes:
    """Everything but records (of a state, or of a unit of work as it would leave it): small,
    rewritten whole on every commit. Its fields are SessionState's, each as its part says."""
    out = {}
    for name, part in PARTS.items():
        value = getattr(state, name) if tx is None else tx.after(name)
        out[name] = value if part.dump is None else part.dump(value)
    return dumps(out)


def state_meta(state: SessionState) -> bytes:
    return meta(state)


def tx_meta(tx: Tx) -> bytes:
    return meta(tx.state, tx)


def state_from(raw: bytes, version: int, seeds, own: Own) -> SessionState:
    """A state from its meta and records; a field its meta lacks (written before the field
    existed) takes its default."""
    d = loads(raw)
    found = {name: d[name] if part.load is None else part.load(d[name]) for name, part in PARTS.items() if name in d}
    return SessionState(seed=seeds(d["scenario"]), own=own, version=version, **found)
