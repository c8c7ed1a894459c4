"""Context messages, field by field against upstream Beaker 1.14.

``context_setup_request``, ``context_info_request``, ``beaker_session_info_request``,
``reset_request`` and the default context set up at start, in Python, R and Julia.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kernel, keys, send
from .upstream import (
    ACTION_KEYS,
    AGENT_KEYS,
    BUILT_IN_ACTIONS,
    CHAT_HISTORY_KEYS,
    CONTEXT_INFO_KEYS,
    CUSTOM_MESSAGE_KEYS,
    DEBUG_EVENT_KEYS,
    INFO_KEYS,
    LANGUAGE_KEYS,
    NO_CONTEXT,
    OK_REPLY_KEYS,
    WORKFLOW_INFO,
    ok,
)

PYTHON_ONLY = pytest.mark.parametrize("kernel", ["python3"], indirect=True)
PAYLOAD = {"zeta": 1, "alpha": {"nested": [1, 2]}}


def check_info(info: dict[str, Any], kernel: Kernel, *, debug: bool = False) -> None:
    """``get_info()`` of the protocheck context, as upstream shapes it."""
    assert keys(info) == INFO_KEYS
    assert (info["language"], info["subkernel"]) == (kernel.display_name, kernel.subkernel)
    actions = info["actions"]
    assert keys(actions) >= BUILT_IN_ACTIONS | {"rollback", "add_checkpoint"}
    for name, described in actions.items():
        assert keys(described) == ACTION_KEYS, name
        assert described["intercept"] == f"{name}_request"
        assert isinstance(described["func"], str)
        assert described["func"]
        assert described["docs"] is None or isinstance(described["docs"], str)
    assert actions["echo"]["docs"] == "Returns its payload."
    assert actions["echo"]["default_payload"] == '{"value": 1}'
    assert actions["fail"]["default_payload"] is None
    assert actions["get_subkernel_state"]["default_payload"] == "{}"
    assert info["custom_messages"] == {
        "ping_request": {
            "func": info["custom_messages"]["ping_request"]["func"],
            "docs": "A custom message (not an action).",
            "default_payload": None,
        }
    }
    assert keys(info["custom_messages"]["ping_request"]) == CUSTOM_MESSAGE_KEYS
    assert isinstance(info["custom_messages"]["ping_request"]["func"], str)
    assert isinstance(info["procedures"], list)
    assert all(isinstance(p, str) for p in info["procedures"])
    assert info["workflow_info"] == WORKFLOW_INFO
    agent = info["agent"]
    assert keys(agent) == AGENT_KEYS
    assert agent["name"] == "ProtocolCheckAgent"
    assert keys(agent["tools"]) >= {"run_code", "ask_user", "read_notebook"}
    assert agent["tools"]["read_notebook"].startswith("Read the user's notebook.")
    assert agent["agent_prompt"] == "You check the protocol (tests)."
    assert all(isinstance(doc, str) and doc for doc in agent["tools"].values())
    assert isinstance(agent["agent_prompt"], str)
    assert info["debug"] is debug
    assert info["verbose"] is False


def test_setup_answers_with_the_context_info_after_preview_and_state(kernel: Kernel) -> None:
    kernel.client.drain_iopub()
    trace = kernel.setup("protocheck", {"b": 1, "a": 2})
    assert trace.reply["msg_type"] == "context_setup_reply"
    assert trace.content == ok()
    assert trace.types(copies=False) == [
        "status",
        "preview",
        "kernel_state_info",
        "context_setup_response",
        "status",
    ]
    assert trace.one("preview") == {
        "protocheck": {"config": {"application/json": {"b": 1, "a": 2}}}
    }
    state = trace.one("kernel_state_info")
    assert keys(state) == {"x-application/beaker-subkernel-state"}
    assert keys(state["x-application/beaker-subkernel-state"]) == {"application/json"}
    check_info(trace.one("context_setup_response"), kernel)
    # the reply comes after the response (beaker-ts's future is done with reply + idle)
    response = trace.of_type("context_setup_response")[0]
    assert trace.reply["header"]["date"] >= response["header"]["date"]


def test_setup_without_a_language_is_python(kernel: Kernel) -> None:
    trace = send(kernel.client, "context_setup_request", {"context": "protocheck"})
    assert trace.content == ok()
    info = trace.one("context_setup_response")
    assert (info["language"], info["subkernel"]) == ("Python 3", "python3")
    # context_info missing → {} (upstream's default)
    response = send(kernel.client, "context_info_request").one("context_info_response")
    assert response["config"] == {}
    assert response["language"] == {"slug": "python3", "subkernel": "python3"}
    kernel.setup()  # back to this kernel's language


def test_null_context_info_means_the_default_payload(kernel: Kernel) -> None:
    trace = send(
        kernel.client,
        "context_setup_request",
        {"context": "protocheck", "language": kernel.language, "context_info": None},
    )
    assert trace.content == ok()
    config = send(kernel.client, "context_info_request").one("context_info_response")["config"]
    assert config == PAYLOAD
    assert list(config) == ["zeta", "alpha"]  # beaker-ts compares JSON.stringify results


def test_debug_and_verbose(kernel: Kernel) -> None:
    try:
        trace = kernel.setup("protocheck", {}, debug=True, verbose=True)
        event = trace.mine()[1]
        assert event["msg_type"] == "debug_event"
        assert keys(event["content"]) == DEBUG_EVENT_KEYS
        assert event["content"] == {
            "seq": 0,
            "type": "event",
            "event": "debug_update",
            "body": {"debug_enabled": True, "verbose": True},
        }
        info = trace.one("context_setup_response")
        assert (info["debug"], info["verbose"]) == (True, True)
        # applied only when given as booleans; debug stays on
        trace = kernel.setup("protocheck", {}, debug="no", verbose=None)
        info = trace.one("context_setup_response")
        assert (info["debug"], info["verbose"]) == (True, True)
    finally:
        trace = kernel.setup("protocheck", {}, debug=False, verbose=False)
    # debug off: no debug events
    assert "debug_event" not in trace.types()
    info = trace.one("context_setup_response")
    assert (info["debug"], info["verbose"]) == (False, False)


def test_context_info_response(kernel: Kernel) -> None:
    setup = kernel.setup("protocheck", {"b": 1, "a": [2]})
    trace = send(kernel.client, "context_info_request", {})
    assert trace.reply["msg_type"] == "context_info_reply"
    assert trace.content == ok()
    assert trace.types() == ["status", "context_info_response", "chat_history", "status"]
    response = trace.one("context_info_response")
    assert keys(response) == CONTEXT_INFO_KEYS
    assert response["slug"] == "protocheck"
    assert response["class"].endswith(".ProtocolCheckContext")
    assert response["config"] == {"b": 1, "a": [2]}
    assert list(response["config"]) == ["b", "a"]
    assert keys(response["language"]) == LANGUAGE_KEYS
    assert response["language"] == {"slug": kernel.language, "subkernel": kernel.subkernel}
    assert response["info"] == setup.one("context_setup_response")
    check_info(response["info"], kernel)


def test_the_agent_is_described_alike_before_and_after_it_exists(kernel: Kernel) -> None:
    kernel.script([{"text": "Hello."}], context="protocheck")
    before = send(kernel.client, "context_info_request", {})
    # no agent yet: an empty conversation of the same shape, naming the model
    history = before.one("chat_history")
    assert keys(history) == CHAT_HISTORY_KEYS
    assert history["records"] == []
    assert history["model"]["provider"] == "ScriptedModel"
    assert send(kernel.client, "llm_request", {"request": "Hi"}).content == ok()
    after = send(kernel.client, "context_info_request", {})
    assert after.types() == ["status", "context_info_response", "chat_history", "status"]
    assert keys(after.one("chat_history")) == CHAT_HISTORY_KEYS
    assert after.one("chat_history")["records"]
    # described without importing the agent's module, and from the agent itself: the same
    info = after.one("context_info_response")["info"]
    assert info == before.one("context_info_response")["info"]


def test_beaker_session_info(kernel: Kernel) -> None:
    setup = kernel.setup("protocheck", {"k": 1})
    trace = send(kernel.client, "beaker_session_info_request", {})
    assert trace.reply["msg_type"] == "beaker_session_info_reply"
    assert keys(trace.content) == OK_REPLY_KEYS
    assert trace.content == ok(setup.one("context_setup_response"))
    assert trace.types() == ["status", "status"]


def test_reset_starts_a_fresh_subkernel_with_the_same_context(kernel: Kernel) -> None:
    kernel.setup("protocheck", {"k": 1})
    assert kernel.run(kernel.code["assign"]).content["status"] == "ok"
    assert kernel.run(kernel.code["read"]).content["execution_count"] > 1
    kernel.client.drain_iopub()
    trace = send(kernel.client, "reset_request", {}, timeout=180)
    assert trace.reply["msg_type"] == "reset_reply"
    assert trace.content == ok(True)
    assert trace.types(copies=False) == [
        "status",
        "preview",
        "kernel_state_info",
        "chat_history",
        "status",
    ]
    # a new subkernel: it counts cells from 1, and the variable is gone
    gone = kernel.run(kernel.code["read"])
    assert gone.content["status"] == "error"
    assert gone.content["execution_count"] == 1
    response = send(kernel.client, "context_info_request").one("context_info_response")
    assert (response["slug"], response["config"]) == ("protocheck", {"k": 1})
    assert response["language"] == {"slug": kernel.language, "subkernel": kernel.subkernel}


def test_without_a_context_the_placeholder_has_every_field(python_kernel: Any) -> None:
    kernel = python_kernel({"BEAKER_DEFAULT_CONTEXT": "none"})
    trace = send(kernel.client, "context_info_request", {})
    assert trace.content == ok()
    assert trace.types() == ["status", "context_info_response", "status"]
    response = trace.one("context_info_response")
    assert keys(response) == CONTEXT_INFO_KEYS
    assert {k: response[k] for k in NO_CONTEXT} == NO_CONTEXT
    info = response["info"]
    assert keys(info) == INFO_KEYS
    assert (info["language"], info["subkernel"]) == ("Not set", "Not set")
    assert (info["actions"], info["custom_messages"], info["procedures"]) == ({}, {}, [])
    assert info["workflow_info"] == WORKFLOW_INFO
    assert info["agent"] is None
    assert (info["debug"], info["verbose"]) == (False, False)
    session = send(kernel.client, "beaker_session_info_request", {})
    assert session.content == ok(info)
    # the subkernel works all the same
    assert kernel.run("print(6 * 7)").stream() == "42\n"


def test_a_fresh_kernel_has_its_default_context_at_once(python_kernel: Any) -> None:
    # beaker-ts asks for the active context as soon as the kernel is connected
    kernel = python_kernel(wait=False)
    trace = send(kernel.client, "context_info_request", {}, timeout=120)
    response = trace.one("context_info_response")
    assert response["slug"] == "default"
    assert response["config"] == {}
    assert response["language"] == {"slug": "python3", "subkernel": "python3"}
    assert response["info"]["subkernel"] == "python3"


def test_a_setup_sent_at_start_is_not_overtaken_by_the_default_context(
    python_kernel: Any,
) -> None:
    # Terarium sends its context_setup_request right after the kernel starts
    kernel = python_kernel(wait=False)
    msg = kernel.client.session.msg(
        "context_setup_request",
        {"context": "protocheck", "language": "python3", "context_info": {"t": 1}},
    )
    kernel.client.shell_channel.send(msg)
    early = kernel.client.session.msg("echo_request", {"early": True})
    kernel.client.shell_channel.send(early)
    assert kernel.client.collect(msg["header"]["msg_id"], timeout=120).content == ok()
    assert kernel.client.collect(early["header"]["msg_id"]).content == ok({"early": True})
    time.sleep(1)
    response = send(kernel.client, "context_info_request").one("context_info_response")
    assert (response["slug"], response["config"]) == ("protocheck", {"t": 1})


@pytest.mark.r
def test_default_context_from_the_environment(python_kernel: Any, csv_file: Path) -> None:
    payload = {"path": str(csv_file), "variable": "cities"}
    kernel = python_kernel(
        {
            "BEAKER_DEFAULT_CONTEXT": "dataset",
            "BEAKER_DEFAULT_CONTEXT_PAYLOAD": json.dumps(payload),
            "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "rlang",
        },
        wait=False,
    )
    response = send(kernel.client, "context_info_request", {}, timeout=120).one(
        "context_info_response"
    )
    assert response["slug"] == "dataset"
    assert response["config"] == payload
    assert response["language"] == {"slug": "rlang", "subkernel": "ir"}
    assert kernel.run("cat(nrow(cities))").stream() == "4"


def test_default_context_debug_and_verbose_from_the_environment(python_kernel: Any) -> None:
    kernel = python_kernel(
        {"BEAKER_DEFAULT_CONTEXT_DEBUG": "true", "BEAKER_DEFAULT_CONTEXT_VERBOSE": "True"}
    )
    info = send(kernel.client, "context_info_request").one("context_info_response")["info"]
    assert (info["debug"], info["verbose"]) == (True, True)
