"""The agent that answers the questions of a notebook summary (:mod:`.summary`).

An archytas ReAct agent without tools: it reads the notebook from its conversation and
answers with ``final_answer``. Importing this module imports archytas.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from archytas.prompt import PromptSection
from archytas.react import ReActAgent

PROMPT = """\
You summarize Beaker notebooks. A Beaker notebook is a Jupyter notebook in which a user
works together with an LLM agent. Besides code and markdown cells it has query cells
(markdown cells whose metadata has beaker_cell_type "query"): each holds a request of the
user to the agent, the agent's thoughts and, when there is one, its answer. A code cell
whose metadata names a parent_id was written by the agent for that query cell.
Outputs in the notebook you are given are cut short, binary outputs (images) are left
out and tracebacks are dropped."""


class NotebookSummarizer(ReActAgent):  # type: ignore[misc]  # archytas is untyped
    """Answers questions about one notebook, which it is given as its first context."""

    def __init__(self, notebook: dict[str, Any], *, model: Any, **kwargs: Any) -> None:
        # Quiet, like the kernel's agents (lib/agent.py): nothing printed, no one to ask.
        kwargs.setdefault("verbose", False)
        kwargs.setdefault("spinner", None)
        kwargs.setdefault("rich_print", False)
        super().__init__(
            model=model,
            tools=[],
            allow_ask_user=False,
            on_react_step=None,
            on_tool_call_update=None,
            **kwargs,
        )
        self.add_context(
            "The notebook (nbformat JSON):\n" + json.dumps(notebook, ensure_ascii=False, indent=1)
        )

    def get_prompt_sections(self) -> list[PromptSection]:
        sections: list[PromptSection] = list(super().get_prompt_sections())
        sections.append(PromptSection(body=PROMPT, name="Notebook summaries", role="agent"))
        return sections

    async def execute(self, additional_messages: Any = None) -> Any:
        # archytas (2.0.8) fails after the model call when the previous call's
        # post-execute task is still pending, as it is when a question follows an answer
        # without anything in between giving the event loop a turn.
        pending: asyncio.Task[Any] | None = getattr(self, "post_execute_task", None)
        if pending is not None:
            await pending
            self.post_execute_task = None
        response = await super().execute(additional_messages)
        # archytas takes a reply without tool calls as the final answer only when it is
        # not JSON; a model answering the history question with its JSON array as text
        # would be asked again and again. Made a final answer the way archytas makes
        # other text one (the call is added to the reply kept in the history too).
        if not response.tool_calls and _is_json_but_not_a_tool_call(response.text):
            response.tool_calls.append(
                {
                    "id": uuid.uuid4().hex,
                    "name": "final_answer",
                    "args": {"response": response.text},
                }
            )
        return response


def _is_json_but_not_a_tool_call(text: str) -> bool:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return False
    return not (isinstance(value, dict) and {"id", "name", "args"} <= set(value))
