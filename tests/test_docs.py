"""The README says what the code does: every error code is in it, and the contract cites the rules it defines."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox import errors

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CODES = sorted({cls.code for cls in errors._kinds(errors.SandboxError) if "code" in vars(cls)})


@pytest.mark.parametrize("code", CODES)
def test_every_error_code_is_in_the_readme(code):
    assert f"`{code}`" in README, f"{code} (sandbox/errors.py) is not documented in README.md"


def test_the_contract_cites_the_rules_the_readme_defines():
    defined = sorted(int(n) for n in re.findall(r"^- \*\*B(\d+)\*\*", README, re.M))
    assert defined == list(range(1, len(defined) + 1))
    cited = re.search(r"\(B1–B(\d+)\)", (ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert cited and int(cited.group(1)) == defined[-1]
