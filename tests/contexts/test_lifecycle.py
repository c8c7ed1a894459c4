"""A context across its subkernel's life: set up while it starts, set up again after a crash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..client import running_beaker
from ..conftest import REPO


def test_setup_sent_while_the_subkernel_starts_uses_that_subkernel(context_path: Path) -> None:
    # The request is queued before the start-up subkernel answers: Beaker must wait for
    # it and set the context up there, not race a second subkernel against it.
    with running_beaker(wait=False) as (_, client):
        setup = client.setup_context("pyonly", "python3", timeout=90)
        assert setup.content["status"] == "ok", setup.content
        assert setup.info["subkernel"] == "python3"
        check = client.run("print(_pyonly_setups)")
        assert check.content["status"] == "ok", check.content
        assert check.stdout() == "1\n"
        assert client.request("double_request", {"number": 4}).content["return"] == {"result": 8}


def test_crashed_subkernel_gets_its_context_set_up_again(context_path: Path) -> None:
    with running_beaker() as (_, client):
        assert client.setup_context("pyonly", "python3").content["status"] == "ok"
        client.run("lost = 1")
        crash = client.run("import os; os._exit(1)", timeout=30)
        assert crash.content["status"] == "error"
        assert crash.content["ename"] == "SubkernelDiedError"
        # the new subkernel ran the context's setup procedure once, and the context works
        after = client.run("print(_pyonly_setups)", timeout=60)
        assert after.content["status"] == "ok", after.content
        assert after.stdout() == "1\n"
        assert client.run("lost").content["ename"] == "NameError"
        assert client.request("double_request", {"number": 21}).content["return"] == {"result": 42}
        info = client.request("context_info_request").one("context_info_response")
        assert (info["slug"], info["language"]["slug"]) == ("pyonly", "python3")


def test_a_context_added_while_the_kernel_runs_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEAKER_CONTEXT_PATH", str(tmp_path))
    with running_beaker() as (_, client):
        # the kernel has looked for contexts already (its default context)
        assert client.setup_context("default", "python3").content["status"] == "ok"
        shutil.copytree(REPO / "tests" / "fixtures" / "contexts" / "pyonly", tmp_path / "pyonly")
        setup = client.setup_context("pyonly", "python3")
        assert setup.content["status"] == "ok", setup.content
        assert client.request("double_request", {"number": 4}).content["return"] == {"result": 8}
