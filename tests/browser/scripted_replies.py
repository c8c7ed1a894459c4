"""The scripted model of the browser tests: steps chosen by the user's request.

A browser scenario asks the agent several questions in one service, across context
switches and kernel restarts that may or may not create a new model. Counting calls (as
:class:`~tests.agent.scripted_model.ScriptedModel` does) would make each answer depend on
what ran before; here the file named by ``BEAKER_TEST_MODEL_SCRIPT`` maps a piece of the
request text to that request's own steps::

    {"six times seven": [
        {"text": "I will compute it.",
         "tool_calls": [{"name": "run_code", "args": {"code": "print(6 * 7)"}}]},
        {"text": "The answer is {last_tool_output}."}
    ]}

The step taken is the number of model answers already given to that request, so every
request starts at its first step. The steps themselves mean what they mean for
``ScriptedModel`` (``{last_tool_output}``, ``sleep``, ``raise``).

Loaded by Beaker kernels through ``LLM_PROVIDER_IMPORT_PATH =
tests.browser.scripted_replies:RepliesByRequest``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from ..agent.scripted_model import ScriptedModel


class RepliesByRequest(ScriptedModel):
    DEFAULT_MODEL = "scripted-by-request"

    def __init__(self, config: Any, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        script: Any = self.steps
        if not isinstance(script, dict):
            raise TypeError("BEAKER_TEST_MODEL_SCRIPT must hold an object: request text → steps")
        self.script: dict[str, list[dict[str, Any]]] = script

    async def ainvoke(self, input: list[BaseMessage], **kwargs: Any) -> AIMessage:
        for index in range(len(input) - 1, -1, -1):
            message = input[index]
            if not isinstance(message, HumanMessage):
                continue
            text = str(message.content)
            key = next((key for key in self.script if key in text), None)
            if key is None:
                continue
            answered = sum(isinstance(m, AIMessage) for m in input[index + 1 :])
            self.steps = self.script[key]
            self.position = answered
            return await super().ainvoke(input, **kwargs)
        asked = [str(m.content)[:200] for m in input if isinstance(m, HumanMessage)]
        raise RuntimeError(f"no scripted steps for any of these requests: {asked}")
