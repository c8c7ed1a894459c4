"""Setting up contexts, and the context messages of the protocol.

``context_setup_request {context, language = "python3", context_info, debug?, verbose?}``
    ``context_info: null`` means the context's default payload. Everything is checked
    first; a new subkernel is started only when the language changes (and is set up
    before the old one stops). The context's ``setup`` runs, then the iopub messages
    ``preview``, ``kernel_state_info`` and ``context_setup_response`` (the context's
    ``get_info()``), then ``context_setup_reply``. Any error leaves the previous context
    and subkernel in place and answers ``status: error``.
``context_info_request {}``
    iopub ``context_info_response {slug, class, config, language: {slug, subkernel},
    info}`` and ``chat_history``; reply ``context_info_reply``.
``beaker_session_info_request {}``
    reply with ``return``: the context's ``get_info()``.
``reset_request {}``
    sets the current context up again in a fresh subkernel; reply ``return: true``.

The handlers a context declares (:func:`~beaker_kernel.lib.utils.action`,
:func:`~beaker_kernel.lib.utils.intercept`) are registered here, under the context's
owner name, and removed with it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..errors import (
    BeakerError,
    ContextInfoError,
    HandlerConflictError,
    MessageError,
    UnsupportedLanguageError,
)
from ..interface import DROP, Direction, Handler, Message
from ..lib.jupyter_kernel_proxy import JupyterMessage
from ..lib.utils import ForwardMessage, execution_context, parent_message_context
from ..wire import STANDARD_SHELL_TYPES, Request, reply_type
from .executor import targeting
from .handlers import KERNEL, HandlerTable
from .interception import Interceptors
from .link import SubkernelLink
from .supervisor import Supervisor

if TYPE_CHECKING:
    from ..lib.context import BeakerContext
    from ..lib.registry import ContextRegistry
    from .services import BeakerKernel

log = logging.getLogger("beaker_kernel")

#: context_info_response's ``info`` and beaker_session_info's ``return`` with no context.
NO_CONTEXT_INFO: dict[str, Any] = {
    "language": "Not set",
    "subkernel": "Not set",
    "actions": {},
    "custom_messages": {},
    "procedures": [],
    "workflow_info": {"state": None, "workflows": {}},
    "agent": None,
}


def owner_of(context: BeakerContext) -> str:
    return f"context:{context.slug}"


def as_message(request: Request) -> JupyterMessage:
    """The request as upstream's handlers receive it."""
    return JupyterMessage(
        list(request.idents),
        b"",
        request.header,
        request.parent_header,
        request.metadata,
        request.content,
        list(request.buffers),
    )


def ok_reply(value: Any = None) -> dict[str, Any]:
    """A successful reply as upstream Beaker shapes them."""
    return {"status": "ok", "execution_count": None, "return": value}


class ContextSwitcher:
    """Holds the current context and replaces it."""

    def __init__(
        self,
        kernel: BeakerKernel,
        supervisor: Supervisor,
        handlers: HandlerTable,
        interceptors: Interceptors,
        registry: ContextRegistry,
        forward: Callable[[str, JupyterMessage], Awaitable[None]],
        send_answer: Callable[[Request, dict[str, Any]], None],
    ) -> None:
        self.kernel = kernel
        self.supervisor = supervisor
        self.handlers = handlers
        self.interceptors = interceptors
        self.registry = registry
        self._forward = forward
        self._send_answer = send_answer
        self.current: BeakerContext | None = None

    def register(self) -> None:
        self.handlers.register_many(
            KERNEL,
            {
                "context_setup_request": self._on_setup,
                "context_info_request": self._on_info,
                "beaker_session_info_request": self._on_session_info,
                "reset_request": self._on_reset,
            },
        )

    # ------------------------------------------------------------ messages

    async def _on_setup(self, request: Request) -> None:
        content = request.content
        slug = content.get("context")
        if not isinstance(slug, str) or not slug:
            raise MessageError("context_setup_request needs 'context': the context's slug")
        language = content.get("language") or "python3"
        if not isinstance(language, str):
            raise MessageError("context_setup_request: 'language' must be a string, e.g. 'python3'")
        context_info = content.get("context_info", {}) if "context_info" in content else {}
        kernel = self.kernel
        debug, verbose = content.get("debug"), content.get("verbose")
        if isinstance(debug, bool):
            kernel.debug_enabled = debug
        if isinstance(verbose, bool):
            kernel.verbose = verbose
        if isinstance(debug, bool) or isinstance(verbose, bool):
            kernel.debug(
                "debug_update",
                {"debug_enabled": kernel.debug_enabled, "verbose": kernel.verbose},
                parent_header=request.header,
            )
        context = await self.setup(slug, language, context_info, request)
        info = await context.get_info()
        kernel.publish("context_setup_response", info, request.header)
        await kernel.reply(request, ok_reply())

    async def _on_info(self, request: Request) -> None:
        context = self.current
        kernel = self.kernel
        if context is None:
            response: dict[str, Any] = {
                "slug": "NONE",
                "class": "None",
                "config": None,
                "language": {"slug": "Not set", "subkernel": "Not set"},
                "info": {
                    **NO_CONTEXT_INFO,
                    "debug": kernel.debug_enabled,
                    "verbose": kernel.verbose,
                },
            }
        else:
            cls = type(context)
            response = {
                "slug": context.slug,
                "class": f"{cls.__module__}.{cls.__name__}",
                "config": context.config.get("context_info"),
                "language": {
                    "slug": context.subkernel.SLUG,
                    "subkernel": context.subkernel.KERNEL_NAME,
                },
                "info": await context.get_info(),
            }
        kernel.publish("context_info_response", response, request.header)
        await kernel.send_chat_history(request.header)
        await kernel.reply(request, ok_reply())

    async def _on_session_info(self, request: Request) -> None:
        context = self.current
        if context is None:
            info = {
                **NO_CONTEXT_INFO,
                "debug": self.kernel.debug_enabled,
                "verbose": self.kernel.verbose,
            }
        else:
            info = await context.get_info()
        await self.kernel.reply(request, ok_reply(info))

    async def _on_reset(self, request: Request) -> None:
        context = self.current
        if context is None:
            raise MessageError("No context is set up: send a context_setup_request first")
        await self.setup(
            context.slug,
            context.config.get("language") or context.subkernel.SLUG,
            context.config.get("context_info", {}),
            request,
            fresh=True,
        )
        await self.kernel.send_chat_history(request.header)
        await self.kernel.reply(request, ok_reply(True))

    # ------------------------------------------------------------ switching

    async def setup(
        self,
        slug: str,
        language: str,
        context_info: Any,
        request: Request | None = None,
        *,
        fresh: bool = False,
        announce: bool = True,
    ) -> BeakerContext:
        """Make ``slug`` in ``language`` the current context (see the module docstring).

        ``fresh`` starts a new subkernel even for the same language (a reset).
        """
        cls = self.registry.get(slug)
        subkernel_cls = self.supervisor.resolve(language)
        available = cls.available_subkernels()
        if subkernel_cls.SLUG not in available:
            raise UnsupportedLanguageError(
                f"Context {slug!r} does not support {subkernel_cls.DISPLAY_NAME} "
                f"({subkernel_cls.SLUG}); it supports: "
                f"{', '.join(available) or 'no language installed here'}."
            )
        if context_info is None:
            try:
                context_info = json.loads(cls.default_payload())
            except ValueError as e:
                raise ContextInfoError(
                    f"The default payload of context {slug!r} is not JSON: {e}"
                ) from e
        parent_header = request.header if request is not None else {}
        parent = as_message(request) if request is not None else None
        context: BeakerContext = cls(
            beaker_kernel=self.kernel, config={"language": language, "context_info": context_info}
        )
        handlers, interceptors = self._adapters(context)
        self._check_handlers(context, handlers)

        async def prepare(link: SubkernelLink) -> None:
            context.subkernel.bind(link.kernel_name, link.handle.kernel_id)
            with targeting(link), parent_message_context(parent), execution_context("setup", slug):
                await context.setup(context_info=context_info, parent_header=parent_header)
                await context.subkernel.setup()

        changed = await self.supervisor.change(language, prepare, fresh=fresh)
        if not changed:
            link = await self.supervisor.running_link()
            await prepare(link)
        old, self.current = self.current, context
        if old is not None:
            self.handlers.unregister(owner_of(old))
            self.interceptors.remove(owner_of(old))
            self._cleanup(old)
        owner = owner_of(context)
        self.handlers.register_many(owner, handlers)
        for channel, direction, msg_type, interceptor in interceptors:
            self.interceptors.add(owner, channel, direction, msg_type, interceptor)
        if announce:
            with parent_message_context(parent):
                await self.kernel.send_preview(parent_header)
                await self.kernel.send_kernel_state_info(parent_header)
        return context

    def _cleanup(self, context: BeakerContext) -> None:
        try:
            context.cleanup()
        except Exception:
            log.exception("Context %r failed to clean up", context.slug)

    def _check_handlers(self, context: BeakerContext, new: dict[str, Handler]) -> None:
        """Refuse a context that would answer a message someone else answers."""
        replaced = owner_of(self.current) if self.current is not None else None
        for msg_type in new:
            owner = self.handlers.owner("shell", msg_type)
            if owner is not None and owner not in (replaced, owner_of(context)):
                who = "Beaker itself" if owner == KERNEL else repr(owner)
                raise HandlerConflictError(
                    f"Context {context.slug!r} cannot answer {msg_type!r}: {who} answers it "
                    "already. Rename the action or message."
                )

    def _adapters(
        self, context: BeakerContext
    ) -> tuple[dict[str, Handler], list[tuple[str, Direction, str, Any]]]:
        """The context's declared handlers, as table entries and interceptors."""
        handlers: dict[str, Handler] = {}
        interceptors: list[tuple[str, Direction, str, Any]] = []
        for msg_type, method, stream in context.intercepts:
            if stream == "shell" and msg_type not in STANDARD_SHELL_TYPES:
                handlers[msg_type] = self._handler(method)
            else:
                direction = (
                    Direction.TO_SUBKERNEL
                    if msg_type.endswith("_request")
                    or msg_type.startswith("comm_")
                    or msg_type == "input_reply"
                    else Direction.TO_FRONTEND
                )
                interceptors.append((stream, direction, msg_type, self._interceptor(method)))
        return handlers, interceptors

    def _handler(self, method: Callable[[JupyterMessage], Awaitable[Any]]) -> Handler:
        async def handle(request: Request) -> None:
            message = as_message(request)
            with parent_message_context(message):
                result = await method(message)
            if isinstance(result, JupyterMessage):
                await self._forward(request.channel, result)
            elif isinstance(result, ForwardMessage) or result is ForwardMessage:
                await self._forward(request.channel, message)
            else:
                await self.kernel.reply(request, ok_reply(_plain(result)))

        return handle

    def _interceptor(self, method: Callable[[JupyterMessage], Awaitable[Any]]) -> Any:
        """An interceptor calling a context's ``@intercept`` method.

        For a request on its way to the subkernel, ``busy`` is published first, as a
        kernel does; a method that answers it (returns neither a message nor
        :class:`ForwardMessage`) gets its reply (``return``: the value; an
        ``execute_reply`` also gets a front end's fields, and the subkernel's execution
        count since the cell never ran there) and ``idle``; one that raises, a
        ``status: error`` reply. Messages of other kinds pass unchanged if it raises.
        """

        async def intercept(message: Message) -> Any:
            jupyter = JupyterMessage(
                message.idents,
                b"",
                message.header,
                message.parent_header,
                message.metadata,
                message.content,
                message.buffers,
            )
            request = None
            if message.direction is Direction.TO_SUBKERNEL and message.msg_type.endswith(
                "_request"
            ):
                request = Request(
                    message.channel,
                    message.idents,
                    message.header,
                    message.content,
                    message.metadata,
                )
                self.kernel.publish("status", {"execution_state": "busy"}, message.header)
            try:
                with parent_message_context(jupyter):
                    result = await method(jupyter)
            except Exception as e:
                if request is None:
                    raise
                self._answer_failure(request, e)
                return DROP
            if isinstance(result, ForwardMessage) or result is ForwardMessage:
                return None
            if isinstance(result, JupyterMessage):
                return Message(
                    channel=message.channel,
                    direction=message.direction,
                    idents=list(result.identities),
                    header=result.header,
                    parent_header=result.parent_header,
                    metadata=result.metadata,
                    content=result.content,
                    buffers=list(result.buffers),
                )
            if request is not None:
                content = ok_reply(_plain(result))
                if request.msg_type == "execute_request":
                    content = {**content, "user_expressions": {}, "payload": []}
                self._send_answer(request, content)
            return DROP

        return intercept

    def _answer_failure(self, request: Request, error: Exception) -> None:
        if isinstance(error, BeakerError):
            content = error.reply_content()
        else:
            log.error("Intercept handler for %s failed", request.msg_type, exc_info=error)
            content = {
                "status": "error",
                "ename": type(error).__name__,
                "evalue": str(error),
                "traceback": [f"{type(error).__name__}: {error}"],
            }
        if request.msg_type == "execute_request":
            self.kernel.publish(
                "error",
                {key: content[key] for key in ("ename", "evalue", "traceback")},
                request.header,
            )
        self._send_answer(request, {**content, "execution_count": None})

    # ------------------------------------------------------------ other hooks

    async def on_subkernel_restart(self, link: SubkernelLink) -> None:
        """The subkernel crashed and was replaced: set the context up again in it."""
        context = self.current
        if context is None:
            return
        context.subkernel.bind(link.kernel_name, link.handle.kernel_id)
        with targeting(link), execution_context("setup", context.slug):
            await context.setup(context_info=context.config.get("context_info"), parent_header={})
            await context.subkernel.setup()

    async def close(self) -> None:
        if self.current is not None:
            self._cleanup(self.current)


def _plain(value: Any) -> Any:
    from ..lib.utils import LogMessageEncoder

    return json.loads(json.dumps(value, cls=LogMessageEncoder))


__all__ = ["ContextSwitcher", "as_message", "ok_reply", "reply_type"]
