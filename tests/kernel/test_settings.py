"""The kernel's settings take effect, from a Jupyter config file or from the environment.

The kernel process loads ``jupyter_beaker_kernel_config.{json,py}`` from the Jupyter config
path (never from the working directory, where user code writes) and the command line, with
environment variables as defaults.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from beaker_kernel.kernel import BeakerKernelApp

from ..client import BeakerClient, running_beaker
from ..conftest import scripted_model_env

CONFIG = "jupyter_beaker_kernel_config.json"


def _config_dir(tmp_path: Path, settings: dict[str, dict[str, object]]) -> dict[str, str]:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / CONFIG).write_text(json.dumps(settings))
    return {"JUPYTER_CONFIG_DIR": str(folder)}


def _by(
    way: str, tmp_path: Path, section: str, name: str, value: object, env_name: str
) -> dict[str, str]:
    if way == "config file":
        return _config_dir(tmp_path, {section: {name: value}})
    return {env_name: str(value).lower() if isinstance(value, bool) else str(value)}


WAYS = ("config file", "environment")


def test_settings_are_read_from_config_files_the_command_line_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    (tmp_path / CONFIG).write_text(
        json.dumps({"BeakerKernelApp": {"crash_poll_interval": 3.5, "post_execute_delay": 0.2}})
    )
    monkeypatch.setenv("BEAKER_CRASH_POLL_INTERVAL", "99")  # a file wins over the environment
    monkeypatch.setenv("BEAKER_RESTART_ON_CRASH", "false")
    app = BeakerKernelApp()
    app.initialize(["--BeakerKernelApp.post_execute_delay=0.7"])  # the command line wins
    assert app.crash_poll_interval == 3.5
    assert app.post_execute_delay == 0.7
    assert app.restart_on_crash is False
    # the parts read them from the application
    (tmp_path / "kernel.json").write_text(json.dumps({"key": "k"}))
    app.connection_file = str(tmp_path / "kernel.json")
    app.build()
    assert app.supervisor.settings.crash_poll_interval == 3.5
    assert app.agent_settings.max_react_steps == 30
    app.zmq_context.term()


def test_the_working_directory_is_no_config_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "elsewhere"))
    (tmp_path / CONFIG).write_text(json.dumps({"BeakerKernelApp": {"crash_poll_interval": 7.0}}))
    (tmp_path / "jupyter_beaker_kernel_config.py").write_text("raise SystemExit('imported')\n")
    app = BeakerKernelApp()
    app.initialize([])
    assert app.crash_poll_interval == 10.0


@pytest.mark.parametrize("way", WAYS)
def test_post_execute_delay(tmp_path: Path, way: str) -> None:
    env = _by(
        way, tmp_path, "BeakerKernelApp", "post_execute_delay", 1.5, "BEAKER_POST_EXECUTE_DELAY"
    )
    with running_beaker(env) as (_, client):
        # measured from the request: the kernel's delay starts at the subkernel's idle,
        # which comes before this client has read the reply
        sent = time.monotonic()
        cell = client.run("x = 1")
        client.wait_for_iopub("kernel_state_info", parent_id=cell.reply["parent_header"]["msg_id"])
        assert 1.5 <= time.monotonic() - sent < 10


@pytest.mark.parametrize("way", WAYS)
def test_restart_on_crash(tmp_path: Path, way: str) -> None:
    env = _by(
        way, tmp_path, "BeakerKernelApp", "restart_on_crash", False, "BEAKER_RESTART_ON_CRASH"
    )
    with running_beaker(env) as (_, client):
        crash = client.run("import os; os._exit(1)", timeout=30)
        assert crash.content["ename"] == "SubkernelDiedError"
        after = client.run("print(1)", timeout=30)
        assert after.content["status"] == "error"
        assert after.content["evalue"].startswith(
            "No subkernel is running: The Python 3 subkernel died"
        )
        # a context set-up starts a new one
        assert client.setup_context("default", "python3").content["status"] == "ok"
        assert client.run("print(1)").stdout() == "1\n"


@pytest.mark.parametrize("way", WAYS)
def test_agent_step_limit(tmp_path: Path, way: str) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"text": "", "tool_calls": [{"name": "run_code", "args": {"code": "1"}}]},
                {"text": "", "tool_calls": [{"name": "run_code", "args": {"code": "2"}}]},
                {"text": "done"},
            ]
        )
    )
    env = {
        **scripted_model_env(script),
        **_by(way, tmp_path, "AgentSettings", "max_react_steps", 1, "BEAKER_AGENT_MAX_REACT_STEPS"),
    }
    with running_beaker(env) as (_, client):
        reply = client.request("llm_request", {"request": "Count"}, timeout=60).content
        assert reply["status"] == "error"
        assert reply["ename"] == "AgentFailedError"
        assert "Too many steps" in reply["evalue"]


def test_a_subkernel_killed_from_outside_is_replaced_with_a_short_poll(tmp_path: Path) -> None:
    """A subkernel killed from outside is noticed and replaced (the disconnect is seen at
    once; the poll, here every second, is the fallback)."""
    env = _config_dir(tmp_path, {"BeakerKernelApp": {"crash_poll_interval": 1.0}})
    with running_beaker(env) as (_, client):
        client: BeakerClient
        pid = int(client.run("import os; print(os.getpid())").stdout())
        os.kill(pid, 9)
        started = time.monotonic()
        while (
            "subkernel died and was restarted"
            not in (client.wait_for_iopub("stream", timeout=30)["content"]["text"])
        ):
            pass
        assert time.monotonic() - started < 15
