"""Agent failures become short messages and status: error replies; interrupts stop runs."""

from __future__ import annotations

import socket
import time

from ..client import Exchange
from .conftest import StartAgentKernel, conversation, types_of


def _error_reply(content: dict[str, object], ename: str, status: str = "error") -> str:
    assert content["status"] == status, content
    assert content["ename"] == ename
    assert content["traceback"] == [f"{ename}: {content['evalue']}"]
    return str(content["evalue"])


def _shown(exchange: Exchange, evalue: str) -> None:
    """The error reached the front end as Terarium and beaker-ts look for it."""
    assert exchange.one("llm_response") == {"name": "error", "text": evalue}
    assert exchange.stderr() == f"LLM Error: {evalue}\n"


def test_no_model_configured(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel(configure_model=False).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Hello"})

    evalue = _error_reply(exchange.content, "ModelNotConfiguredError")
    assert "LLM_PROVIDER_IMPORT_PATH" in evalue
    assert types_of(exchange.iopub) == [
        "status",
        "llm_response",
        "stream",
        "chat_history",
        "status",
    ]
    _shown(exchange, evalue)


def test_no_context(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel(env={"BEAKER_DEFAULT_CONTEXT": "none"}).client

    exchange = client.request("llm_request", {"request": "Hello"})

    evalue = _error_reply(exchange.content, "AgentError")
    assert "context_setup_request" in evalue
    _shown(exchange, evalue)


def test_missing_request_text(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel().client
    exchange = client.request("llm_request", {})
    assert "needs 'request'" in _error_reply(exchange.content, "MessageError")


def test_provider_rejects_the_key(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel([{"raise": "auth"}]).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Hello"})

    evalue = _error_reply(exchange.content, "ModelAuthError")
    assert evalue == (
        "The LLM provider refused the credentials (Incorrect API key provided: sk-wrong). "
        "Check LLM_SERVICE_TOKEN (or the provider's own key variable), or send a "
        "set_agent_model_request with a valid token."
    )
    assert types_of(exchange.iopub) == [
        "status",
        "llm_auth_failure",
        "stream",
        "chat_history",
        "status",
    ]
    assert exchange.one("llm_auth_failure") == {"msg": evalue}
    assert exchange.stderr() == f"LLM Error: {evalue}\n"


def test_context_window_exceeded(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel([{"raise": "context_window"}, {"raise": "context_window"}]).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Hello"})

    evalue = _error_reply(exchange.content, "ContextWindowError")
    assert "set_agent_history_request" in evalue
    _shown(exchange, evalue)


def test_model_raising_an_unexpected_error(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel([{"raise": "the model broke"}]).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Hello"})

    evalue = _error_reply(exchange.content, "AgentFailedError")
    assert evalue == "The agent stopped with an error: RuntimeError: the model broke"
    _shown(exchange, evalue)
    # the kernel is fine afterwards
    assert client.run("print(1 + 1)").stdout() == "2\n"


def test_agent_gives_up(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel(
        [
            {
                "text": "",
                "tool_calls": [
                    {"name": "fail_task", "args": {"reason": "The data is missing.", "error": None}}
                ],
            }
        ]
    ).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Summarise the data"})

    evalue = _error_reply(exchange.content, "AgentFailedError")
    assert evalue == "The agent could not complete the request: The data is missing."


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_provider(agent_kernel: StartAgentKernel) -> None:
    """The real OpenAI model class of archytas, pointed at a port where nothing listens."""
    client = agent_kernel(
        configure_model=False,
        env={
            "LLM_PROVIDER_IMPORT_PATH": "archytas.models.openai:OpenAIModel",
            "LLM_SERVICE_MODEL": "gpt-4o",
            "LLM_SERVICE_TOKEN": "sk-not-a-real-key",
            "BEAKER_AGENT_MODEL_OPTIONS": f'{{"base_url": "http://127.0.0.1:{_closed_port()}/v1"}}',
            "TIKTOKEN_CACHE_DIR": "/nonexistent",
        },
    ).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Hello"}, timeout=90)

    evalue = _error_reply(exchange.content, "ModelUnreachableError")
    assert evalue.startswith("Could not reach the LLM provider (")
    _shown(exchange, evalue)


def test_interrupt_stops_the_agent(agent_kernel: StartAgentKernel) -> None:
    kernel = agent_kernel(
        [
            {
                "text": "This takes a while.",
                "tool_calls": [
                    {"name": "run_code", "args": {"code": "import time\ntime.sleep(60)"}}
                ],
            },
            {"text": "Hello again."},
        ]
    )
    client = kernel.client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    msg = client.session.msg("llm_request", {"request": "Wait a minute"})
    client.shell_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    thought = client.wait_for_iopub("llm_thought", parent_id=msg_id)
    assert thought["content"]["tool_name"] == "run_code"

    # Beaker's shell channel is free while the agent works (the subkernel is busy).
    started = time.monotonic()
    info = client.request("context_info_request", timeout=10)
    assert info.one("context_info_response")["slug"] == "default"
    assert time.monotonic() - started < 5

    interrupt = client.request("interrupt_request", channel="control", timeout=10, wait_idle=False)
    assert interrupt.content["status"] == "ok"
    exchange = client.collect(msg_id, timeout=10)

    # beaker-ts shows a reply with status "abort" as an aborted request
    evalue = _error_reply(exchange.content, "AgentInterruptedError", status="abort")
    assert evalue == "Stopped: the agent was interrupted."
    assert exchange.stderr() == "Request interrupted."
    assert conversation(exchange.one("chat_history"))[-1] == ("tool", "Interrupted by the user.")
    assert len(kernel.model_calls()) == 1

    # Both the kernel and the agent keep working.
    assert client.run("print('still here')").stdout() == "still here\n"
    again = client.request("llm_request", {"request": "Hello"})
    assert again.content == {"status": "ok", "execution_count": None, "return": None}
    assert again.one("llm_response") == {"name": "response_text", "text": "Hello again."}


def test_one_request_at_a_time(agent_kernel: StartAgentKernel) -> None:
    client = agent_kernel([{"sleep": 60, "text": "late"}]).client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    first = client.session.msg("llm_request", {"request": "One"})
    client.shell_channel.send(first)
    second = client.request("llm_request", {"request": "Two"}, timeout=10)
    evalue = _error_reply(second.content, "AgentBusyError")
    assert "interrupt_request" in evalue

    client.request("interrupt_request", channel="control", timeout=10, wait_idle=False)
    stopped = client.collect(first["header"]["msg_id"], timeout=10)
    _error_reply(stopped.content, "AgentInterruptedError", status="abort")
