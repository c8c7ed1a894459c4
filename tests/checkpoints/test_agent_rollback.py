"""Rolling back what the agent did, in every language, through the kernel.

The scripted model runs code that overwrites, deletes and adds variables; the
``add_child_codecell`` carries the index of the checkpoint taken before it, and
``rollback_request`` with that index brings the variables back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..agent.conftest import StartAgentKernel
from ..agent.conftest import agent_kernel as agent_kernel
from ..client import BeakerClient
from ..julia_kernel.conftest import container_label as container_label
from ..julia_kernel.conftest import julia_image as julia_image
from ..julia_kernel.conftest import julia_kernelspec_dir as julia_kernelspec_dir

CASES = {
    "python3": {
        "before": "kept = 21\nlost = [1, 2]\nstream = open(os.devnull, 'w')\n",
        "agent": "kept = 0\ndel lost\nadded = 'new'",
        "show": "print(kept, lost, 'added' in globals(), stream.closed)",
        "shown": "21 [1, 2] False False",
        "prelude": "import os\n",
    },
    "rlang": {
        "before": "kept <- 21L\nlost <- c(1L, 2L)\nstream <- file(tempfile(), 'w')\n",
        "agent": "kept <- 0L\nrm(lost)\nadded <- 'new'",
        "show": "cat(kept, lost, exists('added'), isOpen(stream))",
        "shown": "21 1 2 FALSE TRUE",
        "prelude": "",
    },
    "julia": {
        "before": 'kept = 21\nlost = [1, 2]\nstream = open(tempname(), "w")\n',
        "agent": 'kept = 0\nlost = nothing\nadded = "new"',
        "show": (
            'print(kept, " ", lost, " ", '
            'isdefined(Main, :added) ? added : nothing, " ", isopen(stream))'
        ),
        "shown": "21 [1, 2] nothing true",
        "prelude": "",
    },
}


@pytest.fixture(
    params=[
        "python3",
        pytest.param("rlang", marks=pytest.mark.r),
        pytest.param("julia", marks=pytest.mark.julia),
    ]
)
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    language = str(request.param)
    if language == "julia":
        # Beaker starts the offline Julia kernel's container through this kernelspec
        root = request.getfixturevalue("julia_kernelspec_dir")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("JUPYTER_PATH", str(root))
            yield language
    else:
        yield language


def _start(agent_kernel: StartAgentKernel, language: str, script: list, **env: str) -> BeakerClient:
    if "JUPYTER_PATH" in os.environ:
        env["JUPYTER_PATH"] = os.environ["JUPYTER_PATH"]
    client = agent_kernel(script, env=env).client
    setup = client.setup_context("default", language, timeout=120)
    assert setup.content["status"] == "ok", setup.content
    return client


def test_rollback_restores_what_the_agent_changed(
    agent_kernel: StartAgentKernel, language: str
) -> None:
    case = CASES[language]
    client = _start(
        agent_kernel,
        language,
        [
            {
                "text": "Changing.",
                "tool_calls": [{"name": "run_code", "args": {"code": case["agent"]}}],
            },
            {"text": "Done."},
        ],
    )
    assert client.run(case["prelude"] + case["before"], timeout=60).content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Change things"}, timeout=120)
    assert exchange.content["status"] == "ok", exchange.content
    index = exchange.one("add_child_codecell")["checkpoint_index"]
    assert type(index) is int
    assert client.run(case["show"]).content["status"] in ("ok", "error")  # changed now

    unknown = client.request("rollback_request", {"checkpoint_index": index + 41})
    assert unknown.content["status"] == "error"
    assert unknown.content["ename"] == "UnknownCheckpointError"
    assert f"the checkpoints of this session are {index}" in unknown.content["evalue"]

    rolled = client.request("rollback_request", {"checkpoint_index": index}, timeout=120)
    assert rolled.content["status"] == "ok", rolled.content
    report = rolled.content["return"]
    assert report["checkpoint_index"] == index
    # Python's modules are re-imported by name (they count as restored)
    assert {"kept", "lost"} <= set(report["restored"]) <= {"kept", "lost", "os"}
    assert "added" in report["removed"]
    assert list(report["unrestorable"]) == ["stream"]
    assert client.run(case["show"]).stdout().strip() == case["shown"]


def test_checkpoints_can_be_switched_off(agent_kernel: StartAgentKernel) -> None:
    client = _start(
        agent_kernel,
        "python3",
        [
            {"text": "", "tool_calls": [{"name": "run_code", "args": {"code": "x = 1"}}]},
            {"text": "Done."},
        ],
        ENABLE_CHECKPOINTS="false",
    )
    setup = client.request("context_info_request").one("context_info_response")
    assert "rollback" not in setup["info"]["actions"]
    exchange = client.request("llm_request", {"request": "Set x"})
    assert "checkpoint_index" not in exchange.one("add_child_codecell")
    reply = client.request("rollback_request", {"checkpoint_index": 1}).content
    assert reply["status"] == "error"
    assert "Unknown message type 'rollback_request'" in reply["evalue"]


def test_checkpoint_files_go_with_the_kernel(
    agent_kernel: StartAgentKernel, tmp_path: Path
) -> None:
    runtime = tmp_path / "runtime"
    client = _start(
        agent_kernel,
        "python3",
        [
            {"text": "", "tool_calls": [{"name": "run_code", "args": {"code": "x = 1"}}]},
            {"text": "Done."},
            {"text": "", "tool_calls": [{"name": "run_code", "args": {"code": "x = 2"}}]},
            {"text": "Done."},
        ],
        JUPYTER_RUNTIME_DIR=str(runtime),
    )
    client.run("big = list(range(1000))")
    assert client.request("llm_request", {"request": "one"}).content["status"] == "ok"
    folders = list((runtime / "beaker-checkpoints").iterdir())
    assert len(folders) == 1
    assert oct(folders[0].stat().st_mode & 0o777) == "0o700"
    # a crash: the subkernel is replaced, its checkpoints are gone with it
    crash = client.run("import os; os._exit(1)", timeout=30)
    assert crash.content["ename"] == "SubkernelDiedError"
    assert client.run("print(1)", timeout=60).stdout() == "1\n"
    assert not folders[0].exists()
    assert client.request("llm_request", {"request": "two"}).content["status"] == "ok"
    assert len(list((runtime / "beaker-checkpoints").iterdir())) == 1
    client.request("shutdown_request", channel="control", wait_idle=False)
    client.stop_channels()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and list((runtime / "beaker-checkpoints").iterdir()):
        time.sleep(0.2)
    assert list((runtime / "beaker-checkpoints").iterdir()) == []
