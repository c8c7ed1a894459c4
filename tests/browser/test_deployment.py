"""The beaker-ts scenarios and the development interface against the compose deployment.

The same page runs and the same checks as test_beaker_ts.py, from a page on a host
loopback port to the service's published port, and one click-through of the development
interface (run_dev_ui.mjs, as test_dev_ui.py). The deployment is compose.yaml plus
compose.scripted-model.yaml (the scripted model as the agent's LLM, BEAKER_DEV_UI=1),
started once for this module with the containers tests' helpers and torn down
afterwards; it needs the images of scripts/build-images and fails (never skips) without
Docker.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..containers.conftest import (
    REPO,
    Deployment,
    _require_docker,
    docker,
    labelled_containers,
    new_deployment,
)
from .checks import PythonChecks, RChecks
from .conftest import HERE, NODE, SERVICE_LOGS, BrowserTarget, PageServer
from .pagerun import PageRun
from .test_beaker_ts import listed_subkernels, scenario_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.containers,
    pytest.mark.slow,
    pytest.mark.timeout(1200),
]

OVERRIDE = HERE / "compose.scripted-model.yaml"


@dataclass
class ScriptedDeployment(Deployment):
    """compose.yaml with the scripted model (compose.scripted-model.yaml) added."""

    def compose(self, *args: str, timeout: float = 180) -> str:
        return docker(
            "compose",
            "-f",
            str(REPO / "compose.yaml"),
            "-f",
            str(OVERRIDE),
            "-p",
            self.project,
            *args,
            timeout=timeout,
            env=self.env,
        )


@pytest.fixture(scope="module")
def deployment_target() -> Iterator[BrowserTarget]:
    """The compose deployment's URL and token, for the browser."""
    _require_docker()
    plain = new_deployment()
    deployment = ScriptedDeployment(plain.project, plain.env, plain.url, plain.token)

    def log() -> str:
        return deployment.compose("logs", "--no-color", "--tail", "300", "beaker", timeout=30)

    SERVICE_LOGS.append(log)
    try:
        deployment.up()
        yield BrowserTarget(deployment.url, deployment.token)
    finally:
        SERVICE_LOGS.remove(log)
        try:
            deployment.compose("down", "--volumes", "--timeout", "60")
        finally:
            left = labelled_containers(deployment.instance)
            for name in left:
                docker("rm", "-f", name, check=False)
        assert left == [], f"kernel containers left after the service stopped: {left}"


@pytest.fixture(scope="module")
def subkernels(deployment_target: BrowserTarget) -> dict[str, str]:
    return listed_subkernels(deployment_target)


@pytest.fixture(scope="module")
def python_deployment_run(deployment_target: BrowserTarget, page_server: PageServer) -> PageRun:
    return scenario_run(deployment_target, page_server, "python", label="deployment")


@pytest.fixture(scope="module")
def r_deployment_run(deployment_target: BrowserTarget, page_server: PageServer) -> PageRun:
    return scenario_run(deployment_target, page_server, "r", label="deployment")


class TestPythonDeployment(PythonChecks):
    @pytest.fixture
    def run(self, python_deployment_run: PageRun) -> PageRun:
        return python_deployment_run


class TestRDeployment(RChecks):
    @pytest.fixture
    def run(self, r_deployment_run: PageRun) -> PageRun:
        return r_deployment_run


def test_dev_ui_click_through(deployment_target: BrowserTarget, tmp_path: Path) -> None:
    """Every step of the development interface's click-through works in the deployment."""
    result = subprocess.run(
        [
            NODE,
            str(HERE / "run_dev_ui.mjs"),
            "--base",
            deployment_target.url,
            "--token",
            deployment_target.token,
            "--screenshots",
            str(tmp_path),
        ],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert result.returncode == 0, f"run_dev_ui.mjs failed:\n{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    failed = {
        name: entry["error"]["message"]
        for name, entry in report["steps"].items()
        if not entry["ok"]
    }
    assert report.get("fatal") is None, report["fatal"]
    assert failed == {}, f"steps that failed in the deployment: {json.dumps(failed, indent=1)}"
    assert report["order"] == [
        "login",
        "load",
        "choose_context",
        "python_cells",
        "agent",
        "ask_user",
        "interrupt",
        "r_cells",
        "save",
        "reopen",
        "sign_out",
    ]
    assert report["pageErrors"] == []
