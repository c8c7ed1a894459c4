"""beaker-ts 1.13.0, unmodified, drives a local ``beaker serve`` from another origin.

One page run per language (see page/scenario.js); each test checks one step of it
(checks.py). A failing test names the step and shows what came back.
"""

from __future__ import annotations

import pytest

from .checks import PythonChecks, RChecks
from .conftest import BrowserTarget, PageServer, run_page
from .pagerun import PageRun

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def scenario_run(
    target: BrowserTarget, pages: PageServer, scenario: str, label: str = "local"
) -> PageRun:
    """Run page/scenario.js's ``scenario`` against ``target`` in headless Chromium."""
    url = pages.page("harness.html", base=target.url, token=target.token, scenario=scenario)
    run = PageRun(run_page(url, timeout=600))
    run.save(f"beaker-ts-{label}-{scenario}")
    return run


def listed_subkernels(target: BrowserTarget) -> dict[str, str]:
    """Language slug → the subkernel name ``/contexts`` lists for the default context."""
    response = target.http("GET", "/contexts")
    assert response.status == 200, response.body
    languages = response.json()["default"]["languages"]
    return {language["slug"]: language["subkernel"] for language in languages}


@pytest.fixture(scope="module")
def subkernels(local_service: BrowserTarget) -> dict[str, str]:
    listed = listed_subkernels(local_service)
    assert "rlang" in listed, (
        f"R is not available to the service ({listed}): install r-cran-irkernel"
    )
    return listed


@pytest.fixture(scope="module")
def python_run(local_service: BrowserTarget, page_server: PageServer) -> PageRun:
    return scenario_run(local_service, page_server, "python")


@pytest.fixture(scope="module")
def r_run(local_service: BrowserTarget, page_server: PageServer) -> PageRun:
    return scenario_run(local_service, page_server, "r")


class TestPython(PythonChecks):
    @pytest.fixture
    def run(self, python_run: PageRun) -> PageRun:
        return python_run


class TestR(RChecks):
    @pytest.fixture
    def run(self, r_run: PageRun) -> PageRun:
        return r_run
