"""Executions: notebook items, carbon copies of Beaker's own executions, post-execute
messages, and the standard requests Beaker checks before forwarding them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import Kernel, Trace, send
from .contexts.protocheck.context import RAISING
from .upstream import COPY_LABELS, ok

PYTHON_ONLY = pytest.mark.parametrize("kernel", ["python3"], indirect=True)


def after_idle(
    kernel: Kernel, trace: Trace, until: str, timeout: float = 30
) -> list[dict[str, Any]]:
    """The iopub messages parented to ``trace``'s request after its idle, up to ``until``."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        msg = kernel.client.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == trace.msg_id:
            found.append(msg)
            if msg["msg_type"] == until:
                return found


def test_notebook_item_is_copied_onto_execute_input_only(kernel: Kernel) -> None:
    kernel.setup()
    trace = kernel.run(kernel.code["print"], metadata={"notebook_item": "item-7"})
    assert trace.content["status"] == "ok"
    inputs = trace.of_type("execute_input")
    assert len(inputs) == 1
    assert inputs[0]["metadata"]["notebook_item"] == "item-7"
    others = [m for m in trace.mine() if m["msg_type"] != "execute_input"]
    assert {m["msg_type"] for m in others} >= {"status", "stream"}
    assert all("notebook_item" not in m["metadata"] for m in others)
    assert "notebook_item" not in trace.reply["metadata"]
    # without one, nothing is added
    plain = kernel.run(kernel.code["print"])
    assert "notebook_item" not in plain.of_type("execute_input")[0]["metadata"]


def test_internal_executions_are_carbon_copied_to_the_request(kernel: Kernel) -> None:
    kernel.setup("protocheck", {})
    trace = send(kernel.client, "fail_in_subkernel_request", {})
    assert trace.content == ok({"failed": True})
    # the subkernel's own messages about Beaker's execution (parented to Beaker's request)
    # never reach the front end; only the copies do
    session = kernel.client.session.session
    assert {m["parent_header"].get("session") for m in trace.iopub} == {session}
    assert trace.types() == [
        "status",
        "beaker__execute_input",
        "beaker__error",
        "beaker__execute_reply",
        "status",
    ]
    copied_input, error, reply = (m["content"] for m in trace.mine()[1:4])
    for content in (copied_input, error, reply):
        assert {k: content[k] for k in COPY_LABELS} == {
            "execution_type": "action",
            "execution_item_name": "fail_in_subkernel",
        }
    assert copied_input["code"] == RAISING[kernel.language]
    assert "execution_count" in copied_input
    assert error["ename"] == kernel.code["error_name"]
    assert {"evalue", "traceback"} <= set(error)
    assert reply["status"] == "error"


def test_setup_executions_are_labelled(kernel: Kernel) -> None:
    trace = kernel.setup("protocheck", {})
    copies = [m["content"] for m in trace.mine() if m["msg_type"].startswith("beaker__")]
    assert copies
    assert {c["execution_item_name"] for c in copies} == {"protocheck"}
    assert {c["execution_type"] for c in copies} <= {"setup", "preview", "kernel_state_info"}
    assert "kernel_state_info" in {c["execution_type"] for c in copies}
    types = [m["msg_type"] for m in trace.mine() if m["msg_type"].startswith("beaker__")]
    assert types.count("beaker__execute_input") == types.count("beaker__execute_reply")


def test_carbon_copies_can_be_turned_off(python_kernel: Any) -> None:
    kernel = python_kernel({"BEAKER_CARBON_COPIES": "false"})
    setup = kernel.setup("protocheck", {})
    action = send(kernel.client, "fail_in_subkernel_request", {})
    assert action.content == ok({"failed": True})
    for trace in (setup, action):
        assert not [m for m in trace.iopub if m["msg_type"].startswith("beaker__")]


def test_post_execute_messages_follow_each_cell(kernel: Kernel) -> None:
    kernel.setup("protocheck", {"p": 1})
    trace = kernel.run(kernel.code["assign"])
    assert trace.content["status"] == "ok"
    later = after_idle(kernel, trace, "kernel_state_info")
    assert [m["msg_type"] for m in later] == ["preview", "kernel_state_info"]
    assert later[0]["content"] == {"protocheck": {"config": {"application/json": {"p": 1}}}}
    state = later[1]["content"]["x-application/beaker-subkernel-state"]["application/json"]
    assert "answer" in state["variables"]


# ---------------------------------------------------------------------------- validation

EXECUTE = {
    "silent": False,
    "store_history": True,
    "user_expressions": {},
    "allow_stdin": False,
    "stop_on_error": True,
}

MALFORMED = [
    ("execute_request", {**EXECUTE, "code": None}, "'code' must be a string, not null"),
    ("execute_request", EXECUTE, "'code' is missing"),
    ("execute_request", {**EXECUTE, "code": "1", "silent": "no"}, "'silent' must be true or"),
    ("execute_request", {**EXECUTE, "code": "1", "user_expressions": []}, "'user_expressions'"),
    ("complete_request", {"code": "pri"}, "'cursor_pos' is missing"),
    ("complete_request", {"code": 3, "cursor_pos": 0}, "'code' must be a string, not 3"),
    ("inspect_request", {"code": "x", "cursor_pos": "1"}, "'cursor_pos' must be an integer"),
    ("inspect_request", {"code": "x", "cursor_pos": True}, "'cursor_pos' must be an integer"),
    ("is_complete_request", {}, "'code' is missing"),
    ("history_request", {}, "'hist_access_type' is missing"),
    (
        "history_request",
        {"hist_access_type": "tail", "output": False, "raw": True, "n": 3, "extra": 1},
        "unknown field 'extra'",
    ),
    (
        "history_request",
        {"hist_access_type": "all", "output": False, "raw": True},
        "must be one of range, tail, search",
    ),
    ("comm_info_request", {"target_name": 5}, "'target_name' must be a string or null"),
]


@PYTHON_ONLY
@pytest.mark.parametrize(("msg_type", "content", "reason"), MALFORMED)
def test_a_malformed_standard_request_gets_an_error_reply(
    kernel: Kernel, msg_type: str, content: dict[str, Any], reason: str
) -> None:
    trace = send(kernel.client, msg_type, content, timeout=20)
    assert trace.reply["msg_type"] == msg_type.replace("_request", "_reply")
    assert trace.content["status"] == "error"
    assert trace.content["ename"] == "MessageError"
    assert trace.content["evalue"].startswith(f"{msg_type}: ")
    assert reason in trace.content["evalue"]
    if msg_type == "execute_request":
        assert trace.types() == ["status", "error", "status"]
        assert trace.content["execution_count"] is None
    else:
        assert trace.types() == ["status", "status"]


@PYTHON_ONLY
def test_a_request_whose_content_is_not_an_object_gets_an_error_reply(kernel: Kernel) -> None:
    exchange = kernel.client.request_list("execute_request", [1, 2], timeout=20)
    assert exchange.content["status"] == "error"
    assert exchange.content["evalue"] == "execute_request: the content must be a JSON object"
    assert exchange.types() == ["status", "error", "status"]


@PYTHON_ONLY
def test_well_formed_requests_still_reach_the_subkernel(kernel: Kernel) -> None:
    kernel.setup()
    complete = send(kernel.client, "complete_request", {"code": "pri", "cursor_pos": 3})
    assert complete.content["status"] == "ok"
    assert "print" in complete.content["matches"]
    inspect = send(
        kernel.client, "inspect_request", {"code": "len", "cursor_pos": 3, "detail_level": 0}
    )
    assert inspect.content["status"] == "ok"
    assert inspect.content["found"] is True
    done = send(kernel.client, "is_complete_request", {"code": "for x in y:"})
    assert done.content["status"] == "incomplete"
    history = send(
        kernel.client,
        "history_request",
        {"hist_access_type": "tail", "n": 2, "output": False, "raw": True},
    )
    assert history.content["status"] == "ok"
    assert send(kernel.client, "comm_info_request", {}).content["status"] == "ok"


def test_post_execute_goes_on_after_a_malformed_cell(kernel: Kernel) -> None:
    kernel.setup()
    bad = send(kernel.client, "execute_request", {**EXECUTE, "code": None}, timeout=20)
    assert bad.content["status"] == "error"
    for _ in range(2):
        trace = kernel.run(kernel.code["assign"])
        assert trace.content["status"] == "ok"
        later = after_idle(kernel, trace, "kernel_state_info")
        state = later[-1]["content"]["x-application/beaker-subkernel-state"]["application/json"]
        assert "answer" in state["variables"]
