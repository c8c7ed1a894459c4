"""Agent messages, answered by the kernel for whichever context is current.

``llm_request {request}`` (metadata ``notebook_state`` optional)
    runs the context's agent in a task of its own (the shell channel goes on at once).
    iopub: ``llm_thought {thought, tool_name, tool_input}`` for every tool call,
    ``add_child_codecell`` and the child execution for code the agent runs, ``preview``
    and ``kernel_state_info`` after it; then the answer as ``llm_response {name:
    "response_text", text}`` — or ``code_cell {language, code}`` when a tool ended the
    run with a code cell — and ``chat_history``; finally shell ``llm_reply``. A failure
    is an ``llm_auth_failure {msg}`` (the provider refused the key) or an ``llm_response
    {name: "error", text}``, always also a stderr ``stream``, and a ``status: error`` reply;
    an interrupt stops the run (stderr ``Request interrupted.``, reply ``status: abort``).
    One request runs at a time per kernel.
``set_agent_model {provider_id?, model_config?}`` (also ``set_agent_model_request``)
    switches the model among those the operator allowed (``AgentSettings.allowed_models``;
    a client never sets an endpoint or a key); no content goes back to the configured
    model. ``chat_history`` follows; the reply's ``return`` names provider and model.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..agent.errors import AgentBusyError, AgentInterruptedError, explain
from ..agent.settings import AgentSettings, split_import_path
from ..errors import AgentError, MessageError, ModelAuthError
from ..lib.utils import parent_message_context
from .context_switch import as_message, ok_reply
from .handlers import KERNEL, HandlerTable

if TYPE_CHECKING:
    from ..lib.context import BeakerContext
    from ..wire import Request
    from .services import BeakerKernel

log = logging.getLogger("beaker_kernel.agent")

Detach = Callable[["Request", Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class AgentRunner:
    """The kernel's agent runs: at most one at a time, stoppable by an interrupt."""

    def __init__(
        self,
        kernel: BeakerKernel,
        settings: AgentSettings,
        current_context: Callable[[], BeakerContext | None],
        detach: Detach,
    ) -> None:
        self.kernel = kernel
        self.settings = settings
        self._current_context = current_context
        self._detach = detach
        self.task: asyncio.Task[Any] | None = None
        self.interrupted = False

    def register(self, handlers: HandlerTable) -> None:
        handlers.register_many(
            KERNEL,
            {
                "llm_request": self._on_llm_request,
                "set_agent_model": self._on_set_model,
                "set_agent_model_request": self._on_set_model,
            },
        )
        # An interrupt also stops a run whose agent is still being created.
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
            self.ensure_idle("sending another llm_request")
        except AgentError as e:
            self._tell(request, e)
            raise
        notebook_state = request.metadata.get("notebook_state")
        if isinstance(notebook_state, dict):
            context.notebook_state = notebook_state
        self.interrupted = False
        self.task = self._detach(request, self._run(request, query, context))

    async def _run(self, request: Request, query: str, context: BeakerContext) -> None:
        kernel = self.kernel
        message = as_message(request)
        agent: Any = None
        context.current_llm_query = query
        try:
            with parent_message_context(message):
                # archytas and the provider load in a thread the first time, so the kernel
                # keeps answering (interrupts included) meanwhile.
                await asyncio.to_thread(_preload, self.settings)
                agent = context.agent
                kernel.debug("llm_query", query, parent_header=request.header)
                answer = await agent.answer(message, query)
        except asyncio.CancelledError:
            if not (self.interrupted or getattr(agent, "interrupted", False)):
                raise  # the kernel is shutting down
            kernel.publish(
                "stream", {"name": "stderr", "text": "Request interrupted."}, request.header
            )
            stopped = AgentInterruptedError("Stopped: the agent was interrupted.")
            await self._finish(
                request,
                agent,
                {**stopped.reply_content(), "status": "abort", "execution_count": None},
            )
        except Exception as e:
            error = explain(e)
            if not isinstance(error, AgentError) or error.ename == "AgentFailedError":
                log.warning("The agent failed", exc_info=e)
            self._tell(request, error)
            await self._finish(request, agent, {**error.reply_content(), "execution_count": None})
        else:
            self._publish_answer(request, context, answer)
            await self._finish(request, agent, ok_reply())
        finally:
            context.current_llm_query = None

    def _tell(self, request: Request, error: AgentError) -> None:
        """Show ``error`` the ways front ends look for it."""
        if isinstance(error, ModelAuthError):
            self.kernel.publish("llm_auth_failure", {"msg": error.message}, request.header)
        else:
            self.kernel.publish(
                "llm_response", {"name": "error", "text": error.message}, request.header
            )
        self.kernel.publish(
            "stream", {"name": "stderr", "text": f"LLM Error: {error.message}\n"}, request.header
        )

    def _publish_answer(self, request: Request, context: BeakerContext, answer: str) -> None:
        try:
            data = json.loads(answer)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("action") == "code_cell":
            self.kernel.publish(
                "code_cell",
                {
                    "language": data.get("language") or context.subkernel.SLUG,
                    "code": data.get("content", ""),
                },
                request.header,
            )
            return
        text = data if isinstance(data, str) else answer
        self.kernel.publish("llm_response", {"name": "response_text", "text": text}, request.header)

    async def _finish(self, request: Request, agent: Any, reply: dict[str, Any]) -> None:
        if agent is not None:
            try:
                await self.kernel.send_chat_history(request.header)
            except Exception:
                log.exception("Could not send the chat history")
        await self.kernel.reply(request, reply)

    # ------------------------------------------------------------ the model

    async def _on_set_model(self, request: Request) -> None:
        content = request.content
        unknown = sorted(set(content) - {"provider_id", "model_config"})
        if unknown:
            raise MessageError(
                f"set_agent_model takes provider_id and model_config, not {', '.join(unknown)}"
            )
        provider_id = content.get("provider_id")
        model_config = content.get("model_config")
        if provider_id is not None and not isinstance(provider_id, str):
            raise MessageError("set_agent_model: provider_id must be a string")
        settings = self.settings
        previous = settings._choice
        if provider_id is None and not model_config:
            settings.reset_choice()
        else:
            settings.select(*settings.choose(provider_id, model_config))
        try:
            await asyncio.to_thread(_preload, settings)
            model = settings.create_model() if settings.configured() or settings._choice else None
        except BaseException:
            settings._choice = previous
            raise
        context = self._current_context()
        if model is not None and context is not None and context.has_agent:
            context.agent.use_model(model)
        await self.kernel.send_chat_history(request.header)
        await self.kernel.reply(request, ok_reply(settings.describe()))


def _preload(settings: AgentSettings) -> None:
    importlib.import_module("beaker_kernel.lib.agent")
    provider_id = settings._choice[0] if settings._choice else "default"
    entry = settings.providers().get(provider_id)
    module = split_import_path(entry["import_path"])[0] if entry else ""
    if module:
        # an import error is reported, with advice, when the model is created
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
