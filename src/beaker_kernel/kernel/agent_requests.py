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
    the current context's chat history as plain JSON (:mod:`..agent.history`), in ``return``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..agent.config import settings_for, split_import_path
from ..agent.errors import AgentBusyError, AgentInterruptedError, explain
from ..errors import AgentError, MessageError, ModelAuthError
from .handlers import KERNEL, HandlerTable

if TYPE_CHECKING:
    from ..contexts.base import BeakerContext
    from ..interface import KernelServices
    from ..wire import Request

log = logging.getLogger("beaker_kernel.agent")

Detach = Callable[["Request", Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class AgentRunner:
    """The kernel's agent runs: at most one at a time, stoppable by an interrupt."""

    def __init__(
        self,
        services: KernelServices,
        current_context: Callable[[], BeakerContext | None],
        detach: Detach,
    ) -> None:
        self.services = services
        self._current_context = current_context
        self._detach = detach
        self.task: asyncio.Task[Any] | None = None
        self.interrupted = False

    def register(self, handlers: HandlerTable) -> None:
        handlers.register_many(
            KERNEL,
            {
                "llm_request": self._on_llm_request,
                "set_agent_model_request": self._on_set_model,
                "get_agent_history_request": self._on_get_history,
                "set_agent_history_request": self._on_set_history,
            },
        )
        # An interrupt also stops a run whose agent is still being created (the context's
        # own interrupt reaches only an agent that exists).
        handlers.add_interrupt_hook("agent", self.interrupt)

    # ------------------------------------------------------------ state

    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def ensure_idle(self, doing: str) -> None:
        """Raise :class:`AgentBusyError` while a run is under way."""
        if self.busy():
            raise AgentBusyError(
                f"The agent is answering a request; wait for its llm_reply or send an "
                f"interrupt_request before {doing}."
            )

    def interrupt(self) -> None:
        if self.busy():
            assert self.task is not None
            self.interrupted = True
            self.task.cancel()

    def context(self) -> BeakerContext:
        context = self._current_context()
        if context is None:
            raise AgentError(
                "No context is set up, so there is no agent: send a context_setup_request "
                "first (for example context 'default')."
            )
        return context

    # ------------------------------------------------------------ llm_request

    async def _on_llm_request(self, request: Request) -> None:
        query = request.content.get("request")
        if not isinstance(query, str) or not query.strip():
            raise MessageError("llm_request needs 'request': the user's message to the agent")
        try:
            context = self.context()
        except AgentError as e:
            self.services.publish(
                "llm_response", {"name": "error", "text": e.message}, request.header
            )
            raise
        self.ensure_idle("sending another llm_request")
        self.interrupted = False
        self.task = self._detach(request, self._run(request, query, context))

    async def _run(self, request: Request, query: str, context: BeakerContext) -> None:
        services = self.services
        agent: Any = None
        try:
            # Load archytas and the provider in a thread the first time, so the kernel
            # keeps answering (interrupts included) while they import.
            await asyncio.to_thread(_preload, settings_for(services).provider_import_path)
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
            services.publish(
                "llm_response", {"name": "response_text", "text": answer}, request.header
            )
            self._publish_history(request, agent)
            await services.reply(request, {"status": "ok"})

    async def _fail(self, request: Request, error: AgentError, agent: Any) -> None:
        if isinstance(error, ModelAuthError):
            self.services.publish("llm_auth_failure", {"msg": error.message}, request.header)
        else:
            self.services.publish(
                "llm_response", {"name": "error", "text": error.message}, request.header
            )
        self._publish_history(request, agent)
        await self.services.reply(request, error.reply_content())

    def _publish_history(self, request: Request, agent: Any) -> None:
        if agent is None:
            return
        from ..agent.history import from_messages

        history = from_messages(record.message for record in agent.chat_history.raw_records)
        self.services.publish("chat_history", history, request.header)

    # ------------------------------------------------------------ model and history

    async def _on_set_model(self, request: Request) -> None:
        content = request.content
        settings = settings_for(self.services)
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
            await asyncio.to_thread(_preload, settings.provider_import_path)
            model = settings.create_model()
        except BaseException:
            for trait, value in previous.items():
                setattr(settings, trait, value)
            raise
        context = self._current_context()
        if context is not None and context._agent is not None:
            context._agent.use_model(model)
        await self.services.reply(request, {"status": "ok", **settings.describe()})

    async def _on_get_history(self, request: Request) -> None:
        from ..agent.loading import get_history

        await self.services.reply(request, {"status": "ok", "return": get_history(self.context())})

    async def _on_set_history(self, request: Request) -> None:
        from ..agent.loading import set_history

        self.ensure_idle("replacing its history")
        count = set_history(self.context(), request.content.get("history"))
        await self.services.reply(request, {"status": "ok", "return": {"messages": count}})


def _preload(provider_import_path: str) -> None:
    importlib.import_module("beaker_kernel.agent.base")
    module = split_import_path(provider_import_path)[0] if provider_import_path else ""
    if module:
        # an import error is reported, with advice, when the model is created
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
