"""Fixtures shared by the test suite: real Beaker kernels with real subkernels."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from .client import BeakerClient, running_beaker
from .packages import REPO, WEATHER, installed

#: The scripted model (tests/agent/scripted_model.py), named the way a user names a provider.
SCRIPTED_MODEL = "tests.agent.scripted_model:ScriptedModel"


def scripted_model_env(script: Path, log: Path | None = None) -> dict[str, str]:
    """The environment of a kernel or service whose agent talks to the scripted model: it
    follows the steps in ``script`` and, given ``log``, writes each call it gets there."""
    env = {
        "PYTHONPATH": str(REPO),  # the model class is imported from this checkout
        "LLM_PROVIDER_IMPORT_PATH": SCRIPTED_MODEL,
        "BEAKER_TEST_MODEL_SCRIPT": str(script),
    }
    if log is not None:
        env["BEAKER_TEST_MODEL_LOG"] = str(log)
    return env


#: The fast subset (`./scripts/test --quick`, marker `quick`): in-process tests and a few
#: against a real Python subkernel; no Docker, no R, no browser.
QUICK = (
    "tests/test_layout.py",
    "tests/test_packaging.py",
    "tests/kernel/test_routing.py",
    "tests/kernel/test_conformance.py",
    "tests/kernel/test_messages.py",
    "tests/kernel/test_settings.py",
    "tests/agent/test_agent_failures.py",
    "tests/contexts/test_units.py",
    "tests/protocol/test_inprocess.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::")[0] in QUICK:
            item.add_marker(pytest.mark.quick)


def pytest_configure(config: pytest.Config) -> None:
    # IPython keeps every session's history in one database under IPYTHONDIR; kernels the
    # tests start get a fresh one, so history searches see this run's cells only.
    os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="beaker-tests-ipython-")


@pytest.fixture
def beaker() -> Iterator[tuple[KernelManager, BeakerClient]]:
    """A fresh Beaker kernel with the default (python3) subkernel, for one test."""
    with running_beaker() as (km, client):
        yield km, client


@pytest.fixture(scope="module")
def shared_beaker() -> Iterator[BeakerClient]:
    """One Beaker kernel for a whole module of tests that do not break it."""
    with running_beaker() as (_, client):
        yield client


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "cities.csv"
    path.write_text(
        "city,country,population,area\n"
        "Lagos,Nigeria,15388000,1171.3\n"
        "Lima,Peru,10719000,2672.3\n"
        "Oslo,Norway,709000,454.0\n"
        "Perth,Australia,2192000,6417.9\n"
    )
    return path


@pytest.fixture
def context_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the test contexts in tests/fixtures/contexts discoverable by new kernels."""
    folder = REPO / "tests" / "fixtures" / "contexts"
    monkeypatch.setenv("BEAKER_CONTEXT_PATH", str(folder))
    return folder


@pytest.fixture(scope="session")
def weather_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/fixtures/beaker-weather built as a wheel and pip-installed here for the session
    (uninstalled at its end)."""
    with installed(WEATHER, "beaker-weather", tmp_path_factory.mktemp("wheels")) as wheel:
        yield wheel


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it has exited all the same
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
