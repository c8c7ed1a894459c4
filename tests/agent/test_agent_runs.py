"""The agent answering llm_requests in real kernels, driven by the scripted model."""

from __future__ import annotations

import pytest

from .conftest import StartAgentKernel, types_of

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
    assert setup.content["agent"] == {
        "name": "BeakerAgent",
        "tools": ["ask_user", "generate_code", "inspect_variables", "run_code"],
    }
    assert client.run(case["assign"]).content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "What is twice the answer?"})

    assert exchange.reply["msg_type"] == "llm_reply"
    assert exchange.content == {"status": "ok"}
    assert types_of(exchange.iopub) == [
        "status",
        "llm_thought",
        "add_child_codecell",
        "llm_response",
        "chat_history",
        "status",
    ]
    assert exchange.iopub[0]["content"] == {"execution_state": "busy"}
    assert exchange.of_type("llm_thought") == [
        {
            "thought": "I will double it.",
            "tool_name": "run_code",
            "tool_input": {"code": case["code"]},
        }
    ]
    assert exchange.of_type("add_child_codecell") == [
        {"action": "code_cell", "language": language, "code": case["code"], "autoexecute": True}
    ]
    assert exchange.of_type("llm_response") == [
        {"name": "response_text", "text": "Twice the answer is 42."}
    ]
    history = exchange.of_type("chat_history")[0]["messages"]
    # archytas records a plain-text answer as a call of its final_answer tool
    final_id = history[3]["tool_calls"][0]["id"]
    assert history == [
        {"role": "user", "content": "What is twice the answer?"},
        {
            "role": "assistant",
            "content": "I will double it.",
            "tool_calls": [{"id": "call_1_0", "name": "run_code", "args": {"code": case["code"]}}],
        },
        {"role": "tool", "tool_call_id": "call_1_0", "content": "42"},
        {
            "role": "assistant",
            "content": "Twice the answer is 42.",
            "tool_calls": [
                {
                    "id": final_id,
                    "name": "final_answer",
                    "args": {"response": "Twice the answer is 42."},
                }
            ],
        },
        {"role": "tool", "tool_call_id": final_id, "content": "Twice the answer is 42."},
    ]
    assert exchange.iopub[-1]["content"] == {"execution_state": "idle"}

    # The code ran in the user's session: its variable is there for the next cell.
    assert client.run(case["check"]).stdout().strip() == "42"

    # The model was told about the context and, before each call, the live variables.
    calls = kernel.model_calls()
    assert len(calls) == 2
    system = calls[0]["messages"][0]
    assert system["type"] == "system"
    assert f"language '{language}'" in system["content"]
    assert "You help the user with their code and data in a notebook." in system["content"]
    state = calls[0]["messages"][-1]["content"]
    assert state.startswith("<system_context_update>")
    assert '"answer": {"repr": ' in state
    assert f'"type": "{case["state_type"]}"' in state
    assert "doubled" in calls[1]["messages"][-1]["content"]


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

    assert exchange.content == {"status": "ok"}
    assert types_of(exchange.iopub) == [
        "status",
        "llm_thought",
        "code_cell",
        "llm_response",
        "chat_history",
        "status",
    ]
    assert exchange.of_type("code_cell") == [{"language": "python3", "code": code}]
    assert exchange.of_type("llm_response") == [
        {"name": "response_text", "text": "I added a cell that computes the square root of 2."}
    ]
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

    assert exchange.content == {"status": "ok"}
    assert exchange.of_type("llm_thought") == [
        {
            "thought": "I need to know.",
            "tool_name": "ask_user",
            "tool_input": {"query": "Which column?"},
        }
    ]
    assert exchange.of_type("llm_response") == [
        {"name": "response_text", "text": "You chose population."}
    ]


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

    assert exchange.content == {"status": "ok"}
    assert exchange.of_type("llm_thought") == [
        {
            "thought": "Calling tool 'ask_user'",
            "tool_name": "ask_user",
            "tool_input": {"query": "Which column?"},
        }
    ]
    assert exchange.of_type("llm_response") == [
        {"name": "response_text", "text": "No answer: The user did not answer within 1 seconds."}
    ]


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

    assert exchange.content == {"status": "ok"}
    [response] = exchange.of_type("llm_response")
    assert response["text"].startswith("It failed: [error] ZeroDivisionError: division by zero\n")
    assert "\x1b[" not in response["text"]
    # the failing code produced no error output in the notebook
    assert exchange.of_type("error") == []
