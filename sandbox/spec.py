"""Reads `openapi.yaml` once and answers what the contract says: scopes, methods per path."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PACKAGE_DIR = Path(__file__).parent


def resource_path(name: str) -> Path:
    """`openapi.yaml` and `fixtures/` sit at the repository root in a checkout, and inside
    the package in a wheel (pyproject force-includes them there)."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.exists() else PACKAGE_DIR.parent / name


@functools.lru_cache(maxsize=None)
def _load(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def load_public() -> dict:
    """The public contract; callers must not mutate it."""
    return _load(str(resource_path("openapi.yaml")))


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern
    methods: tuple[str, ...]


class Contract:
    """Index of one OpenAPI document for the checks Connexion leaves to us."""

    def __init__(self, document: dict):
        self.document = document
        self.scopes: dict[str, frozenset[str]] = {}
        self.consumes: dict[str, tuple[str, ...]] = {}
        self.routes: list[Route] = []
        for template, item in document["paths"].items():
            methods = tuple(m.upper() for m in HTTP_METHODS if m in item)
            regex = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
            self.routes.append(Route(template, re.compile(f"^{regex}$"), methods))
            for method in HTTP_METHODS:
                if method in item:
                    op = item[method]
                    self.scopes[op["operationId"]] = frozenset(op.get("x-required-scopes", []))
                    self.consumes[op["operationId"]] = tuple(op.get("requestBody", {}).get("content", {}))

    def allowed_methods(self, path: str) -> tuple[str, ...] | None:
        """Every method the spec declares for `path`, or None when no path matches.
        Connexion's own 405 names only the first matching route's methods (notes #4)."""
        for route in self.routes:
            if route.pattern.match(path):
                return route.methods
        return None
