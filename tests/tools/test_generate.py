"""`task-sandbox generate`: a seeded, varied world that loads like any fixtures and repeats exactly."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from sandbox.app import create_app
from sandbox.domain.model import TASK_STATUSES
from sandbox.fixtures import load_records
from tests.conftest import auth


def generate(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", "generate", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated") / "world"
    done = generate("--tasks", 400, "--seed", 7, "--out", out)
    assert done.returncode == 0, done.stderr
    assert f"serve --fixtures {out}" in done.stdout
    return out


def test_the_world_loads_like_any_fixtures_and_is_varied(world):
    records = load_records(world)  # every record valid against the spec and the fixture schema
    generated = [t for t in records.tasks.values() if t.id.startswith("task_g")]
    assert len(generated) == 400
    assert set(Counter(t.status for t in generated)) == set(TASK_STATUSES)
    assert len({t.project_id for t in generated}) == 5
    assert len({t.name for t in generated}) > 150  # names from Faker, not one template
    amounts = {a["content"] for t in generated for p in t.pages for a in p["annotations"] if a["entity_id"] == "total_amount"}
    assert len(amounts) > 100
    sizes = Counter(len(records.by_upload[u]) for u in {t.upload_id for t in generated})
    assert set(sizes) >= {1, 2}  # single documents and multi-task uploads


def test_the_same_seed_writes_the_same_world(world, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    assert generate("--tasks", 400, "--seed", 7, "--out", again).returncode == 0
    assert generate("--tasks", 400, "--seed", 8, "--out", other).returncode == 0
    assert (again / "generated.yaml").read_bytes() == (world / "generated.yaml").read_bytes()
    assert (other / "generated.yaml").read_bytes() != (world / "generated.yaml").read_bytes()


def test_the_sandbox_serves_it(world):
    with create_app(world).test_client() as client:
        listed = client.get("/v2/team_123456/project/proj_123456/task?limit=5", headers=auth())
        assert listed.status_code == 200 and listed.json()["count"] > 0
        task = listed.json()["payload"][0]
        assert client.get(f"/v2/team_123456/project/proj_123456/task/{task['id']}", headers=auth()).status_code == 200


@pytest.mark.parametrize("make, args, says", [
    (lambda d: (d / "x").write_text("not a directory"), ["--out", "{d}/x"], "is a file"),
    (lambda d: (d / "w.yaml").write_text("teams: []\n"), ["--out", "{d}"], "give --force"),
    (lambda d: None, ["--out", "{d}/new", "--tasks", "0"], "--tasks must be between 1 and 1,000,000"),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path, make, args, says):
    make(tmp_path)
    done = generate(*[a.format(d=tmp_path) for a in args])
    assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_force_replaces_fixture_files(tmp_path):
    (tmp_path / "old.yaml").write_text("teams: []\n")
    assert generate("--tasks", 3, "--out", tmp_path, "--force").returncode == 0
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == ["generated.yaml", "world.yaml"]
