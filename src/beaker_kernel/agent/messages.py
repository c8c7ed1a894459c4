"""Agent messages, answered by the kernel for whichever context is current.

``llm_request {request}``
    runs the context's agent in a task of its own (the shell channel goes on at once):
    iopub ``llm_thought {thought, tool_name, tool_input}`` per step, ``add_child_codecell``
    for code the agent runs, ``code_cell {language, code}`` for cells it writes, then
    ``llm_response {name: "response_text", text}`` and ``chat_history``; finally shell
    ``llm_reply {status: "ok"}``. On failure: ``llm_response {name: "error", text}`` (or
    ``llm_auth_failure {msg}`` when the provider refused the key) and an ``llm_reply``
    with ``status: "error"``. An ``interrupt_request`` stops the run
    (``ename: AgentInterruptedError``). One request runs at a time per kernel.
``set_agent_model_request {provider?, model?, token?, options?}``
    changes the model of the kernel's agents (also the current one, keeping its
    history); the reply carries ``provider`` and ``model``, never the token.
``get_agent_history_request {}`` / ``set_agent_history_request {history}``
    the current context's chat history as plain JSON (:mod:`.history`), in ``return``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ..errors import AgentError, MessageError, ModelAuthError
from .config import settings_for
from .errors import AgentBusyError, AgentInterruptedError, explain

if TYPE_CHECKING:
    from ..contexts.base import BeakerContext
    from ..kernel import BeakerKernel
    from ..wire import Request

log = logging.getLogger("beaker_kernel.agent")


class AgentRunner:
    """The kernel's agent runs: at most one at a time, stoppable by an interrupt."""

    def __init__(self, kernel: BeakerKernel) -> None:
        self.kernel = kernel
        self.task: asyncio.Task[Any] | None = None
        self.interrupted = False

    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def interrupt(self) -> None:
        if self.busy():
            assert self.task is not None
            self.interrupted = True
            self.task.cancel()

    def start(self, request: Request, query: str, context: BeakerContext) -> None:
        if self.busy():
            raise AgentBusyError(
                "The agent is still answering an earlier request; wait for its llm_reply "
                "or send an interrupt_request."
            )
        self.interrupted = False
        self.task = self.kernel.detach(
            request, self.run(request, query, context), name="llm-request"
        )

    async def run(self, request: Request, query: str, context: BeakerContext) -> None:
        kernel = self.kernel
        agent: Any = None
        try:
            # Load archytas and the provider in a thread the first time, so the kernel
            # keeps answering (interrupts included) while they import.
            await asyncio.to_thread(_preload, kernel)
            agent = context.agent
            answer = await agent.answer(request, query)
        except asyncio.CancelledError:
            if not (self.interrupted or (agent is not None and agent.interrupted)):
                raise  # the kernel is shutting down
            await self._fail(
                request, AgentInterruptedError("Stopped: the agent was interrupted."), agent
            )
        except Exception as e:
            error = explain(e)
            if not isinstance(error, AgentError) or error.ename == "AgentFailedError":
                log.warning("The agent failed", exc_info=e)
            await self._fail(request, error, agent)
        else:
            kernel.publish(
                "llm_response", {"name": "response_text", "text": answer}, request.header
            )
            self._publish_history(request, agent)
            await kernel.reply(request, {"status": "ok"})

    async def _fail(self, request: Request, error: AgentError, agent: Any) -> None:
        if isinstance(error, ModelAuthError):
            self.kernel.publish("llm_auth_failure", {"msg": error.message}, request.header)
        else:
            self.kernel.publish(
                "llm_response", {"name": "error", "text": error.message}, request.header
            )
        self._publish_history(request, agent)
        await self.kernel.reply(request, error.reply_content())

    def _publish_history(self, request: Request, agent: Any) -> None:
        if agent is None:
            return
        from .history import from_messages

        history = from_messages(record.message for record in agent.chat_history.raw_records)
        self.kernel.publish("chat_history", history, request.header)


def _preload(kernel: BeakerKernel) -> None:
    import importlib

    importlib.import_module("beaker_kernel.agent.base")
    path = settings_for(kernel).provider_import_path
    module = path.partition(":")[0] if ":" in path else path.rpartition(".")[0]
    if module:
        # an import error is reported, with advice, when the model is created
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def register_agent_messages(kernel: BeakerKernel) -> None:
    """Add the agent's shell handlers to ``kernel``, and stop agent runs on interrupts."""
    runner = AgentRunner(kernel)

    def current_context() -> BeakerContext:
        if kernel.context is None:
            raise AgentError(
                "No context is set up, so there is no agent: send a context_setup_request "
                "first (for example context 'default')."
            )
        return kernel.context

    async def on_llm_request(request: Request) -> None:
        query = request.content.get("request")
        if not isinstance(query, str) or not query.strip():
            raise MessageError("llm_request needs 'request': the user's message to the agent")
        try:
            context = current_context()
        except AgentError as e:
            kernel.publish("llm_response", {"name": "error", "text": e.message}, request.header)
            raise
        runner.start(request, query, context)

    async def on_set_model(request: Request) -> None:
        content = request.content
        settings = settings_for(kernel)
        changes: dict[str, Any] = {}
        for field, trait in (
            ("provider", "provider_import_path"),
            ("model", "model_name"),
            ("token", "api_key"),
        ):
            if field in content:
                if not isinstance(content[field], str):
                    raise MessageError(f"set_agent_model_request: {field!r} must be a string")
                changes[trait] = content[field]
        if "options" in content:
            if not isinstance(content["options"], dict):
                raise MessageError("set_agent_model_request: 'options' must be an object")
            changes["model_options"] = content["options"]
        if not changes:
            raise MessageError(
                "set_agent_model_request needs at least one of provider, model, token, options"
            )
        previous = {trait: getattr(settings, trait) for trait in changes}
        for trait, value in changes.items():
            setattr(settings, trait, value)
        try:
            await asyncio.to_thread(_preload, kernel)
            model = settings.create_model()
        except BaseException:
            for trait, value in previous.items():
                setattr(settings, trait, value)
            raise
        context = kernel.context
        if context is not None and context._agent is not None:
            context._agent.use_model(model)
        await kernel.reply(request, {"status": "ok", **settings.describe()})

    async def on_get_history(request: Request) -> None:
        from .loading import get_history

        await kernel.reply(request, {"status": "ok", "return": get_history(current_context())})

    async def on_set_history(request: Request) -> None:
        from .loading import set_history

        if runner.busy():
            raise AgentBusyError(
                "The agent is answering a request; interrupt it before replacing its history"
            )
        count = set_history(current_context(), request.content.get("history"))
        await kernel.reply(request, {"status": "ok", "return": {"messages": count}})

    kernel.shell_handlers["llm_request"] = on_llm_request
    kernel.shell_handlers["set_agent_model_request"] = on_set_model
    kernel.shell_handlers["get_agent_history_request"] = on_get_history
    kernel.shell_handlers["set_agent_history_request"] = on_set_history
    _stop_runs_on_interrupt(kernel, runner)


def _stop_runs_on_interrupt(kernel: BeakerKernel, runner: AgentRunner) -> None:
    """Make ``interrupt_request`` also stop a run whose agent is still being created
    (the context's own interrupt reaches only an agent that exists)."""
    for table in (kernel.control_handlers, kernel.shell_handlers):
        original = table.get("interrupt_request")
        if original is None:
            continue

        async def on_interrupt(request: Request, original: Any = original) -> None:
            runner.interrupt()
            await original(request)

        table["interrupt_request"] = on_interrupt
