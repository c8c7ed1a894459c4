"""The agent base class (``beaker_kernel.lib.agent.BeakerAgent``, alias ``BaseAgent``).

An archytas ReAct agent working in the notebook's subkernel. A context names its agent
class in ``agent_cls``; the class docstring tells the model what the agent is for, and
methods decorated with archytas's ``@tool`` are its tools (the model reads their
docstrings, whose ``Args:`` must match the signature; a tool may take archytas's
``AgentRef``, ``LoopControllerRef`` and ``ReactContextRef`` parameters). Every agent has
``run_code`` (from the subkernel) and ``ask_user``; any tool can be switched off with
``TOOL_ENABLED_<NAME>=false``.

Importing this module imports archytas.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from typing import Any

from archytas.models.base import BaseArchytasModel
from archytas.prompt import PromptSection
from archytas.react import LoopController, ReActAgent
from archytas.tool_utils import AgentRef, LoopControllerRef, ReactContextRef, tool

from ..agent.errors import AgentInterruptedError
from ..errors import AgentError, MessageError, ModelNotConfiguredError
from .agent_info import FRAMEWORK_TOOLS

log = logging.getLogger("beaker_kernel.agent")


class _StopLoop(Exception):
    """A tool ended the ReAct loop (``loop.set_state(loop.STOP_SUCCESS)``)."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


class NoModel(BaseArchytasModel):  # type: ignore[misc]
    """The model of an agent when no LLM is configured: every call says how to configure one."""

    DEFAULT_MODEL = "none"

    def initialize_model(self, **kwargs: Any) -> None:
        return None

    def contextsize(self, model_name: str | None = None) -> int:
        return 100_000

    async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
        raise ModelNotConfiguredError()

    invoke = ainvoke


class BeakerAgent(ReActAgent):  # type: ignore[misc]  # archytas is untyped
    """You are a helpful assistant working in a Jupyter notebook with the user."""

    #: The context this agent works for (a :class:`~beaker_kernel.lib.context.BeakerContext`).
    context: Any

    def __init__(self, context: Any = None, tools: list[Any] | None = None, **kwargs: Any) -> None:
        if context is None:
            raise AgentError("An agent needs its context: BeakerAgent(context=..., tools=...)")
        self.context = context
        kernel = context.beaker_kernel
        self.settings = kernel.agent_settings
        self.interrupted = False
        self.current_request: Any = None
        self._task: asyncio.Task[Any] | None = None
        self._stopped_with: str | None = None
        # upstream passed archytas 1's thought_handler; Beaker publishes thoughts itself
        self.thought_handler = kwargs.pop("thought_handler", None)
        model = (
            self.settings.create_model()
            if self.settings.configured()
            else NoModel({"model_name": "none"})
        )
        kwargs.setdefault("max_react_steps", self.settings.max_react_steps)
        kwargs.setdefault("verbose", False)
        kwargs.setdefault("spinner", None)
        kwargs.setdefault("rich_print", False)
        super().__init__(
            model=model,
            tools=list(tools or []),
            allow_ask_user=False,
            on_react_step=self._on_react_step,
            on_tool_call_update=None,
            **kwargs,
        )

    # ------------------------------------------------------------ description

    def get_info(self) -> dict[str, Any]:
        """``{name, tools: {name: docs}, agent_prompt}`` for the context info."""
        tools = {
            name.rsplit(".", 1)[-1]: inspect.cleandoc(getattr(fn, "__doc__", None) or "")
            for name, fn in self.tools.items()
            if not _disabled(fn) and name not in FRAMEWORK_TOOLS
        }
        return {
            "name": type(self).__name__,
            "tools": tools,
            "agent_prompt": agent_prompt(type(self)),
        }

    def tool_names(self) -> list[str]:
        return sorted(get for get in self.get_info()["tools"])

    def get_prompt_sections(self) -> list[PromptSection]:
        sections: list[PromptSection] = list(super().get_prompt_sections())
        prompt = agent_prompt(type(self))
        if prompt:
            sections.append(PromptSection(body=prompt, name="Agent", role="agent"))
        context = self.context
        subkernel = context.subkernel
        sections.append(
            PromptSection(
                body=(
                    f"The notebook's code runs in {subkernel.DISPLAY_NAME} (language "
                    f"'{subkernel.SLUG}', kernel '{subkernel.KERNEL_NAME}'). Code you run with "
                    "run_code executes in the user's live session: variables it defines stay "
                    "for the user, and the user's variables are available to it. The user "
                    f"works in the '{context.slug}' context."
                ),
                name="Notebook",
                role="context",
            )
        )
        return sections

    def use_model(self, model: Any) -> None:
        """Continue the conversation with another model (``set_agent_model``)."""
        self.set_model(model)
        model.set_tools(self.tools)
        self.update_system_prompt()

    # ------------------------------------------------------------ running

    async def answer(self, message: Any, query: str) -> str:
        """Run the ReAct loop for ``query``, the content of the ``llm_request`` ``message``.

        Progress is published with the request as parent; ``ask_user`` asks the front end
        that sent it. Returns the final answer (or the output of a tool that ended the loop).
        """
        self.current_request = message
        self.interrupted = False
        self._stopped_with = None
        self._task = asyncio.current_task()
        try:
            return str(await self.react_async(query, react_context={"message": message}))
        except _StopLoop as stop:
            await self.post_loop()
            return stop.output
        except BaseException as e:
            self._close_open_tool_calls(e)
            raise
        finally:
            self.current_request = None
            self._task = None
            self.chat_history.current_loop_id = None
            self.current_query = None

    def interrupt(self) -> None:
        """Stop the current run (an interrupt, or the context being replaced)."""
        task = self._task
        if task is not None and not task.done():
            self.interrupted = True
            task.cancel()

    async def call_tool(
        self,
        tool_call_dict: dict[str, Any],
        loop_controller: LoopController,
        react_context: dict[str, Any],
    ) -> Any:
        result = await super().call_tool(tool_call_dict, loop_controller, react_context)
        if self.context.beaker_kernel.verbose and result[1]:
            # upstream's verbose agents showed each tool's output (archytas's own verbose
            # mode would also print to the kernel's console)
            self.display_observation(str(getattr(result[0], "content", "")))
        if loop_controller.state == LoopController.STOP_SUCCESS and self._stopped_with is None:
            # archytas 1 ended the loop here with the tool's output as the answer; contexts
            # rely on that to return a code cell.
            message = result[0]
            self._stopped_with = str(getattr(message, "content", ""))
        return result

    async def execute(self, additional_messages: Any = None) -> Any:
        # An interrupted tool may have swallowed the cancellation (archytas turns it into
        # a tool message): never call the model again after an interrupt.
        if self.interrupted:
            raise AgentInterruptedError("The agent was interrupted")
        if self._stopped_with is not None:
            raise _StopLoop(self._stopped_with)
        return await super().execute(additional_messages)

    def _close_open_tool_calls(self, error: BaseException) -> None:
        """Answer tool calls left without a result, so the history stays valid for
        providers that require a result for every call."""
        from langchain_core.messages import AIMessage, ToolMessage

        records = self.chat_history.raw_records
        answered = {
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
            if isinstance(record.message, AIMessage):
                for call in record.message.tool_calls:
                    call_id = call.get("id")
                    if call_id and call_id not in answered:
                        answered.add(call_id)
                        self.chat_history.add_message(
                            ToolMessage(content=reason, tool_call_id=call_id)
                        )

    def _parent(self) -> dict[str, Any]:
        header = getattr(self.current_request, "header", None)
        return header if isinstance(header, dict) else {}

    def _on_react_step(
        self, thought: str, thought_id: str, tool_calls: list[dict[str, Any]]
    ) -> None:
        kernel = self.context.beaker_kernel
        for call in tool_calls:
            kernel.handle_thoughts(
                thought or f"Using the {call['tool_name']} tool.",
                call["tool_name"],
                call["tool_input"],
                parent_header=self._parent(),
            )

    def display_observation(self, observation: Any) -> Any:
        self.context.send_response(
            "iopub", "llm_observation", {"observation": observation}, parent_header=self._parent()
        )
        return None

    def log(self, event_type: str, content: Any = None) -> None:
        self.context.beaker_kernel.debug(
            f"agent_{event_type}", content, parent_header=self._parent()
        )

    def debug(self, event_type: str, content: Any = None) -> None:
        self.context.beaker_kernel.debug(
            f"agent_{event_type}", content, parent_header=self._parent()
        )

    # ------------------------------------------------------------ tools

    @tool()  # type: ignore[untyped-decorator]
    async def ask_user(
        self, query: str, agent: AgentRef, loop: LoopControllerRef, react_context: ReactContextRef
    ) -> str:
        """
        Ask the user a question and wait for the answer.

        Ask when the request is ambiguous or needs information only the user has; do not
        ask for what a tool can find out.

        Args:
            query (str): A fully grammatical question for the user.

        Returns:
            str: The user's answer.
        """
        message = (react_context or {}).get("message") or self.current_request
        if message is None:
            return "The user cannot be asked now."
        timeout = self.settings.ask_user_timeout
        try:
            return str(
                await self.context.beaker_kernel.prompt_user(
                    query, parent_message=message, timeout=timeout
                )
            )
        except TimeoutError:
            return f"The user did not answer within {timeout:g} seconds."
        except MessageError as e:
            return f"The user cannot be asked: {e.message}"


#: Upstream Beaker's older name.
BaseAgent = BeakerAgent


def _disabled(fn: Any) -> bool:
    target = getattr(fn, "__func__", fn)
    return bool(getattr(target, "_disabled", False))


def agent_prompt(cls: type[Any]) -> str:
    """The prompt an agent class gives: its own docstring (not an inherited one)."""
    doc = cls.__dict__.get("__doc__") or inspect.getdoc(cls) or ""
    return inspect.cleandoc(doc)


def resolve_agent_class(value: Any) -> type[Any]:
    """``value`` (a class or ``"module:Class"`` / ``"module.Class"``) as a BeakerAgent class."""
    if isinstance(value, str):
        module_name, sep, name = value.partition(":")
        if not sep:
            module_name, _, name = value.rpartition(".")
        try:
            value = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as e:
            raise AgentError(f"Cannot load the agent class {value!r}: {e}") from e
    if not (isinstance(value, type) and issubclass(value, BeakerAgent)):
        raise AgentError(f"{value!r} is not a subclass of beaker_kernel.lib.agent.BeakerAgent")
    return value
