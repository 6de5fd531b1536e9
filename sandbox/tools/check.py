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


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(document)"


def _load(path: Path, problems: list[str]) -> dict | None:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=spec.SAFE_LOADER)  # as the app parses it
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path}: cannot be read as YAML: {exc}")
        return None
    if not isinstance(document, dict):
        problems.append(f"{path}: not an OpenAPI document: its top level is a {type(document).__name__}")
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


class Unresolvable(Exception):
    pass


def _deref(document: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = document
        try:
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
        except (KeyError, TypeError):
            raise Unresolvable(node["$ref"]) from None
        node = target
    return node


def examples(document: dict) -> Iterator[tuple[str, dict, object]]:
    """(location, schema, example) for every example: of bodies, parameters, headers, schemas."""
    yield from _schema_examples(document)
    yield from _media_examples(document)


def _schema_examples(document: dict) -> Iterator[tuple[str, dict, object]]:
    components = document.get("components", {})
    for name, schema in components.get("schemas", {}).items():
        if isinstance(schema, dict) and "example" in schema:
            yield f"components.schemas.{name}.example", schema, schema["example"]
    places = [(f"components.parameters.{n}", p) for n, p in components.get("parameters", {}).items()]
    places += [(f"components.headers.{n}", h) for n, h in components.get("headers", {}).items()]
    for path, item in document.get("paths", {}).items():
        places += [(f"paths.{path}.parameters[{i}]", p) for i, p in enumerate(item.get("parameters", []))]
        for method in spec.HTTP_METHODS:
            for i, p in enumerate((item.get(method) or {}).get("parameters", [])):
                places.append((f"paths.{path}.{method}.parameters[{i}]", p))
    for where, place in places:
        place = _deref(document, place)
        if isinstance(place, dict) and "example" in place:
            yield f"{where}.example", place.get("schema", {}), place["example"]


def _media_examples(document: dict) -> Iterator[tuple[str, dict, object]]:
    # x-webhooks: what the platform sends to a subscriber, described as the operations a
    # receiver serves (OpenAPI 3.0's convention for 3.1's `webhooks`, read by Redoc)
    items = [(f"paths.{p}", i) for p, i in document.get("paths", {}).items()]
    items += [(f"x-webhooks.{n}", i) for n, i in document.get("x-webhooks", {}).items()]
    for path, item in items:
        for method in spec.HTTP_METHODS:
            operation = item.get(method)
            if not operation:
                continue
            bodies = [("requestBody", _deref(document, operation.get("requestBody", {})))]
            bodies += [(f"responses.{status}", _deref(document, response))
                       for status, response in operation.get("responses", {}).items()]
            for where, body in bodies:
                for media, content in (body or {}).get("content", {}).items():
                    base = f"{path}.{method}.{where}.content.{media}"
                    if "example" in content:
                        yield f"{base}.example", content.get("schema", {}), content["example"]
                    for name, example in content.get("examples", {}).items():
                        example = _deref(document, example)
                        if "value" in example:  # an externalValue lives elsewhere: not ours to read
                            yield f"{base}.examples.{name}", content.get("schema", {}), example["value"]


def check_examples(path: Path, document: dict, problems: list[str]) -> int:
    count = 0
    try:
        found = list(examples(document))
    except Unresolvable as exc:
        problems.append(f"{path}: unresolvable $ref {exc}")
        return 0
    for where, schema, value in found:
        count += 1
        validator = OAS30Validator({**schema, "components": document.get("components", {})})
        for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
            problems.append(f"{path}: at {where}: {_where(error.absolute_path)}: {error.message}")
    return count


def run(public: Path | None = None, control: Path | None = None, fixtures_dir=None) -> int:
    """`fixtures_dir`: a folder, or several layered (sandbox/fixtures.py)."""
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
            problems += exc.problems  # one per problem: the count says how many
        except KeyError as exc:  # the fixtures read scopes and schemas out of the contract
            problems.append(f"{public}: fixtures cannot be checked: the contract lacks {exc} "
                            "(components.securitySchemes.bearerAuth.x-scopes, components.schemas.Task, ...)")
    for problem in problems:
        print(problem)
    if problems:
        print(f"task-sandbox check: {len(problems)} problem(s) found")
        return 1
    print(f"task-sandbox check: clean: {public}, {control} ({examples_seen} examples), "
          f"fixtures and {scenarios} scenario(s)")
    return 0
