"""Loads `fixtures/*.yaml` into the world's records, validating each record against the spec (B13)."""
from __future__ import annotations

import contextlib
import gc
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import orjson
import yaml
from jsonschema import Draft4Validator, FormatChecker
from openapi_schema_validator import OAS30Validator

from sandbox import errors, fixture_kinds as kinds, spec as spec_module
from sandbox.domain.records import FIXTURE_KINDS, Records
from sandbox.schemas import Compiled

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    """The spec's pattern fixes the shape; this catches 2024-99-99 (no extra package needed)."""
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _parse(text: str):
    """JSON is YAML, and parses far faster (orjson: 100,000 tasks in under a second), so a
    generated world is best written as JSON."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # YAML's flow style looks like JSON too
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def default_dir() -> Path:
    return spec_module.resource_path("fixtures")


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


class _Checker:
    def __init__(self, openapi: dict):
        self.components = {"components": openapi["components"]}
        self.scopes = set(openapi["components"]["securitySchemes"]["bearerAuth"]["x-scopes"])
        self.problems: list[str] = []
        self.details: list[dict] = []  # the same problems, located for an HTTP answer
        self.origins: dict[tuple[int, str], str] = {}
        self._compiled: dict[tuple[int, bool], Compiled] = {}

    def fail(self, file: str, record: str, field: str, message: str) -> None:
        self.problems.append(f"{file}: {record}: field {field}: {message}")
        where = record.split(" ")[0] + ("" if field == "(record)" else f".{field}")
        self.details.append({"location": f"body.{where}", "message": message})

    def fail_document(self, file: str, message: str) -> None:
        self.problems.append(f"{file}: {message}")
        self.details.append({"location": "body", "message": message})

    def _validator(self, schema: dict, oas: bool) -> Compiled:
        """Compiled once per schema: a generated world holds 100,000 tasks."""
        key = (id(schema), oas)
        if key not in self._compiled:
            full = {**schema, **self.components}
            explain = (OAS30Validator if oas else Draft4Validator)(full, format_checker=FORMATS)
            self._compiled[key] = Compiled(full, explain, resolved=False)
        return self._compiled[key]

    def validate(self, schema: dict, value: Any, file: str, record: str, oas: bool) -> bool:
        found = list(self._validator(schema, oas).iter_errors(value))
        if not found:  # the common case, 100,000 times in a generated world
            return True
        found.sort(key=lambda e: list(map(str, e.absolute_path)))
        for err in found:
            where = list(err.absolute_path)
            if err.validator == "additionalProperties":  # name the unknown field itself
                for name in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                    self.fail(file, record, _where([*where, name]), "unknown field")
                continue
            self.fail(file, record, _where(where), err.message)
        return not found


def _documents(files: list[Path], checker: _Checker) -> list[tuple[str, Any]]:
    docs = []
    for path in files:
        try:
            docs.append((path.name, _parse(path.read_text(encoding="utf-8")) or {}))
        except UnicodeDecodeError as exc:
            checker.fail_document(path.name, f"not UTF-8 text: {exc}")
        except yaml.YAMLError as exc:
            checker.fail_document(path.name, f"not valid YAML: {exc}")
    return docs


def _records(docs: list[tuple[str, Any]], checker: _Checker) -> Iterator[tuple[str, str, str, dict]]:
    """Yield (kind, file, record label, record) in FIXTURE_KINDS order, so references resolve."""
    valid = []
    for name, doc in docs:
        if not isinstance(doc, dict):
            checker.fail_document(name, f"top level must be a mapping of {', '.join(FIXTURE_KINDS)}")
            continue
        for unknown in sorted(set(doc) - set(FIXTURE_KINDS), key=str):
            checker.fail_document(name, f"unknown top-level key {unknown!r}; expected {', '.join(FIXTURE_KINDS)}")
        valid.append((name, doc))
    for kind in FIXTURE_KINDS:
        for name, doc in valid:
            records = doc.get(kind) or []
            if not isinstance(records, list):
                checker.fail_document(name, f"{kind} must be a list")
                continue
            for i, rec in enumerate(records):
                ident = (rec.get("id") or rec.get("key")) if isinstance(rec, dict) else None
                label = f"{kind}[{i}]" + (f" ({ident})" if isinstance(ident, str) else "")
                if not isinstance(rec, dict):
                    checker.fail(name, label, "(record)", "must be a mapping")
                    continue
                yield kind, name, label, rec


def _load(docs, records: Records, checker: _Checker) -> Records:
    defaults_added = False
    for kind, file, label, rec in _records(docs, checker):
        if not defaults_added and FIXTURE_KINDS.index(kind) > FIXTURE_KINDS.index("folders"):
            defaults_added = kinds.add_default_folders(records)  # before the uploads that sit in them
        kinds.add(kind, file, label, dict(rec), records, checker)  # shallow: nested values are never changed in place
    if not defaults_added:
        kinds.add_default_folders(records)
    return records


@contextlib.contextmanager
def _collector_paused():
    """Loading makes millions of containers and no cycles; left on, the cyclic garbage
    collector rescans them again and again (a 100,000-task world: 7 s instead of 2)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()  # what was loaded stays for the process's life: keep it out of later scans


def fixture_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_records(directory: Path | str | None = None, openapi: dict | None = None,
                 files: list[Path] | None = None) -> Records:
    """Build records from every `*.yaml` in `directory` (or from `files`); raise FixtureError
    naming each bad record's file, record and field."""
    directory = Path(directory) if directory else default_dir()
    files = fixture_files(directory) if files is None else files
    if not files:
        raise errors.FixtureError(f"{directory}: no fixture files (*.yaml) found")
    checker = _Checker(openapi or spec_module.load_public())
    with _collector_paused():
        records = _load(_documents(files, checker), Records(), checker)
    if checker.problems:
        raise errors.FixtureError("invalid fixtures in %s:\n  %s" % (directory, "\n  ".join(checker.problems)))
    return records


def load_into(tx, document: Any, openapi: dict | None = None) -> Records:
    """Validate `document` (one fixture file's content) exactly as files are, against and on
    top of a session's unit of work; return a layer holding the additions, or raise
    errors.InvalidFixture."""
    checker = _Checker(openapi or spec_module.load_public())
    layer = _load([("request body", document)], Records(_Base.of(tx), tx.task_ids_of), checker)
    if checker.problems:
        raise errors.InvalidFixture("Invalid fixture records: " + "; ".join(checker.problems[:3])
                                    + ("; ..." if len(checker.problems) > 3 else ""), checker.details)
    return layer


class _Base:
    """One kind of a unit of work's records, as the read-only mapping a Table reads through."""

    def __init__(self, tx, kind: str):
        self.tx, self.kind = tx, kind

    @classmethod
    def of(cls, tx):
        return lambda kind: cls(tx, kind)

    def get(self, key, default=None):
        found = self.tx.get(self.kind, key)
        return default if found is None else found

    def values(self):
        return self.tx.values(self.kind)

    def __bool__(self) -> bool:
        return True
