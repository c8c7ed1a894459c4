"""The agent answering llm_requests in real kernels, driven by the scripted model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .conftest import StartAgentKernel, conversation, types_of

LANGUAGES = {
    "python3": {
        "assign": "answer = 21",
        "code": "doubled = answer * 2\nprint(doubled)",
        "check": "print(doubled)",
        "state_type": "int",
    },
    "rlang": {
        "assign": "answer <- 21L",
        "code": "doubled <- answer * 2L\ncat(doubled)",
        "check": "cat(doubled)",
        "state_type": "integer",
    },
}

OK = {"status": "ok", "execution_count": None, "return": None}


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_agent_runs_code_and_answers_with_the_result(
    agent_kernel: StartAgentKernel, language: str
) -> None:
    case = LANGUAGES[language]
    kernel = agent_kernel(
        [
            {
                "text": "I will double it.",
                "tool_calls": [{"name": "run_code", "args": {"code": case["code"]}}],
            },
            {"text": "Twice the answer is {last_tool_output}."},
        ]
    )
    client = kernel.client
    setup = client.setup_context("default", language)
    assert setup.content["status"] == "ok", setup.content
    agent = setup.info["agent"]
    assert agent["name"] == "DefaultAgent"
    assert sorted(agent["tools"]) == ["ask_user", "generate_code", "inspect_variables", "run_code"]
    assert agent["tools"]["run_code"].startswith("Run code in the user's notebook session")
    assert agent["agent_prompt"].startswith("You are a programming assistant")
    assert client.run(case["assign"]).content["status"] == "ok"
    client.drain_iopub()

    msg = client.session.msg("llm_request", {"request": "What is twice the answer?"})
    client.shell_channel.send(msg)
    exchange = client.collect(msg["header"]["msg_id"], timeout=90)

    assert exchange.reply["msg_type"] == "llm_reply"
    assert exchange.content == OK
    assert types_of(exchange.iopub) == [
        "status",
        "llm_thought",
        "add_child_codecell",
        "preview",
        "kernel_state_info",
        "llm_response",
        "chat_history",
        "status",
    ]
    assert exchange.one("llm_thought") == {
        "thought": "I will double it.",
        "tool_name": "run_code",
        "tool_input": {"code": case["code"]},
    }
    child = exchange.one("add_child_codecell")
    request = child.pop("execute_request_msg")
    # checkpoints are on by default: the cell can be rolled back to before the code ran
    assert isinstance(child.pop("checkpoint_index"), int)
    assert child == {
        "action": "code_cell",
        "language": language,
        "code": case["code"],
        "autoexecute": True,
    }
    # the child cell's request: announced first, then run visibly, its reply routed here
    assert request["header"]["msg_type"] == "execute_request"
    assert request["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    assert request["content"]["code"] == case["code"]
    assert request["content"]["store_history"] is True
    child_id = request["header"]["msg_id"]
    assert exchange.one("llm_response") == {
        "name": "response_text",
        "text": "Twice the answer is 42.",
    }
    state = exchange.one("kernel_state_info")["x-application/beaker-subkernel-state"]
    assert "doubled" in state["application/json"]["variables"]
    assert conversation(exchange.one("chat_history"))[:3] == [
        ("human", "What is twice the answer?"),
        ("ai", "I will double it."),
        ("tool", "42"),
    ]
    assert exchange.iopub[-1]["content"] == {"execution_state": "idle"}
    # the live state was read for the model (a labelled copy of Beaker's own execution)
    copies = [m for m in exchange.iopub if m["msg_type"] == "beaker__execute_reply"]
    assert copies
    assert copies[0]["content"]["execution_type"] == "kernel_state_info"
    assert child_id not in {m["parent_header"].get("msg_id") for m in exchange.iopub}

    # The code ran in the user's session: its variable is there for the next cell.
    assert client.run(case["check"]).stdout().strip() == "42"

    # The model was told about the context and, before each call, the live variables.
    calls = kernel.model_calls()
    assert len(calls) == 2
    system = calls[0]["messages"][0]
    assert system["type"] == "system"
    assert f"language '{language}'" in system["content"]
    assert "You are a programming assistant in a Jupyter notebook." in system["content"]
    live = calls[0]["messages"][-1]["content"]
    assert live.startswith("<system_context_update>")
    assert '"answer": {"value": ' in live
    assert f'"type": "{case["state_type"]}"' in live
    assert "doubled" in calls[1]["messages"][-1]["content"]


def test_the_child_cell_gets_its_output_and_reply(agent_kernel: StartAgentKernel) -> None:
    """What beaker-ts needs to fill the child cell: every message of that execution."""
    kernel = agent_kernel(
        [
            {"text": "", "tool_calls": [{"name": "run_code", "args": {"code": "print('hi')\n7"}}]},
            {"text": "Done."},
        ]
    )
    client = kernel.client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()
    msg = client.session.msg("llm_request", {"request": "Say hi"})
    client.shell_channel.send(msg)
    child = client.wait_for_iopub("add_child_codecell", parent_id=msg["header"]["msg_id"])
    child_id = child["content"]["execute_request_msg"]["header"]["msg_id"]
    output = client.iopub_until_idle(child_id, deadline=time.monotonic() + 60)
    assert [m["msg_type"] for m in output] == [
        "status",
        "execute_input",
        "stream",
        "execute_result",
        "status",
    ]
    assert output[2]["content"] == {"name": "stdout", "text": "hi\n"}
    assert output[3]["content"]["data"]["text/plain"] == "7"
    reply = client.collect(child_id, wait_idle=False).reply
    assert reply["msg_type"] == "execute_reply"
    assert reply["content"]["status"] == "ok"
    assert client.collect(msg["header"]["msg_id"]).content == OK


def test_agent_generates_a_cell(agent_kernel: StartAgentKernel) -> None:
    code = "import math\nmath.sqrt(2)"
    kernel = agent_kernel(
        [
            {
                "text": "Here is a cell.",
                "tool_calls": [{"name": "generate_code", "args": {"code": code}}],
            },
            {"text": "I added a cell that computes the square root of 2."},
        ]
    )
    client = kernel.client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Write code for sqrt(2)"})

    assert exchange.content == OK
    assert types_of(exchange.iopub) == [
        "status",
        "llm_thought",
        "code_cell",
        "llm_response",
        "chat_history",
        "status",
    ]
    assert exchange.one("code_cell") == {"language": "python3", "code": code}
    assert exchange.one("llm_response") == {
        "name": "response_text",
        "text": "I added a cell that computes the square root of 2.",
    }
    # generated, not run
    assert "math" not in client.run("print(sorted(globals()))").stdout()


@pytest.mark.parametrize("answer_style", ["notebook", "console"])
def test_agent_asks_the_user(agent_kernel: StartAgentKernel, answer_style: str) -> None:
    kernel = agent_kernel(
        [
            {
                "text": "I need to know.",
                "tool_calls": [{"name": "ask_user", "args": {"query": "Which column?"}}],
            },
            {"text": "You chose {last_tool_output}."},
        ]
    )
    client = kernel.client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    msg = client.session.msg("llm_request", {"request": "Plot a column"})
    client.shell_channel.send(msg)
    question = client.get_stdin_msg(timeout=30)
    assert question["msg_type"] == "input_request"
    assert question["content"] == {"prompt": "Which column?", "password": False}
    assert question["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    if answer_style == "notebook":
        # the input_reply's parent is the input_request
        client.stdin_channel.send(
            client.session.msg("input_reply", {"value": "population"}, parent=question["header"])
        )
    else:
        # jupyter console answers without a parent header
        client.input("population")
    exchange = client.collect(msg["header"]["msg_id"])

    assert exchange.content == OK
    assert exchange.one("llm_thought") == {
        "thought": "I need to know.",
        "tool_name": "ask_user",
        "tool_input": {"query": "Which column?"},
    }
    assert exchange.one("llm_response") == {
        "name": "response_text",
        "text": "You chose population.",
    }


def test_ask_user_times_out(agent_kernel: StartAgentKernel) -> None:
    kernel = agent_kernel(
        [
            {"text": "", "tool_calls": [{"name": "ask_user", "args": {"query": "Which column?"}}]},
            {"text": "No answer: {last_tool_output}"},
        ],
        env={"BEAKER_AGENT_ASK_USER_TIMEOUT": "1"},
    )
    client = kernel.client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Plot a column"})

    assert exchange.content == OK
    assert exchange.one("llm_thought") == {
        "thought": "Calling tool 'ask_user'",
        "tool_name": "ask_user",
        "tool_input": {"query": "Which column?"},
    }
    assert exchange.one("llm_response") == {
        "name": "response_text",
        "text": "No answer: The user did not answer within 1 seconds.",
    }


def test_code_that_raises_is_reported_to_the_model(agent_kernel: StartAgentKernel) -> None:
    kernel = agent_kernel(
        [
            {"text": "Trying.", "tool_calls": [{"name": "run_code", "args": {"code": "1 / 0"}}]},
            {"text": "It failed: {last_tool_output}"},
        ]
    )
    client = kernel.client
    assert client.setup_context("default", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Divide by zero"})

    assert exchange.content == OK
    response = exchange.one("llm_response")
    assert response["text"].startswith("It failed: [error] ZeroDivisionError: division by zero\n")
    assert "\x1b[" not in response["text"]


def test_a_tool_that_ends_the_run_with_a_code_cell(agent_kernel: StartAgentKernel) -> None:
    """Contexts written for archytas 1 end the loop from a tool (loop.STOP_SUCCESS) with
    a code-cell JSON; front ends then get a code_cell message."""
    kernel = agent_kernel(
        [{"text": "", "tool_calls": [{"name": "suggest_plot", "args": {"column": "population"}}]}],
        env={"BEAKER_CONTEXT_PATH": str(Path(__file__).parent / "contexts")},
    )
    client = kernel.client
    assert client.setup_context("stopper", "python3").content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "Plot the population"})

    assert exchange.content == OK
    assert exchange.one("code_cell") == {"language": "python3", "code": "df.plot(y='population')"}
    assert exchange.of_type("llm_response") == []
    assert len(kernel.model_calls()) == 1  # the loop ended with the tool
