"""The agent base class, :class:`BeakerAgent`, with the default tools of every context.

Importing this module imports archytas and LangChain; only
:func:`beaker_kernel.agent.loading.create_agent` does, when a context first needs its
agent.

A context names its agent class in ``agent_class``; a subclass adds tools as methods
decorated with :func:`tool` (archytas's ``@tool``: the model reads the docstring,
whose ``Args:`` must match the signature). Every tool, default or added, can be switched off
with ``TOOL_ENABLED_<NAME>`` (see :meth:`BeakerContext.tool_enabled`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from archytas.prompt import PromptSection
from archytas.react import ReActAgent
from archytas.tool_utils import tool as archytas_tool

from ..errors import BeakerError, MessageError
from .errors import AgentInterruptedError

if TYPE_CHECKING:
    from ..contexts.base import BeakerContext
    from ..interface import ExecutionResult, KernelServices
    from ..wire import Request
    from .config import AgentSettings

log = logging.getLogger("beaker_kernel.agent")

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

F = TypeVar("F", bound=Callable[..., Any])


def tool(func: F) -> F:
    """Mark an agent method as a tool (archytas's ``@tool``, with its type kept).

    The model reads the docstring: a summary, then ``Args:`` naming every parameter
    with its type, and ``Returns:``. Tools may be ``async``.
    """
    marked: F = archytas_tool(func)
    return marked


#: Tools of archytas itself that stay whatever the settings (they manage the history).
FRAMEWORK_TOOLS = frozenset({"retrieve_summarized_messages_of_summary"})


def shorten(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its beginning and end."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[-tail:]}"


def describe_result(result: ExecutionResult) -> str:
    """What a run of code produced, as text for the model."""
    parts: list[str] = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    for display in result.displays:
        data = display.get("data", {})
        text = data.get("text/plain") if isinstance(data, dict) else None
        if isinstance(text, str):
            parts.append(text.rstrip("\n"))
        elif isinstance(data, dict) and data:
            parts.append(f"[{', '.join(sorted(data))} output]")
    error = result.error
    if error is None and (result.reply or {}).get("status") == "error":
        error = result.reply
    if error is not None:
        traceback = "\n".join(str(line) for line in error.get("traceback", []))
        parts.append(
            f"[error] {error.get('ename', 'Error')}: {error.get('evalue', '')}\n"
            + ANSI_ESCAPE.sub("", traceback)
        )
    text = "\n".join(parts).strip()
    return text or "(the code ran and produced no output)"


class BeakerAgent(ReActAgent):  # type: ignore[misc]  # archytas is untyped
    """The agent of a context: an archytas ReAct agent working in the notebook's subkernel.

    Its system prompt describes the context (its ``agent_prompt`` and ``context_info``);
    before every model call the live variables of the subkernel are added at the end
    of the conversation (never stored in the history). Each step is published as
    ``llm_thought``. Created by :func:`~beaker_kernel.agent.loading.create_agent`;
    subclasses that override ``__init__`` must pass the keyword arguments on.
    """

    def __init__(
        self,
        *,
        context: BeakerContext,
        model: Any,
        settings: AgentSettings,
        **kwargs: Any,
    ) -> None:
        # set before ReActAgent.__init__, which builds the prompt from them
        self.context = context
        self.kernel: KernelServices = context.kernel
        self.settings = settings
        self.current_request: Request | None = None
        self.interrupted = False
        self._task: asyncio.Task[Any] | None = None
        kwargs.setdefault("max_react_steps", settings.max_react_steps)
        super().__init__(
            model=model,
            tools=[],
            allow_ask_user=False,
            on_react_step=self._publish_step,
            on_tool_call_update=None,
            verbose=False,
            rich_print=False,
            spinner=None,
            **kwargs,
        )
        self._drop_unavailable_tools()
        self.set_auto_context("", self.live_state)

    # ------------------------------------------------------------ configuration

    def tool_available(self, name: str) -> bool:
        """Whether the tool ``name`` is offered to the model in this context.

        Default: ``TOOL_ENABLED_<NAME>`` allows it, and ``inspect_variables`` needs the
        context's ``state`` procedure. Subclasses may add conditions.
        """
        if name in FRAMEWORK_TOOLS:
            return True
        if not self.context.tool_enabled(name):
            return False
        if name == "inspect_variables":
            return self.context.procedures.has("state")
        return True

    def _drop_unavailable_tools(self) -> None:
        removed = [name for name in self.tools if not self.tool_available(name)]
        if not removed:
            return
        for name in removed:
            del self.tools[name]
        self.model.lc_tools = None
        self.model.set_tools(self.tools)
        self.update_system_prompt()

    def tool_names(self) -> list[str]:
        """The tools the model may call (framework tools left out)."""
        names: list[str] = sorted(name for name in self.tools if name not in FRAMEWORK_TOOLS)
        return names

    def use_model(self, model: Any) -> None:
        """Continue the conversation with another model (``set_agent_model_request``)."""
        self.set_model(model)
        model.set_tools(self.tools)
        self.update_system_prompt()

    def get_prompt_sections(self) -> list[PromptSection]:
        sections: list[PromptSection] = list(super().get_prompt_sections())
        sections.append(PromptSection(body=self.notebook_prompt(), name="Notebook", role="context"))
        return sections

    def notebook_prompt(self) -> str:
        """The part of the system prompt that describes the context and its language."""
        context = self.context
        subkernel = context.subkernel
        lines = [
            f"You work inside a Jupyter notebook whose code runs in {subkernel.display_name} "
            f"(language '{subkernel.slug}'). Code you run with run_code executes in the "
            "user's live session: variables it defines stay for the user, and the user's "
            "variables are available to it. Use generate_code to propose code the user "
            "should keep in the notebook. The user does not see tool outputs: put what "
            "matters into your final answer.",
        ]
        name = context.display_name or context.slug
        lines.append(f"The notebook uses the '{name}' context.")
        if context.agent_prompt:
            lines.append(context.agent_prompt)
        if context.context_info:
            lines.append(
                "Context settings: " + json.dumps(context.context_info, sort_keys=True, default=str)
            )
        return "\n\n".join(lines)

    async def live_state(self) -> str:
        """The subkernel's variables, added at the end of every model call."""
        language = self.context.subkernel.display_name
        if not self.context.procedures.has("state"):
            return f"The user's {language} session is running."
        try:
            state = await asyncio.wait_for(
                self.context.run_procedure("state"), self.settings.state_timeout
            )
        except TimeoutError:
            return f"The user's {language} session is busy; its variables are unknown."
        except BeakerError as e:
            return f"The variables of the user's {language} session could not be read: {e.message}"
        text = json.dumps(state, sort_keys=True, default=str)
        return f"Variables in the user's {language} session (name: type and value):\n" + shorten(
            text, self.settings.output_limit
        )

    def log(self, event_type: str, content: Any) -> None:
        # archytas logs every tool call at INFO; the kernel's log is not the place
        log.debug("%s: %s", event_type, content)

    def debug(self, event_type: str, content: Any) -> None:
        log.debug("%s: %s", event_type, content)

    # ------------------------------------------------------------ running

    async def answer(self, request: Request, query: str) -> str:
        """Run the ReAct loop for the user's ``query``; returns the final answer.

        ``request`` is the ``llm_request`` being answered: progress is published with it
        as parent, and ``ask_user`` asks the front end that sent it.
        """
        self.current_request = request
        self.interrupted = False
        self._task = asyncio.current_task()
        try:
            return str(await self.react_async(query))
        except BaseException as e:
            self._close_open_tool_calls(e)
            raise
        finally:
            self.current_request = None
            self._task = None
            self.chat_history.current_loop_id = None
            self.current_query = None

    def interrupt(self) -> None:
        """Stop the current run (called on an interrupt and when the context closes)."""
        task = self._task
        if task is not None and not task.done():
            self.interrupted = True
            task.cancel()

    async def execute(self, additional_messages: Any = None) -> Any:
        # An interrupted tool may have swallowed the cancellation (archytas turns it
        # into a tool message); never call the model again after an interrupt.
        if self.interrupted:
            raise AgentInterruptedError("The agent was interrupted")
        return await super().execute(additional_messages)

    def _close_open_tool_calls(self, error: BaseException) -> None:
        """Answer tool calls left without a result, so the history stays valid for
        providers that require a result for every call."""
        from langchain_core.messages import AIMessage, ToolMessage

        records = self.chat_history.raw_records
        answered: set[str] = {
            str(record.message.tool_call_id)
            for record in records
            if isinstance(record.message, ToolMessage)
        }
        reason = (
            "Interrupted by the user."
            if self.interrupted or isinstance(error, asyncio.CancelledError)
            else f"Not run: {type(error).__name__}: {error}"
        )
        for record in list(records):
            message = record.message
            if isinstance(message, AIMessage):
                for call in message.tool_calls:
                    call_id = call.get("id")
                    if call_id and call_id not in answered:
                        answered.add(call_id)
                        self.chat_history.add_message(
                            ToolMessage(content=reason, tool_call_id=call_id)
                        )

    def _publish_step(
        self, thought: str, thought_id: str, tool_calls: list[dict[str, Any]]
    ) -> None:
        parent = self.current_request.header if self.current_request is not None else None
        for call in tool_calls:
            self.kernel.publish(
                "llm_thought",
                {
                    "thought": thought or f"Using the {call['tool_name']} tool.",
                    "tool_name": call["tool_name"],
                    "tool_input": call["tool_input"],
                },
                parent,
            )

    def _parent(self) -> dict[str, Any] | None:
        return self.current_request.header if self.current_request is not None else None

    # ------------------------------------------------------------ default tools

    @tool
    async def run_code(self, code: str) -> str:
        """
        Run code in the user's notebook session and return what it printed, displayed or raised.

        The code runs in the notebook's language, in the same session as the user's cells:
        variables it defines remain. Use it to compute answers and to look at data. Long
        output is shortened to its beginning and end.

        Args:
            code (str): The code to run, in the notebook's language.

        Returns:
            str: The output of the code, or the error it raised.
        """
        self.kernel.publish(
            "add_child_codecell",
            {
                "action": "code_cell",
                "language": self.context.subkernel.slug,
                "code": code.strip(),
                "autoexecute": True,
            },
            self._parent(),
        )
        result = await self.context.execute(code)
        return shorten(describe_result(result), self.settings.output_limit)

    @tool
    async def generate_code(self, code: str) -> str:
        """
        Put code into a new notebook cell for the user to review and run; it is not run now.

        Use this when the user asks for code, or when code should stay in the notebook.

        Args:
            code (str): The code of the new cell, in the notebook's language.

        Returns:
            str: Confirmation that the cell was added.
        """
        self.kernel.publish(
            "code_cell",
            {"language": self.context.subkernel.slug, "code": code.strip()},
            self._parent(),
        )
        return "A new cell with this code was added to the notebook; it has not been run."

    @tool
    async def inspect_variables(self) -> str:
        """
        List the variables of the user's session with their types and short renderings.

        Returns:
            str: A JSON object mapping each variable name to its type and value.
        """
        state = await self.context.run_procedure("state")
        return shorten(json.dumps(state, sort_keys=True, default=str), self.settings.output_limit)

    @tool
    async def ask_user(self, query: str) -> str:
        """
        Ask the user a question and wait for the answer.

        Ask when the request is ambiguous or needs information only the user has; do not
        ask for what a tool can find out.

        Args:
            query (str): The question for the user.

        Returns:
            str: The user's answer.
        """
        request = self.current_request
        if request is None:
            return "The user cannot be asked now."
        timeout = self.settings.ask_user_timeout
        try:
            return await self.kernel.ask_user(request, query, timeout=timeout)
        except TimeoutError:
            return f"The user did not answer within {timeout:g} seconds."
        except MessageError as e:
            return f"The user cannot be asked: {e.message}"
