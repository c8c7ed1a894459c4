"""Actions, custom messages, notebook state and the magics, against upstream Beaker 1.14."""

from __future__ import annotations

import json

import pytest

from .conftest import Kernel, send
from .upstream import ERROR_REPLY_KEYS, OK_REPLY_KEYS, ok

PYTHON_ONLY = pytest.mark.parametrize("kernel", ["python3"], indirect=True)


def test_an_action_replies_with_its_return_value(kernel: Kernel) -> None:
    kernel.setup("protocheck", {})
    payload = {"value": [1, {"a": None}], "text": "é"}
    trace = send(kernel.client, "echo_request", payload)
    assert trace.reply["msg_type"] == "echo_reply"
    assert set(trace.content) == OK_REPLY_KEYS
    assert trace.content == ok(payload)
    assert trace.types() == ["status", "status"]
    assert trace.mine()[0]["content"] == {"execution_state": "busy"}


def test_an_action_that_raises_is_an_error_reply(kernel: Kernel) -> None:
    kernel.setup("protocheck", {})
    trace = send(kernel.client, "fail_request", {})
    assert trace.reply["msg_type"] == "fail_reply"
    assert set(trace.content) == ERROR_REPLY_KEYS
    assert trace.content["status"] == "error"
    assert trace.content["execution_count"] is None
    assert trace.content["ename"] == "ValueError"
    assert trace.content["evalue"] == "the fail action always fails"
    assert isinstance(trace.content["traceback"], list)
    assert trace.types() == ["status", "status"]


def test_a_custom_message_replies_with_its_return_value(kernel: Kernel) -> None:
    kernel.setup("protocheck", {})
    trace = send(kernel.client, "ping_request", {"n": 1})
    assert trace.reply["msg_type"] == "ping_reply"
    assert trace.content == ok({"pong": {"n": 1}})


def test_built_in_actions(kernel: Kernel) -> None:
    kernel.setup("protocheck", {"shown": True})
    kernel.run_settled(kernel.code["assign"])
    state = send(kernel.client, "get_subkernel_state_request", {})
    assert state.content["status"] == "ok"
    assert "answer" in state.content["return"]["variables"]
    # also published, before the reply, as <action>_response
    assert state.one("get_subkernel_state_response") == state.content["return"]
    preview = send(kernel.client, "get_preview_request", {})
    assert preview.content == ok({"protocheck": {"config": {"application/json": {"shown": True}}}})


# ---------------------------------------------------------------------------- magics


def test_set_context_magic(kernel: Kernel) -> None:
    kernel.setup()
    info = {"from": "magic"}
    trace = kernel.run(f"%set_context protocheck {kernel.language} {json.dumps(info)}")
    assert trace.reply["msg_type"] == "execute_reply"
    assert trace.content == {"status": "ok", "execution_count": None, "return": None}
    assert trace.types(copies=False) == [
        "status",
        "stream",
        "preview",
        "kernel_state_info",
        "context_info_update",
        "stream",
        "status",
    ]
    streams = [m["content"] for m in trace.of_type("stream")]
    assert streams == [
        {"name": "stdout", "text": "Switching from context default to protocheck...\n"},
        {"name": "stdout", "text": "Context switch complete.\n"},
    ]
    assert trace.one("context_info_update") == {}
    response = send(kernel.client, "context_info_request").one("context_info_response")
    assert (response["slug"], response["config"]) == ("protocheck", info)
    assert response["language"]["subkernel"] == kernel.subkernel


def test_run_action_magic(kernel: Kernel) -> None:
    kernel.setup("protocheck", {})
    value = {"value": [1, 2], "name": "x"}
    trace = kernel.run(f"%run_action echo {json.dumps(value)}")
    assert trace.content == {"status": "ok", "execution_count": None, "return": None}
    assert trace.types() == ["status", "stream", "stream", "execute_result", "status"]
    assert trace.stream() == "Running action `echo`...\nAction `echo` execution complete.\n"
    result = trace.one("execute_result")
    assert set(result) == {"execution_count", "data", "metadata"}
    assert result["data"] == {
        "text/plain": json.dumps(value, indent=2),
        "application/json": value,
    }
    assert result["metadata"] == {}


def test_run_action_magic_errors(kernel: Kernel) -> None:
    kernel.setup("protocheck", {})
    unknown = kernel.run("%run_action nonexistent {}")
    assert unknown.content["status"] == "error"
    assert unknown.content["evalue"] == "Unable to find an action with name `nonexistent`."
    assert unknown.one("error")["evalue"] == unknown.content["evalue"]
    raising = kernel.run("%run_action fail {}")
    assert raising.content["status"] == "error"
    assert (raising.content["ename"], raising.content["evalue"]) == (
        "ValueError",
        "the fail action always fails",
    )
    assert raising.stream() == "Running action `fail`...\n"
    # a cell that only looks like a magic is code
    code = kernel.run(kernel.code["print"] + "  # %run_action echo {}")
    assert code.content["status"] == "ok"
    assert code.stream() == "hi\n"
