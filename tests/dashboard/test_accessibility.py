"""axe-core, the accessibility engine from the npm registry, run inside each page in Chromium: no
serious or critical violation on the landing page, the dashboard with its data, or a proxy's page."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.http.server import ServerThread
from sandbox.proxy.app import create_proxy_app
from tests.browser import browser, required, watched_page  # noqa: F401  the fixture

AXE_VERSION = "4.14.1"  # pinned: a new release's new rules would change what passes
HERE = Path(__file__).parents[1] / ".axe"  # git ignores it; installed once, reused after
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
HOW = "axe-core comes from npm (`npm install --prefix tests/.axe axe-core@4.14.1`); Node.js's npm is missing"


@pytest.fixture(scope="module")
def axe() -> Path:
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            if required():
                pytest.fail(HOW, pytrace=False)
            pytest.skip(f"SKIPPED accessibility tests: {HOW}")
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(HERE),
                        f"axe-core@{AXE_VERSION}"], check=True, timeout=300)
    return AXE


def serious(page, axe: Path) -> list[str]:
    page.wait_for_load_state("load")  # not "networkidle": the dashboard's live channel is a stream, never idle
    page.add_script_tag(path=str(axe))
    found = page.evaluate("""async () => (await axe.run()).violations
        .filter(v => v.impact === "serious" || v.impact === "critical")
        .map(v => `${v.impact} ${v.id}: ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`)""")
    return found


@pytest.mark.parametrize("path", ["/", "/_sandbox/"])
def test_the_sandboxs_pages_have_no_serious_or_critical_violation(browser, live, axe, path):
    with watched_page(browser, live.url) as page:
        page.goto(path)
        if path == "/_sandbox/":  # with its data shown: tasks, uploads, journal, report
            page.wait_for_selector("#tasks tbody tr")
            page.wait_for_selector("#report-coverage tbody tr")
            page.wait_for_selector("#live.live-on")
        assert serious(page, axe) == []


def test_a_proxys_page_has_no_serious_or_critical_violation(browser, live, axe):
    with ServerThread(create_proxy_app(live.url)) as proxy, watched_page(browser, proxy.url) as page:
        page.goto("/_sandbox/")
        page.wait_for_selector("#report-coverage tbody tr")
        assert serious(page, axe) == []
