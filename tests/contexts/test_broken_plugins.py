"""Broken context plugins are reported and skipped; the other contexts still load.

Two upstream-style mappings in a ``share/beaker/contexts`` folder ($XDG_DATA_HOME/beaker):
one names a module that raises while it is imported, one a package that does not exist.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from beaker_kernel.errors import UnknownContextError
from beaker_kernel.lib.registry import ContextRegistry

from ..client import running_beaker
from ..packages import BROKEN_MODULE, broken_mappings
from ..service.conftest import start_service, stop_service


@pytest.fixture
def broken_plugins(tmp_path: Path) -> dict[str, str]:
    return broken_mappings(tmp_path)


def test_registry_reports_and_skips_them(
    broken_plugins: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", broken_plugins["XDG_DATA_HOME"])
    monkeypatch.syspath_prepend(broken_plugins["PYTHONPATH"])
    monkeypatch.delitem(sys.modules, BROKEN_MODULE, raising=False)
    caplog.set_level(logging.ERROR)
    registry = ContextRegistry()

    contexts = registry.all()

    assert {"default", "dataset"} <= set(contexts)
    assert "broken" not in contexts
    assert "nowhere" not in contexts
    mappings = Path(broken_plugins["XDG_DATA_HOME"]) / "beaker" / "contexts"
    assert registry.problems["broken"] == (
        f"The contexts plugin 'broken', mapping file {mappings / 'broken.json'}, "
        "failed to load: "
        "No module named 'a_dependency_nobody_installed'"
    )
    assert registry.problems["nowhere"] == (
        f"The contexts plugin 'nowhere', mapping file {mappings / 'nowhere.json'}, failed to "
        "load: No module named 'no_such_package'"
    )
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert registry.problems["broken"] in logged
    assert registry.problems["nowhere"] in logged
    with pytest.raises(UnknownContextError, match="a_dependency_nobody_installed"):
        registry.get("broken")


def test_service_lists_the_others_and_logs_them(
    broken_plugins: dict[str, str], tmp_path: Path
) -> None:
    service = start_service(tmp_path, broken_plugins)
    try:
        response = service.http("GET", "/contexts")
        log = service.log_path.read_text()
    finally:
        stop_service(service)
    assert response.status == 200, response.body
    contexts = response.json()
    assert {"default", "dataset"} <= set(contexts)
    assert "broken" not in contexts
    assert "nowhere" not in contexts
    assert "broken.json, failed to load" in log
    assert "No module named 'a_dependency_nobody_installed'" in log
    assert "nowhere.json, failed to load" in log


def test_kernel_says_why_and_sets_up_the_others(broken_plugins: dict[str, str]) -> None:
    with running_beaker(broken_plugins) as (_, client):
        reply = client.setup_context("broken", "python3").content
        assert reply["status"] == "error"
        assert reply["ename"] == "UnknownContextError"
        assert "Unknown context 'broken'" in reply["evalue"]
        assert "No module named 'a_dependency_nobody_installed'" in reply["evalue"]
        setup = client.setup_context("dataset", "python3", {"path": "x.csv"})
        assert setup.content["status"] == "error"  # found (its setup fails: no such file)
        assert setup.content["ename"] == "ProcedureFailedError"
        assert client.setup_context("default", "python3").content["status"] == "ok"
