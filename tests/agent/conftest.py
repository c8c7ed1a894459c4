"""Fixtures of the agent tests: Beaker kernels whose agent talks to the scripted model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from ..client import BeakerClient, start_beaker
from ..conftest import scripted_model_env


@dataclass
class AgentKernel:
    km: KernelManager
    client: BeakerClient
    log_path: Path

    def model_calls(self) -> list[dict[str, Any]]:
        """What the scripted model received, one entry per call."""
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]


StartAgentKernel = Callable[..., AgentKernel]


@pytest.fixture
def agent_kernel(tmp_path: Path) -> Iterator[StartAgentKernel]:
    """Start a Beaker kernel whose model follows ``script`` (see scripted_model.py)."""
    started: list[AgentKernel] = []

    def start(
        script: list[dict[str, Any]] | None = None,
        *,
        configure_model: bool = True,
        env: dict[str, str] | None = None,
    ) -> AgentKernel:
        script_path = tmp_path / f"script{len(started)}.json"
        script_path.write_text(json.dumps(script or []))
        log_path = tmp_path / f"model{len(started)}.log"
        kernel_env = {
            **scripted_model_env(script_path, log_path),
            "LLM_SERVICE_MODEL": "",
            "LLM_SERVICE_TOKEN": "",
        }
        if not configure_model:
            kernel_env["LLM_PROVIDER_IMPORT_PATH"] = ""
        kernel_env.update(env or {})
        km, client = start_beaker(kernel_env)
        kernel = AgentKernel(km, client, log_path)
        started.append(kernel)
        return kernel

    try:
        yield start
    finally:
        for kernel in started:
            kernel.client.stop_channels()
            if kernel.km.has_kernel:
                kernel.km.shutdown_kernel(now=False)


def types_of(messages: list[dict[str, Any]], *, copies: bool = False) -> list[str]:
    """The message types, without Beaker's beaker__ copies of its own executions."""
    return [m["msg_type"] for m in messages if copies or not m["msg_type"].startswith("beaker__")]


def conversation(chat_history: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, text) of each record of a chat_history message, the system message left out."""
    return [
        (record["message"]["type"], record["message"]["text"])
        for record in chat_history["records"]
        if record["message"]["type"] != "system"
    ]
