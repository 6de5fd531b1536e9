"""Loads `fixtures/*.yaml` into the world's records, validating each record against the spec (B13)."""
from __future__ import annotations

import contextlib
import gc
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson
import yaml
from jsonschema import Draft4Validator, FormatChecker

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
    return _instants(yaml.load(text, Loader=spec_module.SAFE_LOADER))


def _instants(value):
    """YAML reads an unquoted 2024-01-15T10:00:00Z as a datetime: taken as the instant it names,
    written as the spec's strings are (UTC, second precision)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {k: _instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_instants(v) for v in value]
    return value


SHIPPED = "shipped"  # as a --fixtures folder: the packaged fixtures, to layer folders of one's own over


def default_dir() -> Path:
    return spec_module.resource_path("fixtures")


def layers(given) -> list[Path]:
    """The fixture folders, in order: None means the shipped ones, as does the word `shipped`;
    a list gives several, each later one adding files to, or replacing same-named files of,
    the ones before. A folder that is missing or a file fails with a clear line."""
    folders = [default_dir() if g in (None, SHIPPED) else Path(g)
               for g in (given if isinstance(given, (list, tuple)) else [given])] or [default_dir()]
    for folder in folders:
        if not folder.exists():
            raise errors.FixtureError(f"{folder}: no such folder; --fixtures names a folder of *.yaml fixture files")
        if not folder.is_dir():
            raise errors.FixtureError(f"{folder}: a file, not a folder; to add one file to the shipped fixtures, put it "
                                      f"in a folder and give --fixtures shipped --fixtures <that folder>")
    return folders


def layered_files(folders: list[Path]) -> dict[str, Path]:
    """Each fixture file by name: a later folder's file replaces an earlier one of the same name."""
    found: dict[str, Path] = {}
    for folder in folders:
        found.update((p.name, p) for p in fixture_files(folder))
    return dict(sorted(found.items()))


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
        self.located: list[tuple[str, str, str]] = []  # (file, record label, field) of each problem, or ""s
        self.paths: dict[str, Path] = {}
        self.details: list[dict] = []  # the same problems, located for an HTTP answer
        self.origins: dict[tuple[int, str], str] = {}
        self.seen: dict[tuple[str, str], str] = {}  # (kind, id) -> where it was first, valid or not
        self.flagged: set[tuple[str, str]] = set()  # (file, record) already reported as a duplicate
        self._compiled: dict[tuple[int, bool], Compiled] = {}

    def fail(self, file: str, record: str, field: str, message: str) -> None:
        self.problems.append(f"{file}: {record}: field {field}: {message}")
        self.located.append((file, record, field))
        where = record.split(" ")[0] + ("" if field == "(record)" else f".{field}")
        self.details.append({"location": f"body.{where}", "message": message})

    def fail_document(self, file: str, message: str) -> None:
        self.problems.append(f"{file}: {message}")
        self.located.append(("", "", ""))
        self.details.append({"location": "body", "message": message})

    def _validator(self, schema: dict, oas: bool) -> Compiled:
        """Compiled once per schema: a generated world holds 100,000 tasks."""
        key = (id(schema), oas)
        if key not in self._compiled:
            full = {**schema, **self.components}
            if oas:  # made only when a record fails: openapi-schema-validator takes 55 ms to import
                self._compiled[key] = Compiled(full, lambda: _oas30(full), resolved=False, formats=True)
            else:
                self._compiled[key] = Compiled(full, Draft4Validator(full, format_checker=FORMATS), resolved=False)
        return self._compiled[key]

    def validate(self, schema: dict, value: Any, file: str, record: str, oas: bool) -> bool:
        found = list(self._validator(schema, oas).iter_errors(value))
        if not found:  # the common case, 100,000 times in a generated world
            return True
        found.sort(key=lambda e: list(map(str, e.absolute_path)))
        said = set()
        for err in found:
            where = list(err.absolute_path)
            if err.validator == "required" and not where and err.validator_value and \
                    re.match(r"'(id|key)' is a required", err.message):
                continue  # said already, as the record's missing id (_records)
            if tuple(where) in said and err.validator != "additionalProperties":
                continue  # one problem a field: a bad time breaks its format and its pattern alike
            said.add(tuple(where))
            if isinstance(err.instance, date):  # YAML read an unquoted date; a date alone is no instant
                self.fail(file, record, _where(where), f"{err.instance} is a date, not an instant: "
                                                        "quote it and give the time, e.g. '2024-01-15T10:00:00Z'")
                continue
            if err.validator == "additionalProperties":  # name the unknown field itself
                for name in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                    self.fail(file, record, _where([*where, name]), "unknown field")
                continue
            self.fail(file, record, _where(where), err.message)
        return not found


def _oas30(schema: dict):
    from openapi_schema_validator import OAS30Validator

    return OAS30Validator(schema, format_checker=FORMATS)


def _documents(files: list[Path], checker: _Checker) -> list[tuple[str, Any]]:
    docs = []
    for path in files:
        checker.paths[path.name] = path
        try:
            docs.append((path.name, _parse(path.read_text(encoding="utf-8")) or {}))
        except UnicodeDecodeError as exc:
            checker.fail_document(path.name, f"not UTF-8 text: {exc}")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path.name}:{mark.line + 1}" if mark else path.name
            what = "; ".join(filter(None, [getattr(exc, "context", None), getattr(exc, "problem", None)])) or str(exc)
            checker.fail_document(where, f"not valid YAML: {what}")
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
                field = "key" if kind == "keys" else "id"
                ident = rec.get(field) if isinstance(rec, dict) else None
                label = f"{kind}[{i}]" + (f" ({ident})" if isinstance(ident, str) else "")
                if not isinstance(rec, dict):
                    checker.fail(name, label, "(record)", "must be a mapping")
                    continue
                if ident is None:
                    checker.fail(name, label, field, f"missing: every record of {kind} has its {field}")
                elif isinstance(ident, str):  # a duplicate is one, whether or not its first copy was valid
                    first = checker.seen.setdefault((kind, ident), f"{name}: {label}")
                    if first != f"{name}: {label}":
                        checker.fail(name, label, field, f"duplicate {ident!r}, first defined at {first}")
                        checker.flagged.add((name, label))
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
def collector_paused(freeze: bool = True):
    """Loading makes millions of containers and no cycles; left on, the cyclic garbage
    collector rescans them again and again (a 100,000-task world: 7 s instead of 2). `freeze`:
    what was made stays for the process's life, so it is kept out of later scans too."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        if freeze:
            gc.freeze()


def fixture_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_records(directory=None, openapi: dict | None = None, files: list[Path] | None = None) -> Records:
    """Build records from every `*.yaml` of the folder(s) `directory` (see `layers`), or from
    `files`; raise FixtureError naming each bad record's file, line, record and field."""
    folders = layers(directory)
    files = list(layered_files(folders).values()) if files is None else files
    where = " + ".join(map(str, folders))
    if not files:
        raise errors.FixtureError(f"{where}: no fixture files (*.yaml) found")
    checker = _Checker(openapi or spec_module.load_public())
    with collector_paused():
        records = _load(_documents(files, checker), Records(), checker)
    if checker.problems:
        problems = _with_lines(checker)
        raise errors.FixtureError("invalid fixtures in %s:\n  %s" % (where, "\n  ".join(problems)), problems)
    return records


def _with_lines(checker: _Checker) -> list[str]:
    """Each problem with the line of the field (or record) it names, read from its file's YAML."""
    trees: dict[str, Any] = {}
    out = []
    for text, (file, record, field) in zip(checker.problems, checker.located):
        path = checker.paths.get(file)
        found = re.match(r"(\w+)\[(\d+)\]", record) if path else None
        if found is None:
            out.append(text)
            continue
        if file not in trees:
            try:
                trees[file] = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
            except (yaml.YAMLError, UnicodeDecodeError):
                trees[file] = None
        parts = [found.group(1), int(found.group(2))]
        if field != "(record)":
            parts += [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", field)]
        line = _line(trees[file], parts)
        out.append(text if line is None else f"{file}:{line}: {text[len(file) + 2:]}")
    return out


def _line(node, parts: list) -> int | None:
    """The line of the deepest node along `parts` (keys and list indexes)."""
    if node is None:
        return None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            following = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            following = node.value[part]
        else:
            following = None
        if following is None:
            break
        node = following
    return node.start_mark.line + 1


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
