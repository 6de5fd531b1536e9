"""JSON Schemas compiled once: OpenAPI 3.0 schemas as plain JSON Schema, jsonschema-rs to decide
quickly, the Python validator to explain a refusal."""
from __future__ import annotations

import typing as t

import jsonschema_rs


def plain_json_schema(node):
    """OpenAPI 3.0's `nullable` as JSON Schema, for a validator that knows only the latter."""
    if isinstance(node, list):
        return [plain_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: plain_json_schema(value) for key, value in node.items() if key not in ("nullable", "example")}
    if node.get("nullable") is True and "type" in node:
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


class Compiled:
    """One schema compiled once: jsonschema-rs says yes quickly; the Python validator (`explain`,
    the one Connexion or the fixture checker would use) explains a no, and its word is final
    where the two disagree."""

    def __init__(self, schema: dict, explain, resolved: bool = True, formats: bool | None = None):
        """`explain` is the Python validator, or a function that makes it when it is first needed
        (with `formats` saying whether it checks formats)."""
        self._explain = explain
        # Connexion resolves every $ref in place and then hangs the components on the schema
        # (`with_definitions`), which makes it cyclic: the resolved schema is all it needs.
        rust = {k: v for k, v in schema.items() if k != "components"} if resolved else schema
        try:
            if formats is None:
                formats = explain.format_checker is not None
            self.quick = jsonschema_rs.Draft4Validator(plain_json_schema(rust), validate_formats=formats)
        except RecursionError:  # a schema that really is recursive: Python alone judges
            self.quick = None

    @property
    def explain(self):
        if not hasattr(self._explain, "iter_errors"):
            self._explain = self._explain()
        return self._explain

    def iter_errors(self, value) -> t.Iterator:
        try:
            if self.quick is not None and self.quick.is_valid(value):
                return iter(())
        except (ValueError, OverflowError):  # values Rust cannot take (huge ints): Python judges
            pass
        return self.explain.iter_errors(value)
