"""The agent in the deployment: an llm_request answered by a Beaker kernel of the service image.

The model is the scripted one (tests/agent/scripted_model.py), mounted into the service
container and named by LLM_PROVIDER_IMPORT_PATH like any provider (see conftest.py); its
run_code tool runs in the subkernel's container.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..checkpoints.test_agent_rollback import CASES
from .conftest import Deployment, KernelSocket, docker
from .test_matrix import setup_context

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]

CODE = "import os, socket\nprint(6 * 7, os.getuid(), socket.gethostname())"


def write_script(deployment: Deployment, steps: list[dict[str, Any]]) -> None:
    script = deployment.test_dir / "script.json"
    script.write_text(json.dumps(steps))
    script.chmod(0o644)


def model_calls(deployment: Deployment) -> list[dict[str, Any]]:
    """What the scripted model received in the service container, one entry per call."""
    log = docker(
        "exec", deployment.service_container(), "sh", "-c", "cat /tmp/beaker-test-model.log || true"
    )
    return [json.loads(line) for line in log.splitlines()]


def test_llm_request_runs_code_in_the_subkernel_container_and_answers(
    deployment: Deployment, beaker: tuple[str, KernelSocket]
) -> None:
    _, ws = beaker
    write_script(
        deployment,
        [
            {
                "text": "I will compute it.",
                "tool_calls": [{"name": "run_code", "args": {"code": CODE}}],
            },
            {"text": "The kernel said: {last_tool_output}"},
        ],
    )
    info, _ = setup_context(ws, "default", "python3")
    calls_before = len(model_calls(deployment))
    assert info["agent"]["name"] == "DefaultAgent"
    assert "run_code" in info["agent"]["tools"]

    reply, iopub = ws.request("llm_request", {"request": "What is six times seven?"}, timeout=180)

    assert reply["msg_type"] == "llm_reply"
    assert reply["content"]["status"] == "ok", reply["content"]
    thoughts = [m["content"] for m in iopub if m["msg_type"] == "llm_thought"]
    assert thoughts == [
        {"thought": "I will compute it.", "tool_name": "run_code", "tool_input": {"code": CODE}}
    ]
    responses = [m["content"] for m in iopub if m["msg_type"] == "llm_response"]
    assert len(responses) == 1, [m["msg_type"] for m in iopub]
    text = responses[0]["text"]
    # run_code's output came back from the kernel container (uid 1000, hostname "kernel")
    assert text.startswith("The kernel said: "), text
    assert "42 1000 kernel" in text, text

    # the model ran in the Beaker kernel, inside the service container
    calls = model_calls(deployment)[calls_before:]
    assert len(calls) == 2
    last_call = calls[-1]
    assert "run_code" in last_call["tools"]
    assert any("42 1000 kernel" in m["content"] for m in last_call["messages"])


@pytest.mark.parametrize("language", ["python3", pytest.param("rlang", marks=pytest.mark.r)])
def test_rollback_restores_what_the_agent_changed_in_the_kernel_container(
    deployment: Deployment, beaker: tuple[str, KernelSocket], language: str
) -> None:
    # The checkpoint is saved by the subkernel, on its container's own disk.
    case = CASES[language]
    write_script(
        deployment,
        [
            {
                "text": "Changing.",
                "tool_calls": [{"name": "run_code", "args": {"code": case["agent"]}}],
            },
            {"text": "Done."},
        ],
    )
    _, ws = beaker
    setup_context(ws, "default", language)
    reply, _ = ws.execute(case["prelude"] + case["before"])
    assert reply["content"]["status"] == "ok", reply["content"]

    reply, iopub = ws.request("llm_request", {"request": "Change things"}, timeout=180)
    assert reply["content"]["status"] == "ok", reply["content"]
    (child,) = [m["content"] for m in iopub if m["msg_type"] == "add_child_codecell"]
    index = child["checkpoint_index"]
    assert type(index) is int

    reply, _ = ws.request("rollback_request", {"checkpoint_index": index + 41})
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "UnknownCheckpointError"

    reply, _ = ws.request("rollback_request", {"checkpoint_index": index}, timeout=180)
    assert reply["content"]["status"] == "ok", reply["content"]
    report = reply["content"]["return"]
    assert {"kept", "lost"} <= set(report["restored"]) <= {"kept", "lost", "os"}
    assert "added" in report["removed"]
    assert list(report["unrestorable"]) == ["stream"]
    _, stdout = ws.execute(case["show"])
    assert stdout.strip() == case["shown"]
