"""Named fixture sets: the default fixtures, and each `scenarios/<name>/` beside them (B12, B13)."""
from __future__ import annotations

from pathlib import Path

import yaml

from sandbox import errors, fixtures
from sandbox.domain.records import Records
from sandbox.spec import SAFE_LOADER
from sandbox.store.state import Seed

DEFAULT = "default"
SCENARIO_FILE = "scenario.yaml"


_LOADED: dict[tuple, tuple[dict, dict]] = {}


def _fingerprint(directories: list[Path]) -> tuple:
    """Every fixture file's path, size and time: a changed file loads afresh."""
    files = [p for d in directories for p in sorted(d.glob("*.yaml")) + sorted((d / "scenarios").glob("*/*.yaml"))]
    return tuple(str(d.resolve()) for d in directories) + tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


class Scenarios:
    """All loaded and validated at start-up, so a bad scenario stops the sandbox like a bad
    fixture does; each is an immutable seed that sessions layer over."""

    def __init__(self, directory, openapi: dict, default: Records | None = None):
        """`directory`: a fixtures folder, or several layered (sandbox/fixtures.py, `layers`)."""
        self.directories = fixtures.layers(directory)
        key = _fingerprint(self.directories)
        if default is None and key in _LOADED:  # seeds are never written: apps may share them
            self._seeds, self._descriptions = _LOADED[key]
            return
        self._seeds: dict[str, Seed] = {}
        self._descriptions: dict[str, str] = {}
        self._seeds[DEFAULT] = Seed(DEFAULT, default or fixtures.load_records(self.directories, openapi))
        self._descriptions[DEFAULT] = "The default fixtures."
        found = {f.parent.name: f.parent for d in self.directories
                 for f in sorted((d / "scenarios").glob(f"*/{SCENARIO_FILE}"))}  # a later layer's replaces
        for folder in sorted(found.values(), key=lambda f: f.name):
            self._load(folder, openapi)
        if default is None:
            _LOADED[key] = (self._seeds, self._descriptions)

    def _load(self, folder: Path, openapi: dict) -> None:
        where = folder / SCENARIO_FILE
        try:
            meta = yaml.load(where.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise errors.FixtureError(f"{where}: not valid YAML: {exc}") from None
        include = meta.get("include", []) if isinstance(meta, dict) else None
        defaults = fixtures.layered_files(self.directories)
        if include == "all":
            include = sorted(defaults)
        if not isinstance(include, list) or any(name not in defaults for name in include):
            raise errors.FixtureError(
                f"{where}: field include: must be 'all' or a list of files among {', '.join(sorted(defaults))}")
        files = [defaults[name] for name in include] + [
            p for p in fixtures.fixture_files(folder) if p.name != SCENARIO_FILE]
        self._seeds[folder.name] = Seed(folder.name, fixtures.load_records(folder, openapi, files=files))
        self._descriptions[folder.name] = str(meta.get("description", ""))

    def names(self) -> list[dict]:
        return [{"name": name, "description": self._descriptions[name]} for name in self._seeds]

    def seed(self, name: str | None) -> Seed:
        try:
            return self._seeds[name or DEFAULT]
        except KeyError:
            raise errors.UnknownScenario(
                f"No scenario {name!r}; known: {', '.join(self._seeds)}.") from None
