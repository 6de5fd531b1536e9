"""The sandbox's own schemathesis check, loaded by the gate, `verify` and `st run` (as a hook)."""
from __future__ import annotations

import schemathesis

from sandbox import errors

# 400 codes a schema-valid request may legitimately get (B3): a state rule refused it, or it
# carried a pagination token that is not one.
STATE_CODES = frozenset({cls.code for cls in errors.StateRuleRefused.__subclasses__()}
                        | {errors.InvalidPaginationToken.code})


@schemathesis.check
def state_refusals_are_named(ctx, response, case):
    """positive_data_acceptance is narrowed to admit 400 (schemathesis.toml); this keeps it
    honest: a schema-valid request may be refused with 400 only by a named state rule."""
    if response.status_code != 400 or case.meta is None:
        return None
    if case.meta.generation.mode != schemathesis.GenerationMode.POSITIVE:
        return None
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        code = None
    assert code in STATE_CODES, f"schema-valid request refused with 400 {code!r}, not a state rule"
    return None
