"""Schemathesis over every public operation, in-process, with its default checks (B1)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from sandbox import errors
from sandbox.app import create_app
from tests.conftest import FULL_KEY

# 400 codes a schema-valid request may legitimately get: state rules and foreign tokens.
STATE_CODES = {cls.code for cls in errors.StateRuleRefused.__subclasses__()} | {
    errors.InvalidPaginationToken.code}


@schemathesis.check
def state_refusals_are_named(ctx, response, case):
    """A schema-valid request may be refused with 400 only by a named state rule (B3)."""
    if response.status_code != 400 or case.meta is None:
        return None
    if case.meta.generation.mode != schemathesis.GenerationMode.POSITIVE:
        return None
    code = response.json().get("code")
    assert code in STATE_CODES, f"schema-valid request refused with 400 {code!r}, not a state rule"
    return None


@pytest.fixture
def api_schema():
    # A fresh app (and world) for each operation's run.
    return schemathesis.openapi.from_asgi("/openapi.json", create_app())


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_response_conforms(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {FULL_KEY}"})
