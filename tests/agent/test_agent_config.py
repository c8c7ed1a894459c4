"""Model choice, chat history, and the LLM stack loaded only on use."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..client import BeakerClient, beaker_manager, imported_modules, start_ready
from ..conftest import SCRIPTED_MODEL, scripted_model_env
from .conftest import StartAgentKernel

ALLOWED = json.dumps(
    {"scripted": {"import_path": SCRIPTED_MODEL, "models": ["scripted", "scripted-large"]}}
)


def test_set_agent_model_chooses_among_the_allowed_models(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel(
        [{"text": "Hello from the script."}],
        configure_model=False,
        env={"BEAKER_AGENT_ALLOWED_MODELS": ALLOWED},
    ).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    assert client.request("llm_request", {"request": "Hi"}).content["status"] == "error"

    unknown = client.request("set_agent_model", {"provider_id": "no_such_provider"})
    assert unknown.reply["msg_type"] == "set_agent_model_reply"
    assert unknown.content["status"] == "error"
    assert (
        "Unknown or disallowed provider 'no_such_provider'. Allowed: scripted."
        in (unknown.content["evalue"])
    )
    other_model = client.request(
        "set_agent_model", {"provider_id": "scripted", "model_config": {"model_name": "gpt-x"}}
    )
    assert "Model 'gpt-x' is not allowed for provider 'scripted'" in other_model.content["evalue"]

    chosen = client.request(
        "set_agent_model",
        {"provider_id": "scripted", "model_config": {"model_name": "scripted-large"}},
    )
    assert chosen.content == {
        "status": "ok",
        "execution_count": None,
        "return": {
            "provider_id": "scripted",
            "provider": SCRIPTED_MODEL,
            "model": "scripted-large",
        },
    }

    answered = client.request("llm_request", {"request": "Hi"})
    assert answered.content["status"] == "ok"
    assert answered.one("llm_response") == {
        "name": "response_text",
        "text": "Hello from the script.",
    }
    # once the agent exists, a model change is followed by its chat history
    again = client.request("set_agent_model", {"provider_id": "scripted"})
    assert again.content["status"] == "ok"
    assert again.one("chat_history")["model"]["model_name"] == "scripted"


def test_a_client_cannot_redirect_the_model_or_its_key(agent_kernel: StartAgentKernel) -> None:
    """A listener started by user code must never receive the operator's key."""
    kernel = agent_kernel(
        [{"text": "Hi."}],
        env={"LLM_SERVICE_TOKEN": "sk-operator-secret", "BEAKER_AGENT_ALLOWED_MODELS": ALLOWED},
    )
    client = kernel.client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    listener = client.run(
        "import socket, threading\n"
        "received = []\n"
        "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen()\n"
        "def serve():\n"
        "    while True:\n"
        "        conn, _ = server.accept(); received.append(conn.recv(65536)); conn.close()\n"
        "threading.Thread(target=serve, daemon=True).start()\n"
        "print(server.getsockname()[1])"
    )
    port = int(listener.stdout())
    for model_config in (
        {"base_url": f"http://127.0.0.1:{port}/v1"},
        {"model_name": "scripted", "api_base": f"http://127.0.0.1:{port}"},
        {"api_key": "sk-attacker", "model_name": "scripted"},
        {"import_path": "os.system"},
    ):
        for provider_id in ("default", "scripted"):
            refused = client.request(
                "set_agent_model", {"provider_id": provider_id, "model_config": model_config}
            )
            assert refused.content["status"] == "error", model_config
            assert "cannot be set by a client" in refused.content["evalue"]
    odd = client.request("set_agent_model", {"provider": "os:system", "model": "x"})
    assert odd.content["status"] == "error"
    assert "provider_id" in odd.content["evalue"]
    assert client.request("llm_request", {"request": "Hi"}).content["status"] == "ok"
    assert client.run("print(received)").stdout() == "[]\n"
    assert "os" not in {call.get("provider") for call in kernel.model_calls()}


def test_history_round_trips(agent_kernel: StartAgentKernel) -> None:
    first = agent_kernel([{"text": "Four rows."}]).client
    assert first.setup_context("default", "python3").content["status"] == "ok"
    assert first.request("llm_request", {"request": "How many rows?"}).content["status"] == "ok"
    saved = first.request("get_agent_history_request")
    assert saved.reply["msg_type"] == "get_agent_history_reply"
    history = saved.content["return"]
    # upstream's form: serialised LangChain messages, the system message first
    kinds = [json.loads(item)["id"][-1] for item in history]
    assert kinds == ["SystemMessage", "HumanMessage", "AIMessage", "ToolMessage"]
    assert json.loads(history[1])["kwargs"]["content"] == "How many rows?"

    # A new kernel takes the saved history ...
    kernel = agent_kernel([{"text": "Still four."}])
    second = kernel.client
    assert second.setup_context("default", "python3").content["status"] == "ok"
    stored = second.request_list("set_agent_history_request", history)
    assert stored.content["status"] == "ok", stored.content
    assert stored.content["return"] == {"messages": 3}
    restored = second.request("get_agent_history_request").content["return"]
    assert [json.loads(item)["kwargs"]["content"] for item in restored[1:]] == [
        json.loads(item)["kwargs"]["content"] for item in history[1:]
    ]

    # ... and the model sees it on the next request.
    assert second.request("llm_request", {"request": "And now?"}).content["status"] == "ok"
    [call] = kernel.model_calls()
    contents = [m["content"] for m in call["messages"]]
    assert contents[1:3] == ["How many rows?", "Four rows."]
    assert "And now?" in contents


def test_history_is_read_as_data_only(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel().client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    dangerous = [
        json.dumps(
            {
                "lc": 1,
                "type": "constructor",
                "id": ["langchain_community", "utilities", "PythonREPL"],
                "kwargs": {},
            }
        )
    ]
    refused = client.request_list("set_agent_history_request", dangerous)
    assert refused.content["status"] == "error"
    assert refused.content["ename"] == "MessageError"
    assert (
        "only SystemMessage, HumanMessage, AIMessage, ToolMessage are accepted"
        in (refused.content["evalue"])
    )
    secret = [json.dumps({"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]})]
    refused = client.request_list("set_agent_history_request", secret)
    assert "is not a serialised message" in refused.content["evalue"]
    assert client.request("get_agent_history_request").content["return"][1:] == []


def test_tools_follow_tool_enabled(agent_kernel: StartAgentKernel) -> None:
    kernel = agent_kernel(
        [{"text": "Done."}],
        env={"TOOL_ENABLED_RUN_CODE": "false", "TOOL_ENABLED_ASK_USER": "False"},
    )
    client = kernel.client
    setup = client.setup_context("default", "python3")
    assert sorted(setup.info["agent"]["tools"]) == ["generate_code", "inspect_variables"]
    assert client.request("llm_request", {"request": "Hi"}).content["status"] == "ok"
    [call] = kernel.model_calls()
    assert call["tools"] == [
        "generate_code",
        "inspect_variables",
        "retrieve_summarized_messages_of_summary",
    ]
    info = client.request("context_info_request").one("context_info_response")
    assert sorted(info["info"]["agent"]["tools"]) == ["generate_code", "inspect_variables"]


def test_llm_stack_is_imported_only_when_the_agent_is_used(tmp_path: Path) -> None:
    """Python's import log of the real kernel process (PYTHONPROFILEIMPORTTIME)."""
    log = tmp_path / "imports.log"
    env = {**scripted_model_env(tmp_path / "script.json"), "PYTHONPROFILEIMPORTTIME": "1"}
    (tmp_path / "script.json").write_text('[{"text": "Hi."}]')

    with log.open("w") as stderr:
        client: BeakerClient
        km, client = start_ready(beaker_manager, 60, env={**os.environ, **env}, stderr=stderr)
        try:
            for language in ("python3", "rlang"):
                assert client.setup_context("default", language).content["status"] == "ok"
                assert client.setup_context("dataset", language, {"path": "x.csv"}).content[
                    "status"
                ] in ("ok", "error")
            assert client.setup_context("default", "python3").content["status"] == "ok"
            assert client.run("x = 1").content["status"] == "ok"
            info = client.request("context_info_request").one("context_info_response")
            # the agent's tools are described from its source, without importing it
            assert "run_code" in info["info"]["agent"]["tools"]
            stderr.flush()
            before = imported_modules(log)
            assert "beaker_kernel" in before  # the log is the kernel's
            assert not before & {"archytas", "langchain", "langchain_core", "openai"}

            assert client.request("llm_request", {"request": "Hi"}).content["status"] == "ok"
            stderr.flush()
            assert {"archytas", "langchain_core"} <= imported_modules(log)
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=False)
