"""Imports run one way (docs/architecture.md): the domain below the store, the store below the
control plane and HTTP; neither of the two lower packages reaches up, nor into Connexion."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import sandbox

ROOT = Path(sandbox.__file__).parent
UP_FROM_STORE = ("sandbox.control", "sandbox.http", "sandbox.dashboard", "sandbox.notify", "sandbox.tools",
                 "sandbox.handlers", "sandbox.app", "connexion", "starlette")


def imported(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function; `from a import b` counts as
    `a` and as `a.b` (b may be a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the file's package
                package = path.relative_to(ROOT.parent).with_suffix("").parts[:-node.level]
                base = ".".join((*package, *([base] if base else [])))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def reaching(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = sorted(m for m in imported(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            out[str(path.relative_to(ROOT.parent))] = bad
    return out


@pytest.mark.parametrize("package, forbidden", [
    pytest.param("store", UP_FROM_STORE, id="the store imports nothing above it"),
    pytest.param("domain", ("sandbox.store", *UP_FROM_STORE), id="the domain imports neither the store nor above"),
])
def test_imports_never_run_upward(package, forbidden):
    assert reaching(package, forbidden) == {}


def test_the_walk_sees_every_way_of_importing(tmp_path, monkeypatch):
    """The check itself: a plain import, a from-import, a package's submodule named in a
    from-import, a relative import and one inside a function are each seen."""
    fake = tmp_path / "sandbox"
    (fake / "store").mkdir(parents=True)
    (fake / "store" / "bad.py").write_text(
        "import connexion\nfrom sandbox.control.journal import x\nfrom sandbox import http\n"
        "from ..notify import sender\ndef f():\n    from sandbox.tools import cli\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    assert reaching("store", UP_FROM_STORE) == {"sandbox/store/bad.py": [
        "connexion", "sandbox.control.journal", "sandbox.control.journal.x", "sandbox.http",
        "sandbox.notify", "sandbox.notify.sender", "sandbox.tools", "sandbox.tools.cli"]}
