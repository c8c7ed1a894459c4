"""The agent in the deployment: an llm_request answered by a Beaker kernel of the service image.

The model is the scripted one (tests/agent/scripted_model.py), mounted into the service
container and named by LLM_PROVIDER_IMPORT_PATH like any provider (see conftest.py); its
run_code tool runs in the subkernel's container.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

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
