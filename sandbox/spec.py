"""Reads `openapi.yaml` once and answers what the contract says: scopes, methods per path."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# libyaml's parser when PyYAML was built with it (its wheels are): the two specs parse in about
# 20 ms instead of 120, a fifth of the sandbox's start-up.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PACKAGE_DIR = Path(__file__).parent


def resource_path(name: str) -> Path:
    """`openapi.yaml` and `fixtures/` sit at the repository root in a checkout, and inside
    the package in a wheel (pyproject force-includes them there)."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.exists() else PACKAGE_DIR.parent / name


@functools.lru_cache(maxsize=None)
def _load(path: str) -> dict:
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=SAFE_LOADER)


def load_public() -> dict:
    """The public contract; callers must not mutate it."""
    return _load(str(resource_path("openapi.yaml")))


def load_control() -> dict:
    """The control plane's own spec (B12), never part of the public contract."""
    return _load(str(PACKAGE_DIR / "control" / "openapi.yaml"))


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern
    methods: tuple[str, ...]
    operations: dict  # method -> operationId


class Contract:
    """Index of one OpenAPI document for the checks Connexion leaves to us."""

    def __init__(self, document: dict, prefix: str = ""):
        self.document = document
        self.scopes: dict[str, frozenset[str]] = {}
        self.consumes: dict[str, tuple[str, ...]] = {}
        self.statuses: dict[str, frozenset[int]] = {}
        self.task_operations: set[str] = set()  # those whose path names a task
        self.where: dict[str, tuple[str, str]] = {}  # operationId -> (method, path template)
        self.secured: set[str] = set()  # operations that need a bearer key
        self.routes: list[Route] = []
        for template, item in document["paths"].items():
            methods = tuple(m.upper() for m in HTTP_METHODS if m in item)
            regex = re.sub(r"\\{([^/]+?)\\}", r"(?P<\1>[^/]+)", re.escape(prefix + template))
            self.routes.append(Route(template, re.compile(f"^{regex}$"), methods,
                                     {m.upper(): item[m]["operationId"] for m in HTTP_METHODS if m in item}))
            for method in HTTP_METHODS:
                if method in item:
                    op = item[method]
                    self.where[op["operationId"]] = (method.upper(), template)
                    if self._needs_bearer(op.get("security", document.get("security")) or [], op["operationId"]):
                        self.secured.add(op["operationId"])
                    self.scopes[op["operationId"]] = frozenset(op.get("x-required-scopes", []))
                    self.consumes[op["operationId"]] = tuple(op.get("requestBody", {}).get("content", {}))
                    self.statuses[op["operationId"]] = frozenset(int(s) for s in op["responses"] if s.isdigit())
                    if "{task_id}" in template:
                        self.task_operations.add(op["operationId"])

    @staticmethod
    def _needs_bearer(requirements: list[dict], operation: str) -> bool:
        """sandbox/http/context.py knows one scheme, required: a contract asking for anything else (an
        optional key, another scheme) must not be served as if it asked for that."""
        if not requirements:
            return False
        if any(set(r) != {"bearerAuth"} for r in requirements):
            raise ValueError(f"{operation}: the sandbox authenticates only a required bearerAuth, not {requirements}")
        return True

    def allowed_methods(self, path: str) -> tuple[str, ...] | None:
        """Every method the spec declares for `path`, or None when no path matches.
        Connexion's own 405 names only the first matching route's methods."""
        for route in self.routes:
            if route.pattern.match(path):
                return route.methods
        return None

    def injectable(self, operation: str) -> frozenset[int]:
        """Statuses a fault rule or `Prefer` may force: the operation's declared errors, plus
        500 and 503, so injected faults stay inside the contract (B12)."""
        return frozenset(s for s in self.statuses[operation] if s >= 400) | {500, 503}

    def operation(self, method: str, path: str) -> tuple[str | None, dict]:
        """The operationId for `method` on `path` and the path's parameters, if the spec has them."""
        for route in self.routes:
            match = route.pattern.match(path)
            if match:
                return route.operations.get(method.upper()), match.groupdict()
        return None, {}
