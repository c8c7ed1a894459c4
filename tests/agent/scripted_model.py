"""A scripted archytas model: the only stand-in in the agent tests.

The Beaker kernel loads it like any provider, through ``LLM_PROVIDER_IMPORT_PATH =
tests.agent.scripted_model:ScriptedModel``. Each call to the model takes the next step
of the JSON list in the file named by ``BEAKER_TEST_MODEL_SCRIPT``::

    {"text": "I will look.", "tool_calls": [{"name": "run_code", "args": {"code": "1+1"}}]}
    {"text": "The answer is {last_tool_output}."}       (no tool calls: the final answer)
    {"sleep": 30, ...}                                   (wait first, e.g. to be interrupted)
    {"raise": "auth" | "context_window" | "error"}      (fail as a provider would)

``{last_tool_output}`` in texts and string arguments is replaced by the content of the
last tool result the model was sent, so answers prove what the model saw. Every call
appends one JSON line to ``BEAKER_TEST_MODEL_LOG`` with the messages it received.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from archytas.exceptions import AuthenticationError, ContextWindowExceededError
from archytas.models.base import BaseArchytasModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage


class ScriptedModel(BaseArchytasModel):
    DEFAULT_MODEL = "scripted"

    def __init__(self, config: Any, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        with open(os.environ["BEAKER_TEST_MODEL_SCRIPT"]) as f:
            self.steps: list[dict[str, Any]] = json.load(f)
        self.position = 0
        self.log_path = os.environ.get("BEAKER_TEST_MODEL_LOG")

    def initialize_model(self, **kwargs: Any) -> None:
        return None

    def contextsize(self, model_name: str | None = None) -> int:
        return 100_000

    async def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Any = None
    ) -> int:
        return sum(len(str(message.content)) for message in messages) // 4

    async def ainvoke(
        self,
        input: list[BaseMessage],
        *,
        config: Any = None,
        stop: Any = None,
        agent_tools: Any = None,
        **kwargs: Any,
    ) -> AIMessage:
        self._log(input, agent_tools)
        if self.position >= len(self.steps):
            raise RuntimeError(f"The script has only {len(self.steps)} steps")
        step = self.steps[self.position]
        self.position += 1
        if "sleep" in step:
            await asyncio.sleep(step["sleep"])
        failure = step.get("raise")
        if failure == "auth":
            raise AuthenticationError("Incorrect API key provided: sk-wrong")
        if failure == "context_window":
            raise ContextWindowExceededError("prompt is too long: 250000 tokens > 200000 maximum")
        if failure:
            raise RuntimeError(str(failure))
        last = next((str(m.content) for m in reversed(input) if isinstance(m, ToolMessage)), "")
        calls = [
            {
                "id": f"call_{self.position}_{index}",
                "name": call["name"],
                "args": _fill(call.get("args", {}), last),
                "type": "tool_call",
            }
            for index, call in enumerate(step.get("tool_calls", []))
        ]
        return AIMessage(content=_fill(step.get("text", ""), last), tool_calls=calls)

    def _log(self, messages: list[BaseMessage], tools: Any) -> None:
        if not self.log_path:
            return
        entry = {
            "tools": sorted(tools or []),
            "messages": [{"type": m.type, "content": str(m.content)} for m in messages],
        }
        with open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def _fill(value: Any, last: str) -> Any:
    if isinstance(value, str):
        return value.replace("{last_tool_output}", last)
    if isinstance(value, dict):
        return {key: _fill(item, last) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, last) for item in value]
    return value
