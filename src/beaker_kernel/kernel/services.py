"""The kernel as contexts and agents see it: ``context.beaker_kernel``.

:class:`BeakerKernel` implements :class:`~beaker_kernel.interface.KernelServices` and the
methods upstream Beaker's kernel offered contexts (``send_response``, ``debug``,
``prompt_user``, ``send_preview`` …), over the kernel's parts. Contexts get this object
and nothing else of the kernel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import MessageError
from ..interface import Direction, ExecutionResult, Interceptor
from ..lib.jupyter_kernel_proxy import JupyterMessage
from ..lib.subkernel import BeakerSubkernel
from ..lib.utils import (
    ExecutionTask,
    LogMessageEncoder,
    execution_context,
    get_parent_message,
    parent_message_context,
)
from ..wire import Request, encode
from .executor import execute_content

if TYPE_CHECKING:
    from traitlets.config import Configurable

    from ..agent.settings import AgentSettings
    from ..lib.context import BeakerContext
    from .executor import InternalExecutor
    from .frontend import FrontEnd
    from .interception import Interceptors
    from .supervisor import Supervisor

log = logging.getLogger("beaker_kernel")

#: How long request_notebook_state waits for a front end's answer.
NOTEBOOK_STATE_WAIT = 1.0


class BeakerKernel:
    """A narrow facade over the kernel's parts, handed to contexts and agents."""

    def __init__(
        self,
        settings_parent: Configurable,
        frontend: FrontEnd,
        executor: InternalExecutor,
        supervisor: Supervisor,
        interceptors: Interceptors,
        agent_settings: AgentSettings,
    ) -> None:
        self._settings_parent = settings_parent
        self._frontend = frontend
        self._executor = executor
        self._supervisor = supervisor
        self._interceptors = interceptors
        self.agent_settings = agent_settings
        self.debug_enabled = False
        self.verbose = False
        self.kernel_id: str = str(getattr(settings_parent, "kernel_id", "") or "")
        self.connection_file: str = str(getattr(settings_parent, "connection_file", "") or "")
        self.session_id = f"{self.kernel_id or uuid.uuid4()}_session"
        #: Set by the kernel: the current context, and what it can ask of the agent runner.
        self._current_context: Callable[[], BeakerContext | None] = lambda: None
        self._ensure_agent_idle: Callable[[str], None] = lambda doing: None
        self._checkpoint_store: Callable[[], Any] = _no_store
        self._checkpoints_enabled: Callable[[], bool] = lambda: False
        self._notebook_states: dict[str, asyncio.Future[Any]] = {}
        #: Interceptors added with upstream's add_intercept, by (msg_type, function).
        self._raw_intercepts: dict[tuple[str, Any], str] = {}

    # ------------------------------------------------------------ the interface

    @property
    def settings_parent(self) -> Configurable:
        return self._settings_parent

    @property
    def subkernel_name(self) -> str:
        return self._supervisor.kernel_name

    @property
    def jupyter_server(self) -> str:
        return str(getattr(self._settings_parent, "service_url", "") or "")

    @property
    def context(self) -> BeakerContext | None:
        return self._current_context()

    @property
    def internal_executions(self) -> set[str]:
        return self._executor.running()

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._frontend.publish(msg_type, content, parent, metadata)

    async def reply(
        self, request: Request, content: dict[str, Any], msg_type: str | None = None
    ) -> None:
        self._frontend.reply(request, content, msg_type)

    async def ask_user(
        self,
        request: Request,
        prompt: str,
        *,
        password: bool = False,
        timeout: float | None = None,
    ) -> str:
        return await self._frontend.ask_user(request, prompt, password=password, timeout=timeout)

    async def execute(self, code: str, *, timeout: float | None = None) -> ExecutionResult:
        return await self._executor.execute(code, timeout=timeout)

    async def evaluate(self, code: str, *, timeout: float | None = None) -> Any:
        return await self._executor.evaluate(code, timeout=timeout)

    def intercept(
        self,
        owner: str,
        channel: str,
        direction: Direction,
        msg_type: str,
        interceptor: Interceptor,
    ) -> None:
        self._interceptors.add(owner, channel, direction, msg_type, interceptor)

    @property
    def checkpoints_enabled(self) -> bool:
        return bool(self._checkpoints_enabled())

    async def checkpoint_store(self) -> Any:
        """The running subkernel's checkpoint store, or ``None`` when checkpoints are off."""
        return await self._checkpoint_store()

    def ensure_agent_idle(self, doing: str) -> None:
        self._ensure_agent_idle(doing)

    def subkernel_for(self, language: str, context: BeakerContext) -> BeakerSubkernel:
        """A subkernel object of ``language`` for ``context`` (bound once it runs)."""
        cls = self._supervisor.resolve(language)
        subkernel = cls(None, {}, context)
        link = self._supervisor.link
        if link is not None and self._supervisor.subkernel is cls:
            subkernel.bind(link.kernel_name, link.handle.kernel_id)
        return subkernel

    # ------------------------------------------------------------ running code

    def execute_task(
        self,
        code: str,
        *,
        parent_header: dict[str, Any] | None = None,
        store_history: bool = False,
        visible: bool = False,
        identities: list[bytes] | None = None,
        carbon_copy: bool = True,
        response_handler: Any = None,
    ) -> ExecutionTask:
        """Start running ``code``; the task's result is upstream's execution dict."""
        content = execute_content(code, store_history=store_history, allow_stdin=visible)
        msg = self._frontend.session.msg(
            "execute_request", content, parent=parent_header or {}, metadata={"trusted": True}
        )
        request = JupyterMessage(
            list(identities or []),
            b"",
            msg["header"],
            msg["parent_header"],
            msg["metadata"],
            msg["content"],
            [],
        )

        async def run() -> dict[str, Any]:
            result = await self._executor.execute(
                code,
                msg=msg,
                idents=list(identities) if (visible and identities) else None,
                visible=visible,
                store_history=store_history,
                carbon_copy=carbon_copy,
            )
            if result.error is not None and not visible:
                log.warning(
                    "Code run for the context raised %s: %s",
                    result.error.get("ename"),
                    result.error.get("evalue"),
                )
            if response_handler is not None:
                log.debug("response_handler is not supported; streams are in stdout_list")
            return {
                "id": msg["header"]["msg_id"],
                "command": code,
                "stdout_list": result.stdout_chunks,
                "stderr_list": result.stderr_chunks,
                "display_data_list": [
                    d.get("data", {}) for d in result.displays if "execution_count" not in d
                ],
                "return": result.shown(),
                "error": result.error,
                "done": True,
                "result": result.reply,
                "parent": request,
            }

        return ExecutionTask(run(), execute_request_msg=request)

    # ------------------------------------------------------------ upstream's kernel methods

    def send_response(
        self,
        stream: str,
        msg_or_type: str,
        content: Any = None,
        channel: Any = None,
        parent_header: dict[str, Any] | None = None,
        parent_identities: list[bytes] | None = None,
        msg_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a message of Beaker's own on ``stream`` (``iopub``, ``shell``, ``stdin``)."""
        if stream not in ("iopub", "shell", "stdin", "control"):
            raise MessageError(f"Unknown stream {stream!r} (iopub, shell, stdin or control)")
        header_parent = parent_header or {}
        msg = self._frontend.session.msg(
            msg_or_type, _plain(content if content is not None else {}), parent=header_parent
        )
        if msg_id:
            msg["header"]["msg_id"] = msg_id
        if stream == "iopub":
            self._frontend.send_message(msg)
        else:
            sock = self._frontend.socket(stream)
            self._frontend.send_now(
                sock, encode(self._frontend.session, msg, parent_identities or [])
            )
        return msg

    def stdout(self, text: str | bytes, parent_header: dict[str, Any] | None = None) -> None:
        self._stream("stdout", text, parent_header)

    def stderr(self, text: str | bytes, parent_header: dict[str, Any] | None = None) -> None:
        self._stream("stderr", text, parent_header)

    def _stream(self, name: str, text: str | bytes, parent: dict[str, Any] | None) -> None:
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        self.publish("stream", {"name": name, "text": text}, parent or _current_parent())

    def log(
        self, event_type: str, content: Any = None, parent_header: dict[str, Any] | None = None
    ) -> None:
        """Publish a ``debug_event`` (Jupyter's debug-adapter envelope)."""
        body = json.loads(json.dumps(content, cls=LogMessageEncoder))
        self.publish(
            "debug_event",
            {"seq": 0, "type": "event", "event": event_type, "body": body},
            parent_header or _current_parent(),
        )

    def debug(
        self, event_type: str, content: Any = None, parent_header: dict[str, Any] | None = None
    ) -> None:
        """Like :meth:`log`, when the context was set up with ``debug``."""
        if self.debug_enabled:
            self.log(event_type, content, parent_header)

    def handle_thoughts(
        self,
        thought: str,
        tool_name: str,
        tool_input: Any,
        parent_header: dict[str, Any] | None = None,
    ) -> None:
        self.publish(
            "llm_thought",
            {"thought": thought, "tool_name": tool_name, "tool_input": tool_input},
            parent_header or _current_parent(),
        )

    async def prompt_user(
        self,
        query: str,
        parent_message: Any = None,
        format: str | None = None,
        *,
        timeout: float | None = None,
    ) -> str:
        """Ask the front end that sent ``parent_message`` a question (stdin ``input_request``)."""
        message = parent_message or get_parent_message().get("parent_message")
        header = getattr(message, "header", None)
        idents = getattr(message, "identities", None)
        if not isinstance(header, dict) or not idents:
            raise MessageError("Cannot ask the user: no request to answer")
        request = Request("shell", list(idents), header, {})
        return await self._frontend.ask_user(request, query, timeout=timeout, prompt_format=format)

    async def request_notebook_state(self, parent_message: Any = None) -> Any:
        """Ask the front end for its notebook (beaker-ts answers); ``None`` after a second."""
        header = getattr(parent_message, "header", None) or _current_parent()
        msg = self._frontend.session.msg("notebook_state_request", {}, parent=header)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        msg_id = msg["header"]["msg_id"]
        self._notebook_states[msg_id] = waiter
        try:
            self._frontend.send_message(msg)
            return await asyncio.wait_for(waiter, NOTEBOOK_STATE_WAIT)
        except TimeoutError:
            return None
        finally:
            self._notebook_states.pop(msg_id, None)

    def notebook_state_arrived(self, request: Request) -> None:
        """A ``notebook_state_response`` came (its msg_id is the request's + ``_reply``)."""
        request_id = request.msg_id.removesuffix("_reply")
        waiter = self._notebook_states.pop(request_id, None)
        if waiter is None and self._notebook_states:
            waiter = self._notebook_states.pop(next(iter(self._notebook_states)))
        if waiter is not None and not waiter.done():
            waiter.set_result(request.content)
        context = self.context
        if context is not None:
            context.notebook_state = request.content

    async def send_preview(self, parent_header: dict[str, Any] | None = None) -> None:
        context = self.context
        if context is None or context.preview is None:
            return
        with execution_context("preview", context.slug):
            payload = await context.preview()
        if payload:
            self.publish("preview", payload, parent_header or {})

    async def send_kernel_state_info(self, parent_header: dict[str, Any] | None = None) -> None:
        context = self.context
        if context is None or context.kernel_state is None:
            return
        with execution_context("kernel_state_info", context.slug):
            payload = await context.kernel_state()
        if payload:
            self.publish("kernel_state_info", payload, parent_header or {})

    async def send_chat_history(self, parent_header: dict[str, Any] | None = None) -> None:
        """Publish the agent's conversation (``chat_history``), without creating the agent."""
        context = self.context
        if context is None:
            return
        from ..agent.history import outbound_chat_history, outbound_without_agent

        if context.has_agent:
            history = await outbound_chat_history(context.agent)
        else:
            described = self.agent_settings.describe()
            provider = described["provider"].replace(":", ".").rpartition(".")[2]
            history = outbound_without_agent(provider, described["model"])
        self.publish("chat_history", history, parent_header or {})

    def add_intercept(self, msg_type: str, func: Any, stream: str | None = None) -> None:
        """Upstream's raw interception: ``func(server, target_stream, frames)`` returns the
        frames to send on, or ``None`` to drop the message."""
        from .interception import raw_interceptor

        channel = stream or {"execute_request": "shell", "execute_reply": "shell"}.get(
            msg_type, "iopub"
        )
        owner = f"raw:{id(func)}"
        direction = (
            Direction.TO_SUBKERNEL if msg_type.endswith("_request") else Direction.TO_FRONTEND
        )
        self._interceptors.add(owner, channel, direction, msg_type, raw_interceptor(func))
        self._raw_intercepts[(msg_type, func)] = owner

    def remove_intercept(self, msg_type: str, func: Any, stream: str | None = None) -> None:
        owner = self._raw_intercepts.pop((msg_type, func), None)
        if owner is not None:
            self._interceptors.remove(owner)


async def _no_store() -> None:
    return None


def _current_parent() -> dict[str, Any]:
    from ..lib.utils import current_parent_header

    return current_parent_header()


def _plain(content: Any) -> Any:
    """``content`` as plain JSON data (anything else becomes its ``str()``)."""
    return json.loads(json.dumps(content, cls=LogMessageEncoder))


#: What contexts written for upstream Beaker call the kernel in type hints.
LLMKernel = BeakerKernel

__all__ = ["BeakerKernel", "LLMKernel", "parent_message_context"]
