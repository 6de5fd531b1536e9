"""The contract gate (B1): schemathesis over every public operation, all phases, every check."""
from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ElementTree

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import sandbox.tools.contract_checks  # noqa: F401  registers state_refusals_are_named
from sandbox.tools import verify
from sandbox.app import create_app
from sandbox.control.sessions import HEADER
from tests import redis_server
from tests.conftest import FULL_KEY
from tests.servers import Served

CONFIG = schemathesis.Config.from_path(verify.CONFIG)
BUDGET = tomllib.loads(verify.CONFIG.read_text())
AUTH = {"Authorization": f"Bearer {FULL_KEY}"}


@pytest.fixture
def api_schema():
    # A fresh app (and world) for each operation's run.
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(), config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=BUDGET["generation"]["max-examples"], deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_response_conforms_in_process(case):
    case.call_and_validate(headers=AUTH)


def test_stateful_runs_through_the_links_each_from_a_reset_session():
    app = create_app()
    machine = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG).as_state_machine()
    # moveUpload is reached through links (getUpload's MoveUpload), with an upload and a folder that exist
    assert any("MoveUpload__POST" in name and name.endswith("_move_folder_id_") for name in dir(machine))
    runs = []

    class Gate(machine):
        def setup(self):
            runs.append(len(runs))
            self.session = f"stateful-{len(runs)}"
            reset = app.test_client().post("/_sandbox/reset", headers={HEADER: self.session}, json={})
            assert reset.status_code == 200

        def get_call_kwargs(self, case):
            return {"headers": {**AUTH, HEADER: self.session}}

    Gate.run(settings=settings(max_examples=BUDGET["generation"]["max-examples"],
                               stateful_step_count=BUDGET["phases"]["stateful"]["max-steps"],
                               deadline=None, suppress_health_check=list(HealthCheck)))
    assert len(runs) > 1


def test_all_phases_over_http_find_nothing(live, tmp_path):
    """The same run partners and CI get from `task-sandbox verify`: examples, coverage (which
    also sends undeclared methods and content types), fuzzing and stateful phases."""
    report = tmp_path / "gate.xml"
    assert verify.run(live.url, FULL_KEY, str(report)) == 0
    cases = ElementTree.parse(report).getroot().iter("testcase")
    names = {case.get("name") for case in cases}
    assert len(names) >= 10, names


def test_all_phases_against_two_workers_on_one_redis(redis_url, tmp_path):
    """The same run against `serve --workers 2 --store redis://...`: every answer, whichever
    worker gives it, and the stateful phase's links across workers, keep the contract."""
    prefix = redis_server.namespace()
    try:
        with Served("--store", redis_url, "--namespace", prefix, "--workers", "2") as served:
            assert verify.run(served.url, FULL_KEY, str(tmp_path / "gate.xml")) == 0
    finally:
        redis_server.drop(redis_url, prefix)
