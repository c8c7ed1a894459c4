"""The agent's messages, field by field against upstream Beaker 1.14 (scripted model)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .conftest import Kernel, Trace, collect, keys, send
from .upstream import (
    AI_MESSAGE_KEYS,
    CHAT_HISTORY_KEYS,
    CHILD_CELL_KEYS,
    ERROR_REPLY_KEYS,
    EXECUTE_CONTENT,
    EXECUTE_REQUEST_MSG_KEYS,
    MESSAGE_KEYS,
    MODEL_KEYS,
    OK_REPLY_KEYS,
    RECORD_KEYS,
    TOOL_MESSAGE_KEYS,
    ok,
)

PYTHON_ONLY = pytest.mark.parametrize("kernel", ["python3"], indirect=True)


def ask(kernel: Kernel, text: str, **metadata: Any) -> Trace:
    return send(kernel.client, "llm_request", {"request": text}, metadata=metadata or None)


def run_code_script(code: str) -> list[dict[str, Any]]:
    return [
        {"text": "I will run it.", "tool_calls": [{"name": "run_code", "args": {"code": code}}]},
        {"text": "Done: {last_tool_output}"},
    ]


def test_run_code_fills_a_child_cell(kernel: Kernel) -> None:
    code = kernel.code["double"]
    kernel.script(run_code_script(code))
    kernel.run_settled(kernel.code["assign"])
    trace = ask(kernel, "What is twice the answer?")
    assert trace.reply["msg_type"] == "llm_reply"
    assert trace.content == ok()
    assert trace.types(copies=False) == [
        "status",
        "llm_thought",
        "add_child_codecell",
        "preview",
        "kernel_state_info",
        "llm_response",
        "chat_history",
        "status",
    ]
    assert trace.one("llm_thought") == {
        "thought": "I will run it.",
        "tool_name": "run_code",
        "tool_input": {"code": code},
    }
    child = trace.one("add_child_codecell")
    # checkpoints are on by default: the cell can be rolled back to before the code ran
    assert keys(child) == CHILD_CELL_KEYS | {"checkpoint_index"}
    assert isinstance(child["checkpoint_index"], int)
    assert (child["action"], child["language"], child["code"], child["autoexecute"]) == (
        "code_cell",
        kernel.language,
        code,
        True,
    )
    request = child["execute_request_msg"]
    assert keys(request) == EXECUTE_REQUEST_MSG_KEYS
    assert request["header"]["msg_type"] == "execute_request"
    assert request["parent_header"]["msg_id"] == trace.msg_id
    assert request["metadata"] == {"trusted": True}
    assert request["content"] == {**EXECUTE_CONTENT, "code": code}
    child_id = request["header"]["msg_id"]

    # the child cell is announced before any message of its execution, which then runs
    # visibly, parented to the announced request
    order = [m["msg_type"] for m in trace.iopub]
    parents = [m["parent_header"].get("msg_id") for m in trace.iopub]
    announced = order.index("add_child_codecell")
    first_child = parents.index(child_id)
    assert announced < first_child
    execution = [m for m in trace.iopub if m["parent_header"].get("msg_id") == child_id]
    assert [m["msg_type"] for m in execution] == ["status", "execute_input", "stream", "status"]
    assert execution[1]["content"]["code"] == code
    assert execution[2]["content"]["text"].strip() == "84"
    # preview and state after the child's idle
    last_child = len(parents) - 1 - parents[::-1].index(child_id)
    preview = next(
        i
        for i, m in enumerate(trace.iopub)
        if m["msg_type"] == "preview" and parents[i] == trace.msg_id
    )
    assert preview > last_child
    # the child's reply went to this client, before the llm_reply
    (child_reply,) = [r for r in trace.other_replies if r["parent_header"]["msg_id"] == child_id]
    assert child_reply["msg_type"] == "execute_reply"
    assert child_reply["content"]["status"] == "ok"
    assert trace.one("llm_response")["name"] == "response_text"
    assert trace.one("llm_response")["text"].startswith("Done: 84")
    # the code ran in the user's session
    assert kernel.run(kernel.code["read"]).content["status"] == "ok"


@PYTHON_ONLY
def test_a_verbose_agent_sends_observations(kernel: Kernel) -> None:
    kernel.script(run_code_script("print(2 + 2)"))
    kernel.setup(verbose=True)
    try:
        trace = ask(kernel, "Add.")
        assert trace.content == ok()
        assert trace.one("llm_observation") == {"observation": "4"}
        types = trace.types(copies=False)
        assert types.index("add_child_codecell") < types.index("llm_observation")
        assert types.index("llm_observation") < types.index("llm_response")
    finally:
        kernel.setup(verbose=False)
    kernel.script(run_code_script("print(2 + 2)"))
    assert "llm_observation" not in ask(kernel, "Add.").types()


@PYTHON_ONLY
def test_a_code_cell_for_the_user(kernel: Kernel) -> None:
    kernel.script(
        [
            {"text": "", "tool_calls": [{"name": "generate_code", "args": {"code": "x = 1"}}]},
            {"text": "Added."},
        ]
    )
    trace = ask(kernel, "Write code.")
    assert trace.content == ok()
    assert trace.one("code_cell") == {"language": "python3", "code": "x = 1"}
    assert trace.types(copies=False).index("code_cell") < trace.types().index("llm_response")


@PYTHON_ONLY
def test_agent_errors_reach_the_front_end(kernel: Kernel) -> None:
    kernel.script([{"raise": "error"}])
    trace = ask(kernel, "Fail.")
    assert trace.reply["msg_type"] == "llm_reply"
    assert keys(trace.content) == ERROR_REPLY_KEYS
    assert trace.content["status"] == "error"
    assert trace.stream("stderr").startswith("LLM Error: ")
    response = trace.one("llm_response")
    assert response["name"] == "error"
    assert response["text"] == trace.content["evalue"]
    assert trace.types(copies=False)[-2:] == ["chat_history", "status"]

    kernel.script([{"raise": "auth"}])
    trace = ask(kernel, "Fail.")
    assert trace.content["ename"] == "ModelAuthError"
    failure = trace.one("llm_auth_failure")
    assert keys(failure) == {"msg"}
    assert failure["msg"] == trace.content["evalue"]
    assert trace.stream("stderr") == f"LLM Error: {failure['msg']}\n"


@PYTHON_ONLY
def test_an_interrupt_stops_the_agent(kernel: Kernel) -> None:
    kernel.script([{"sleep": 60, "text": "too late"}])
    client = kernel.client
    msg = client.session.msg("llm_request", {"request": "Wait."})
    client.shell_channel.send(msg)
    time.sleep(1.5)
    client.control_channel.send(client.session.msg("interrupt_request", {}))
    trace = collect(client, msg, timeout=30)
    assert trace.content["status"] == "abort"
    assert trace.stream("stderr") == "Request interrupted."
    client.get_control_msg(timeout=10)
    kernel.script([{"text": "Back."}])
    assert ask(kernel, "Again?").one("llm_response") == {"name": "response_text", "text": "Back."}


@PYTHON_ONLY
def test_set_agent_model(kernel: Kernel) -> None:
    kernel.script([])
    for msg_type in ("set_agent_model", "set_agent_model_request"):
        trace = send(kernel.client, msg_type, {"provider_id": "default"})
        assert trace.reply["msg_type"] == "set_agent_model_reply"
        assert keys(trace.content) == OK_REPLY_KEYS
        assert trace.content["status"] == "ok"
        # front ends show the model from the chat history that follows
        assert trace.types() == ["status", "chat_history", "status"]
        assert trace.one("chat_history")["model"]["provider"] == "ScriptedModel"
    assert send(kernel.client, "set_agent_model", {}).content["status"] == "ok"


def check_chat_history(history: dict[str, Any]) -> None:
    """archytas's OutboundChatHistory, field by field."""
    assert keys(history) == CHAT_HISTORY_KEYS
    assert isinstance(history["system_message"], str)
    assert history["system_message"]
    assert keys(history["model"]) == MODEL_KEYS
    assert history["model"]["provider"] == "ScriptedModel"
    assert history["model"]["context_window"] == 100_000
    for name in (
        "tool_token_usage_estimate",
        "token_estimate",
        "message_token_count",
        "summary_token_count",
        "overhead_token_count",
    ):
        assert isinstance(history[name], int), name
    assert history["summarization_threshold"] is None or isinstance(
        history["summarization_threshold"], int
    )
    expected = {"human": MESSAGE_KEYS, "system": MESSAGE_KEYS}
    expected |= {"ai": AI_MESSAGE_KEYS, "tool": TOOL_MESSAGE_KEYS}
    seen = []
    for record in history["records"]:
        assert keys(record) == RECORD_KEYS
        message = record["message"]
        assert keys(message) == expected[message["type"]], message["type"]
        assert isinstance(message["text"], str)
        assert message["raw_content"] == message["content"]
        assert isinstance(record["uuid"], str)
        assert record["token_count"] is None or isinstance(record["token_count"], int)
        assert isinstance(record["metadata"], dict)
        # a 128-bit integer: clients whose JSON numbers are doubles read it as a float
        assert record["react_loop_id"] is None or isinstance(record["react_loop_id"], (int, float))
        seen.append(message["type"])
    # archytas answers the final answer's tool call (final_answer) with a tool message
    assert [t for t in seen if t != "system"] == ["human", "ai", "tool", "ai", "tool"]


@PYTHON_ONLY
def test_chat_history_and_history_actions(kernel: Kernel) -> None:
    kernel.script(run_code_script("print('seen')"))
    trace = ask(kernel, "Run it.")
    check_chat_history(trace.one("chat_history"))

    got = send(kernel.client, "get_agent_history_request", {})
    assert got.content["status"] == "ok"
    history = got.content["return"]
    assert isinstance(history, list)
    assert all(isinstance(item, str) for item in history)
    decoded = [json.loads(item) for item in history]
    assert all(d["type"] == "constructor" for d in decoded)
    kinds = [d["id"][-1] for d in decoded]
    assert kinds[:5] == ["SystemMessage", "HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]

    # upstream's set_agent_history: content is that list
    kernel.script([{"text": "Fresh."}])
    replaced = kernel.client.request_list("set_agent_history_request", history)
    assert replaced.reply["msg_type"] == "set_agent_history_reply"
    assert replaced.content["status"] == "ok"
    check_chat_history(replaced.one("chat_history"))
    again = send(kernel.client, "get_agent_history_request", {}).content["return"]
    contents = [json.loads(item)["kwargs"]["content"] for item in again[1:]]
    assert contents == [json.loads(item)["kwargs"]["content"] for item in history[1:]]


@PYTHON_ONLY
def test_ask_user_asks_the_front_end_over_stdin(kernel: Kernel) -> None:
    kernel.script(
        [
            {"text": "", "tool_calls": [{"name": "ask_user", "args": {"query": "Which one?"}}]},
            {"text": "You chose {last_tool_output}."},
        ]
    )
    client = kernel.client
    msg = client.session.msg("llm_request", {"request": "Pick for me."})
    client.shell_channel.send(msg)
    question = client.get_stdin_msg(timeout=30)
    assert question["msg_type"] == "input_request"
    assert question["content"] == {"prompt": "Which one?", "password": False}
    assert question["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    # beaker-ts answers with the question as parent
    answer = client.session.msg(
        "input_reply", {"value": "the second", "status": "ok"}, parent=question["header"]
    )
    client.stdin_channel.send(answer)
    trace = collect(client, msg)
    assert trace.content == ok()
    assert trace.one("llm_response")["text"] == "You chose the second."


@PYTHON_ONLY
def test_the_kernel_asks_the_front_end_for_its_notebook(kernel: Kernel) -> None:
    kernel.script(
        [
            {"text": "", "tool_calls": [{"name": "read_notebook", "args": {}}]},
            {"text": "Notebook: {last_tool_output}"},
        ],
        context="protocheck",
    )
    client = kernel.client
    msg = client.session.msg("llm_request", {"request": "What is in my notebook?"})
    client.shell_channel.send(msg)
    asked = client.wait_for_iopub("notebook_state_request", parent_id=msg["header"]["msg_id"])
    assert asked["content"] == {}
    # what beaker-ts answers: msg_id = the request's + "_reply", no parent header
    notebook = {"cells": [{"cell_type": "code", "source": "x = 1"}], "metadata": {}}
    header = client.session.msg_header("notebook_state_response")
    header["msg_id"] = asked["header"]["msg_id"] + "_reply"
    answer = client.session.msg("notebook_state_response", notebook, header=header)
    assert answer["parent_header"] == {}
    client.shell_channel.send(answer)
    trace = collect(client, msg)
    assert trace.content == ok()
    text = trace.one("llm_response")["text"]
    assert json.loads(text.removeprefix("Notebook: ")) == notebook
    # the answer itself gets no reply and no status
    assert not [
        r for r in trace.other_replies if r["parent_header"].get("msg_id") == header["msg_id"]
    ]
    assert not [m for m in trace.iopub if m["parent_header"].get("msg_id") == header["msg_id"]]
