"""What beaker-ts must see from the service: the checks of the scenario pages.

The expected shapes are upstream Beaker 1.14's (what beaker-ts 1.13.0 and Terarium read).
The classes here hold the tests; a test module subclasses them (``TestX(PythonChecks)``)
and provides the fixtures ``python_run`` / ``r_run`` (a :class:`PageRun` of the scenario
against its service) and ``subkernels`` (language slug → the subkernel name that service
lists in ``/contexts``), so the same checks run against a local ``beaker serve`` and the
compose deployment.
"""

from __future__ import annotations

import json
from typing import Any

from .pagerun import PageRun

#: The keys of upstream's ``BeakerContext.get_info()``.
INFO_KEYS = {
    "language",
    "subkernel",
    "actions",
    "custom_messages",
    "procedures",
    "workflow_info",
    "agent",
    "debug",
    "verbose",
}
#: archytas's ``OutboundChatHistory`` fields (upstream sends it as ``chat_history``).
CHAT_HISTORY_KEYS = {
    "records",
    "system_message",
    "tool_token_usage_estimate",
    "model",
    "token_estimate",
    "message_token_count",
    "summary_token_count",
    "overhead_token_count",
    "summarization_threshold",
}
STATE_MIMETYPE = "x-application/beaker-subkernel-state"


def info_problems(info: Any, subkernel: str) -> list[str]:
    """How ``info`` differs from upstream's ``get_info()`` for a context on ``subkernel``."""
    if not isinstance(info, dict):
        return [f"expected get_info() (a JSON object), got {info!r}"]
    problems = []
    missing = INFO_KEYS - set(info)
    if missing:
        problems.append(f"lacks {sorted(missing)} (has {sorted(info)})")
    if not (isinstance(info.get("language"), str) and info["language"]):
        problems.append(f"language is the display name (a string), not {info.get('language')!r}")
    if info.get("subkernel") != subkernel:
        problems.append(f"subkernel is {subkernel!r}, not {info.get('subkernel')!r}")
    actions = info.get("actions")
    if not isinstance(actions, dict):
        problems.append(f"actions is a dict, not {actions!r}")
    else:
        for name, action in actions.items():
            if not (isinstance(action, dict) and {"docs", "default_payload"} <= set(action)):
                problems.append(f"action {name} has docs and default_payload, not {action!r}")
    if not isinstance(info.get("custom_messages"), dict):
        problems.append(f"custom_messages is a dict, not {info.get('custom_messages')!r}")
    if not isinstance(info.get("procedures"), list):
        problems.append(f"procedures is a list, not {info.get('procedures')!r}")
    if "workflow_info" in info and not isinstance(info["workflow_info"], dict):
        problems.append(f"workflow_info is a dict, not {info['workflow_info']!r}")
    agent = info.get("agent")
    if not (isinstance(agent, dict) and {"name", "tools", "agent_prompt"} <= set(agent)):
        problems.append(f"agent has name, tools and agent_prompt, not {agent!r}")
    elif not (
        isinstance(agent["tools"], dict)
        and "run_code" in agent["tools"]
        and all(isinstance(doc, str) for doc in agent["tools"].values())
    ):
        problems.append(f"agent.tools maps each tool to its doc, not {agent['tools']!r}")
    for flag in ("debug", "verbose"):
        if flag in info and not isinstance(info[flag], bool):
            problems.append(f"{flag} is a boolean, not {info[flag]!r}")
    return problems


def assert_info(info: Any, subkernel: str) -> None:
    """``info`` has the shape of upstream's ``get_info()`` for a context on ``subkernel``."""
    problems = info_problems(info, subkernel)
    assert not problems, "get_info() differs from upstream's:\n- " + "\n- ".join(problems)


def assert_context_info(content: Any, language: str, subkernel: str) -> None:
    """A ``context_info_response`` (or what ``activeContext()`` resolves to)."""
    assert isinstance(content, dict), content
    problems = []
    if content.get("slug") != "default":
        problems.append(f"slug is 'default', not {content.get('slug')!r}")
    if not (isinstance(content.get("class"), str) and content["class"]):
        problems.append(f"class is the context's class name, not {content.get('class')!r}")
    if "config" not in content:
        problems.append("config (the context_info it was set up with) is missing")
    if content.get("language") != {"slug": language, "subkernel": subkernel}:
        problems.append(
            f"language is {{'slug': {language!r}, 'subkernel': {subkernel!r}}}, "
            f"not {content.get('language')!r}"
        )
    problems += [f"info: {problem}" for problem in info_problems(content.get("info"), subkernel)]
    assert not problems, (
        f"context_info_response differs from upstream's (it has {sorted(content)}):\n- "
        + "\n- ".join(problems)
    )


def assert_chat_history(content: Any) -> None:
    assert isinstance(content, dict), content
    missing = CHAT_HISTORY_KEYS - set(content)
    assert not missing, f"chat_history lacks {sorted(missing)}: {sorted(content)}"
    assert isinstance(content["records"], list)
    assert {"provider", "model_name", "context_window"} <= set(content["model"])


def outputs_of(cell: dict[str, Any], output_type: str) -> list[dict[str, Any]]:
    return [o for o in cell["outputs"] if o.get("output_type") == output_type]


def stream_text(cell: dict[str, Any], name: str = "stdout") -> str:
    return "".join(str(o["text"]) for o in outputs_of(cell, "stream") if o.get("name") == name)


def followed_by(run: PageRun, parent: str, msg_type: str) -> list[dict[str, Any]]:
    return [m["content"] for m in run.messages(parent=parent, msg_type=msg_type)]


class CommonChecks:
    """Checks of both scenarios (fixture ``run``: the scenario's PageRun)."""

    def test_contexts_listed_to_another_origin_without_token(
        self, run: PageRun, subkernels: dict[str, str]
    ) -> None:
        contexts = run.step("available_contexts")
        assert "default" in contexts, sorted(contexts)
        languages = contexts["default"]["languages"]
        assert {"slug": "python3", "subkernel": subkernels["python3"]} in languages
        assert {"slug": "rlang", "subkernel": subkernels["rlang"]} in languages
        for slug, entry in contexts.items():
            assert isinstance(json.loads(entry["defaultPayload"]), dict), slug

    def test_refused_requests_are_visible_to_the_page(self, run: PageRun) -> None:
        # Without CORS headers on the 403 the page gets "Failed to fetch" and no status.
        answer = run.step("error_response_visible")
        assert answer["status"] in (401, 403), answer

    def test_session_starts_a_beaker_kernel(self, run: PageRun) -> None:
        started = run.step("session_start")
        assert started["kernel_name"] == "beaker_kernel"
        assert started["status"] == "idle"
        assert started["connection"] == "connected"

    def test_code_cell_stream(self, run: PageRun) -> None:
        cell = run.step("cell_stream")
        assert cell["outputs"] == [
            {"output_type": "stream", "name": "stdout", "text": "hello from beaker-ts\n"}
        ]
        assert cell["last_execution"] == {"status": "ok"}
        assert isinstance(cell["execution_count"], int)
        assert cell["execution_count"] > 0
        assert cell["busy"] is False

    def test_code_cell_stderr(self, run: PageRun) -> None:
        cell = run.step("cell_stderr")
        assert stream_text(cell, "stderr").strip() == "to stderr"
        assert cell["last_execution"] == {"status": "ok"}

    def test_code_cell_display_data(self, run: PageRun) -> None:
        cell = run.step("cell_display")
        displays = outputs_of(cell, "display_data")
        assert len(displays) == 1, cell["outputs"]
        assert displays[0]["data"]["text/html"].strip() == "<b>bold</b>"

    def test_code_cell_error(self, run: PageRun) -> None:
        cell = run.step("cell_error")
        errors = outputs_of(cell, "error")
        assert len(errors) == 1, cell["outputs"]
        assert cell["last_execution"]["status"] == "error"
        assert isinstance(errors[0]["traceback"], list)
        assert errors[0]["traceback"]
        self.check_error(errors[0])

    def check_error(self, error: dict[str, Any]) -> None:
        raise NotImplementedError

    def test_query_cell_child_fills(self, run: PageRun, subkernels: dict[str, str]) -> None:
        entry = run.entry("query_cell")
        request = run.request_id("query_cell")
        add = run.messages(parent=request, msg_type="add_child_codecell")
        assert len(add) == 1, run.explain("query_cell")
        child_request = add[0]["content"].get("execute_request_msg")
        assert isinstance(child_request, dict), (
            f"add_child_codecell has no execute_request_msg, so beaker-ts cannot follow the "
            f"child cell's execution: {add[0]['content']}"
        )
        assert child_request["header"]["msg_type"] == "execute_request"
        assert child_request["content"]["code"] == self.child_code
        child_id = child_request["header"]["msg_id"]
        child_messages = [m["msg_type"] for m in run.messages(parent=child_id)]
        assert "execute_reply" in child_messages, (
            f"nothing answered the child's execute request {child_id} on the shell channel: "
            f"{child_messages}"
        )
        cell = run.step("query_cell")
        assert entry["reply"]["content"]["status"] == "ok", entry["reply"]
        assert cell["last_execution"] == {"status": "ok"}
        types = [event["type"] for event in cell["events"]]
        assert types == ["thought", "code_cell", "response"], cell["events"]
        thought = cell["events"][0]["content"]
        assert thought["tool_name"] == "run_code"
        assert thought["thought"].startswith("I will compute it")
        assert "42" in cell["events"][2]["content"]
        assert len(cell["children"]) == 1
        child = cell["children"][0]
        assert cell["events"][1]["content"]["cell_id"] == child["id"]
        assert child["source"] == self.child_code
        assert child["busy"] is False
        assert child["last_execution"]["status"] == "ok", child
        assert stream_text(child).strip() == "42", child["outputs"]
        assert isinstance(child["execution_count"], int)
        # the state and the conversation follow
        assert followed_by(run, request, "kernel_state_info"), run.explain("query_cell")
        histories = followed_by(run, request, "chat_history")
        assert histories, run.explain("query_cell")
        assert_chat_history(histories[-1])

    child_code = ""

    def test_interrupt(self, run: PageRun) -> None:
        entry = run.entry("interrupt")
        cell = run.step("interrupt")
        assert entry["interrupt_ms"] < 5000, entry["interrupt_ms"]
        assert "sleeping" in stream_text(cell)
        assert "woke up" not in stream_text(cell)
        self.check_interrupted(entry["reply"]["content"], cell)
        assert entry["after"]["reply"]["content"]["status"] == "ok", entry["after"]

    def check_interrupted(self, reply: dict[str, Any], cell: dict[str, Any]) -> None:
        raise NotImplementedError

    def test_no_page_errors(self, run: PageRun) -> None:
        report = run.report
        result = run.result
        # The cross-origin probe of a refused request logs its 403 on purpose; a request
        # answered with success whose body the page did not read ends as "aborted".
        problems = {
            "page errors": report["pageErrors"],
            "unhandled rejections": result["unhandledRejections"],
            "window errors": result["windowErrors"],
            "scenario error": [result["fatal"]] if result.get("fatal") else [],
            "console errors": [
                e for e in report["consoleErrors"] if "cors-probe" not in json.dumps(e)
            ],
            "failed requests": [
                r
                for r in report["requestFailures"]
                if "cors-probe" not in r["url"] and not 200 <= (r.get("status") or 0) < 300
            ],
            "HTTP errors": [r for r in report["httpErrors"] if "cors-probe" not in r["url"]],
        }
        found = {kind: items for kind, items in problems.items() if items}
        assert not found, f"problems in the page: {json.dumps(found, indent=1)}"


class PythonChecks(CommonChecks):
    """The Python scenario: every step, the Beaker messages included."""

    child_code = "print(6 * 7)"

    def test_fresh_kernel_has_a_default_context(
        self, run: PageRun, subkernels: dict[str, str]
    ) -> None:
        active = run.step("active_context_fresh")
        assert_context_info(active, "python3", subkernels["python3"])
        assert active["language_info"]["name"] == subkernels["python3"]

    def test_context_info_response_is_followed_by_chat_history(self, run: PageRun) -> None:
        run.step("active_context")
        asked = run.messages(msg_type="context_info_request", direction="send")
        assert asked
        for request in asked:
            answers = [m["msg_type"] for m in run.messages(parent=request["msg_id"])]
            assert "context_info_response" in answers, answers
            assert "chat_history" in answers, (
                f"no chat_history after context_info_response: {answers}"
            )

    def test_set_context(self, run: PageRun, subkernels: dict[str, str]) -> None:
        entry = run.entry("set_context")
        value = run.step("set_context")
        request = entry["msg_id"]
        assert run.one("context_setup_reply", parent=request)["status"] == "ok"
        assert_info(run.one("context_setup_response", parent=request), subkernels["python3"])
        states = followed_by(run, request, "kernel_state_info")
        assert states, f"no kernel_state_info after the setup: {run.explain('set_context')}"
        assert STATE_MIMETYPE in states[-1], states[-1]
        assert value["language_info"]["name"] == subkernels["python3"]
        assert isinstance(value["language_info"]["display_name"], str)

    def test_active_context(self, run: PageRun, subkernels: dict[str, str]) -> None:
        assert_context_info(run.step("active_context"), "python3", subkernels["python3"])

    def test_code_cell_execute_result(self, run: PageRun) -> None:
        cell = run.step("cell_result")
        results = outputs_of(cell, "execute_result")
        assert len(results) == 1, cell["outputs"]
        assert results[0]["data"]["text/plain"] == "42"
        assert results[0]["execution_count"] == cell["execution_count"]

    def check_error(self, error: dict[str, Any]) -> None:
        assert error["ename"] == "ZeroDivisionError"
        assert error["evalue"] == "division by zero"

    def test_set_agent_model(self, run: PageRun) -> None:
        reply = run.step("set_agent_model")
        assert reply["msg_type"] == "set_agent_model_reply"
        assert reply["content"]["status"] == "ok", reply["content"]
        histories = followed_by(run, run.request_id("set_agent_model"), "chat_history")
        assert len(histories) == 1, run.explain("set_agent_model")
        assert_chat_history(histories[0])

    def test_child_cell_rollback(self, run: PageRun) -> None:
        rolled = run.step("child_rollback")
        before = rolled["child_before"]
        # the checkpoint_index of add_child_codecell stayed on the child cell after it ran
        assert before["last_execution"]["status"] == "ok", before
        index = before["last_execution"].get("checkpoint_index")
        assert type(index) is int, before["last_execution"]
        assert index > 0, before["last_execution"]
        rollbacks = run.messages(msg_type="rollback_request", direction="send")
        assert [m["content"] for m in rollbacks] == [{"checkpoint_index": index}], rollbacks
        assert rolled["reply"]["msg_type"] == "rollback_reply"
        assert rolled["reply"]["content"]["status"] == "ok", rolled["reply"]
        report = rolled["reply"]["content"]["return"]
        assert report["checkpoint_index"] == index
        assert "kept" in report["restored"]
        assert "added" in report["removed"]
        # beaker-ts cleared the child cell, and the variables are back
        assert rolled["child_after"]["last_execution"] == {"status": "none"}
        assert rolled["child_after"]["outputs"] == []
        assert stream_text(rolled["probe"]) == "21 False\n", rolled["probe"]

    def test_beaker_session_info(self, run: PageRun, subkernels: dict[str, str]) -> None:
        reply = run.step("beaker_session_info")
        assert reply["msg_type"] == "beaker_session_info_reply"
        assert reply["content"]["status"] == "ok", reply["content"]
        assert_info(reply["content"]["return"], subkernels["python3"])

    def test_reset_request(self, run: PageRun) -> None:
        reply = run.step("reset_request")
        assert reply["msg_type"] == "reset_reply"
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "return" in reply["content"], reply["content"]
        request = run.request_id("reset_request")
        assert followed_by(run, request, "kernel_state_info"), run.explain("reset_request")
        assert followed_by(run, request, "chat_history"), run.explain("reset_request")

    def check_interrupted(self, reply: dict[str, Any], cell: dict[str, Any]) -> None:
        assert reply["status"] == "error", reply
        assert reply["ename"] == "KeyboardInterrupt"
        assert outputs_of(cell, "error")[0]["ename"] == "KeyboardInterrupt"

    def test_session_reset_restarts_the_kernel(
        self, run: PageRun, subkernels: dict[str, str]
    ) -> None:
        entry = run.entry("session_reset")
        value = run.step("session_reset")
        assert entry["cells_after_reset"] == 0
        assert stream_text(value["probe"]) == "False\n", "the restarted kernel kept a variable"
        assert_context_info(value["active_context"], "python3", subkernels["python3"])


class RChecks(CommonChecks):
    """The R scenario: set-up by slug and by the subkernel name, cells, agent, interrupt."""

    child_code = 'cat(6 * 7, "\\n")'

    def test_set_context(self, run: PageRun, subkernels: dict[str, str]) -> None:
        entry = run.entry("set_context")
        value = run.step("set_context")
        request = entry["msg_id"]
        assert run.one("context_setup_reply", parent=request)["status"] == "ok"
        assert_info(run.one("context_setup_response", parent=request), subkernels["rlang"])
        assert value["language_info"]["name"] == subkernels["rlang"]

    def test_active_context(self, run: PageRun, subkernels: dict[str, str]) -> None:
        assert_context_info(run.step("active_context"), "rlang", subkernels["rlang"])

    def test_subkernel_name_round_trips_as_language(
        self, run: PageRun, subkernels: dict[str, str]
    ) -> None:
        value = run.step("set_context_by_subkernel_name")
        assert value["sent_language"] == subkernels["rlang"]
        assert_context_info(value["active"], "rlang", subkernels["rlang"])

    def test_code_cell_execute_result(self, run: PageRun) -> None:
        cell = run.step("cell_result")
        # IRkernel shows a cell's value as display_data (text, HTML, Markdown, LaTeX).
        results = outputs_of(cell, "execute_result") + outputs_of(cell, "display_data")
        assert len(results) == 1, cell["outputs"]
        assert results[0]["data"]["text/plain"] == "[1] 42"

    def check_error(self, error: dict[str, Any]) -> None:
        assert "boom" in error["evalue"], error

    def check_interrupted(self, reply: dict[str, Any], cell: dict[str, Any]) -> None:
        # IRkernel answers an interrupted cell with status "abort" (beaker-ts shows
        # "Execution aborted"); ipykernel with a KeyboardInterrupt error.
        assert reply["status"] in ("abort", "error"), reply
        assert cell["last_execution"]["status"] == "error"
