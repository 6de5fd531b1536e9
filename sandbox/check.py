"""`task-sandbox check`: the specs, their examples, and every fixture file, validated offline."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from sandbox import errors, spec
from sandbox.control.scenarios import Scenarios

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(document)"


def _load(path: Path, problems: list[str]) -> dict | None:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path}: cannot be read as YAML: {exc}")
        return None
    try:
        validate(document)
    except OpenAPIValidationError as exc:
        problems.append(f"{path}: at {_where(exc.absolute_path)}: {exc.message}")
        return None
    except Exception as exc:  # openapi-spec-validator raises others on badly broken documents
        problems.append(f"{path}: not a valid OpenAPI document: {exc}")
        return None
    return document


def _deref(document: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def examples(document: dict) -> Iterator[tuple[str, dict, object]]:
    """(location, schema, example) for every example of every request and response body."""
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if not operation:
                continue
            bodies = [("requestBody", _deref(document, operation.get("requestBody", {})))]
            bodies += [(f"responses.{status}", _deref(document, response))
                       for status, response in operation.get("responses", {}).items()]
            for where, body in bodies:
                for media, content in (body or {}).get("content", {}).items():
                    base = f"paths.{path}.{method}.{where}.content.{media}"
                    if "example" in content:
                        yield f"{base}.example", content.get("schema", {}), content["example"]
                    for name, example in content.get("examples", {}).items():
                        yield (f"{base}.examples.{name}", content.get("schema", {}),
                               _deref(document, example).get("value"))


def check_examples(path: Path, document: dict, problems: list[str]) -> int:
    count = 0
    for where, schema, value in examples(document):
        count += 1
        validator = OAS30Validator({**schema, "components": document.get("components", {})})
        for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
            problems.append(f"{path}: at {where}: {_where(error.absolute_path)}: {error.message}")
    return count


def run(public: Path | None = None, control: Path | None = None, fixtures_dir: Path | None = None) -> int:
    public = Path(public or spec.resource_path("openapi.yaml"))
    control = Path(control or spec.PACKAGE_DIR / "control" / "openapi.yaml")
    problems: list[str] = []
    documents = [(path, _load(path, problems)) for path in (public, control)]
    examples_seen = sum(check_examples(path, doc, problems) for path, doc in documents if doc is not None)
    scenarios = 0
    if documents[0][1] is not None:
        try:
            scenarios = len(Scenarios(fixtures_dir, documents[0][1]).names())
        except errors.FixtureError as exc:
            problems.append(str(exc))
    for problem in problems:
        print(problem)
    if problems:
        print(f"task-sandbox check: {len(problems)} problem(s)")
        return 1
    print(f"task-sandbox check: clean: {public}, {control} ({examples_seen} examples), "
          f"fixtures and {scenarios} scenario(s)")
    return 0
