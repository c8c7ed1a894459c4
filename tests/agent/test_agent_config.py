"""Model configuration, chat history as plain JSON, and the LLM stack loaded only on use."""

from __future__ import annotations

import os
import re
from pathlib import Path

from jupyter_client.manager import KernelManager

from ..client import BeakerClient
from .conftest import REPO, SCRIPTED_MODEL, StartAgentKernel


def test_set_agent_model(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel([{"text": "Hello from the script."}], configure_model=False).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    assert client.request("llm_request", {"request": "Hi"}).content["status"] == "error"

    bad = client.request("set_agent_model_request", {"provider": "no_such_module:Model"})
    assert bad.content["status"] == "error"
    assert bad.content["evalue"].startswith(
        "LLM_PROVIDER_IMPORT_PATH: cannot import 'no_such_module'"
    )

    chosen = client.request(
        "set_agent_model_request",
        {"provider": SCRIPTED_MODEL, "model": "scripted-large", "token": "secret-token"},
    )
    assert chosen.reply["msg_type"] == "set_agent_model_reply"
    assert chosen.content == {"status": "ok", "provider": SCRIPTED_MODEL, "model": "scripted-large"}

    answered = client.request("llm_request", {"request": "Hi"})
    assert answered.content == {"status": "ok"}
    assert answered.of_type("llm_response") == [
        {"name": "response_text", "text": "Hello from the script."}
    ]


def test_history_round_trips_as_plain_json(agent_kernel: StartAgentKernel) -> None:
    first = agent_kernel([{"text": "Four rows."}]).client
    assert first.setup_context("default", "python3").content["status"] == "ok"
    assert first.request("llm_request", {"request": "How many rows?"}).content["status"] == "ok"
    saved = first.request("get_agent_history_request")
    assert saved.reply["msg_type"] == "get_agent_history_reply"
    history = saved.content["return"]
    assert history["version"] == 1
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "tool"]
    assert history["messages"][0] == {"role": "user", "content": "How many rows?"}

    # A new kernel takes the saved history before its agent exists ...
    kernel = agent_kernel([{"text": "Still four."}])
    second = kernel.client
    assert second.setup_context("default", "python3").content["status"] == "ok"
    assert second.request("get_agent_history_request").content["return"] == {
        "version": 1,
        "messages": [],
    }
    stored = second.request("set_agent_history_request", {"history": history})
    assert stored.content == {"status": "ok", "return": {"messages": 3}}
    assert second.request("get_agent_history_request").content["return"] == history

    # ... and the model sees it on the next request.
    assert second.request("llm_request", {"request": "And now?"}).content["status"] == "ok"
    [call] = kernel.model_calls()
    contents = [m["content"] for m in call["messages"]]
    assert contents[1:3] == ["How many rows?", "Four rows."]
    assert contents[-2] == "And now?"
    after = second.request("get_agent_history_request").content["return"]
    assert after["messages"][:3] == history["messages"]
    assert after["messages"][3] == {"role": "user", "content": "And now?"}


def test_history_rejects_anything_but_plain_messages(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel().client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    objects = {
        "version": 1,
        "messages": [
            {
                "lc": 1,
                "type": "constructor",
                "id": ["langchain", "schema", "messages", "HumanMessage"],
                "kwargs": {"content": "hi"},
            }
        ],
    }
    refused = client.request("set_agent_history_request", {"history": objects})
    assert refused.content["status"] == "error"
    assert refused.content["ename"] == "MessageError"
    assert refused.content["evalue"] == (
        "history.messages[0].role must be one of user, assistant, tool, got None"
    )
    orphan = {"messages": [{"role": "tool", "tool_call_id": "x", "content": "4"}]}
    refused = client.request("set_agent_history_request", {"history": orphan})
    assert "must name a tool call of an earlier assistant message" in refused.content["evalue"]
    assert client.request("get_agent_history_request").content["return"]["messages"] == []


def test_tools_follow_tool_enabled(agent_kernel: StartAgentKernel) -> None:
    kernel = agent_kernel(
        [{"text": "Done."}],
        env={"TOOL_ENABLED_RUN_CODE": "false", "TOOL_ENABLED_ASK_USER": "False"},
    )
    client = kernel.client
    setup = client.setup_context("default", "python3")
    assert setup.content["agent"]["tools"] == ["generate_code", "inspect_variables"]
    assert client.request("llm_request", {"request": "Hi"}).content["status"] == "ok"
    [call] = kernel.model_calls()
    assert call["tools"] == [
        "generate_code",
        "inspect_variables",
        "retrieve_summarized_messages_of_summary",
    ]
    assert client.request("context_info_request").content["agent"]["tools"] == [
        "generate_code",
        "inspect_variables",
    ]


def test_llm_stack_is_imported_only_when_the_agent_is_used(tmp_path: Path) -> None:
    """Python's import log of the real kernel process (PYTHONPROFILEIMPORTTIME)."""
    log = tmp_path / "imports.log"
    env = {
        "PYTHONPATH": str(REPO),
        "PYTHONPROFILEIMPORTTIME": "1",
        "LLM_PROVIDER_IMPORT_PATH": SCRIPTED_MODEL,
        "BEAKER_TEST_MODEL_SCRIPT": str(tmp_path / "script.json"),
    }
    (tmp_path / "script.json").write_text('[{"text": "Hi."}]')

    def imported() -> set[str]:
        names = set()
        for line in log.read_text().splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", line)
            if match:
                names.add(match.group(1).split(".")[0])
        return names

    with log.open("w") as stderr:
        km = KernelManager(kernel_name="beaker_kernel", client_class="tests.client.BeakerClient")
        km.start_kernel(env={**os.environ, **env}, stderr=stderr)
        client: BeakerClient = km.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            for language in ("python3", "rlang"):
                assert client.setup_context("default", language).content["status"] == "ok"
                assert client.setup_context("dataset", language, {"path": "x.csv"}).content[
                    "status"
                ] in ("ok", "error")
            assert client.setup_context("default", "python3").content["status"] == "ok"
            assert client.run("x = 1").content["status"] == "ok"
            assert client.request("get_agent_history_request").content["status"] == "ok"
            assert client.request("context_info_request").content["status"] == "ok"
            stderr.flush()
            before = imported()
            assert "beaker_kernel" in before  # the log is the kernel's
            assert not before & {"archytas", "langchain", "langchain_core", "openai"}

            assert client.request("llm_request", {"request": "Hi"}).content["status"] == "ok"
            stderr.flush()
            assert {"archytas", "langchain_core"} <= imported()
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=False)
