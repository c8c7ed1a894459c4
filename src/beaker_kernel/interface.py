"""What contexts and agents see of the kernel, and what the kernel sees of a context.

Contexts and agents are plugins: they must not depend on how the kernel routes messages
or supervises subkernels. They receive an object that satisfies :class:`KernelServices`
and use nothing else of the kernel. The kernel, in turn, drives the current context only
through the hooks of :class:`ContextHooks`. Imports run one way: the kernel package
imports contexts and this module; contexts import this module, never the kernel package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .wire import Request

#: A handler of a request Beaker answers itself; it must send the reply.
Handler = Callable[["Request"], Awaitable[None]]


@dataclass
class ExecutionResult:
    """What one execution of code produced in the subkernel."""

    stdout: str = ""
    stderr: str = ""
    #: ``display_data`` and ``execute_result`` contents, in order.
    displays: list[dict[str, Any]] = field(default_factory=list)
    #: The ``error`` message content, when the code raised.
    error: dict[str, Any] | None = None
    #: The ``execute_reply`` content.
    reply: dict[str, Any] | None = None
    #: stdout and stderr as the subkernel sent them, message by message.
    stdout_chunks: list[str] = field(default_factory=list)
    stderr_chunks: list[str] = field(default_factory=list)

    def shown(self) -> str | None:
        """The ``text/plain`` of the ``execute_result`` (the last expression's value)."""
        for content in self.displays:
            data = content.get("data")
            if "execution_count" in content and isinstance(data, dict):
                text = data.get("text/plain")
                if isinstance(text, str):
                    return text
        return None

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.reply or {}).get("status") == "error"


class Direction(StrEnum):
    """Which way a message travels through Beaker."""

    #: From a front end towards the subkernel (requests, stdin answers).
    TO_SUBKERNEL = "to_subkernel"
    #: From the subkernel towards the front ends (replies, iopub, stdin questions).
    TO_FRONTEND = "to_frontend"


@dataclass
class Message:
    """A decoded Jupyter message on its way through Beaker, as interceptors see it.

    An interceptor may change any field in place and return the message to send it on
    changed, return ``None`` to let the original through, or return :data:`DROP`.
    """

    channel: str
    direction: Direction
    idents: list[bytes]
    header: dict[str, Any]
    parent_header: dict[str, Any]
    metadata: dict[str, Any]
    content: dict[str, Any]
    buffers: list[bytes] = field(default_factory=list)

    @property
    def msg_type(self) -> str:
        return str(self.header.get("msg_type", ""))

    @property
    def msg_id(self) -> str:
        return str(self.header.get("msg_id", ""))


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Returned by an interceptor to stop a message: it reaches neither side.
DROP: Any = _Drop()

#: An interceptor: ``None`` passes the message unchanged, a :class:`Message` replaces it,
#: :data:`DROP` drops it.
Interceptor = Callable[[Message], Awaitable["Message | _Drop | None"]]


class KernelServices(Protocol):
    """The kernel as a context or an agent sees it."""

    @property
    def subkernel_name(self) -> str:
        """The kernelspec name of the running subkernel (``''`` while none runs)."""

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Publish a message of Beaker's own on iopub."""

    async def reply(
        self, request: Request, content: dict[str, Any], msg_type: str | None = None
    ) -> None:
        """Answer ``request`` on its own channel (default type: ``<name>_reply``)."""

    async def ask_user(
        self,
        request: Request,
        prompt: str,
        *,
        password: bool = False,
        timeout: float | None = None,
    ) -> str:
        """Ask the front end that sent ``request`` a question over stdin; return its answer."""

    async def execute(self, code: str, *, timeout: float | None = None) -> ExecutionResult:
        """Run ``code`` in the subkernel, out of the user's sight."""

    async def evaluate(self, code: str, *, timeout: float | None = None) -> Any:
        """Run ``code``; return the single JSON document it printed to stdout, decoded."""

    def intercept(
        self,
        owner: str,
        channel: str,
        direction: Direction,
        msg_type: str,
        interceptor: Interceptor,
    ) -> None:
        """Let ``interceptor`` see every ``msg_type`` on ``channel`` going ``direction``."""

    @property
    def settings_parent(self) -> Any:
        """The configurable that owns the kernel's settings (agent settings hang off it)."""


class ContextHooks(Protocol):
    """What the kernel calls on the current context."""

    slug: str

    def handlers(self) -> dict[str, Handler]:
        """Shell message types this context answers, and their handlers."""

    def has_post_execute(self) -> bool:
        """Whether :meth:`post_execute` has anything to do (asked after every user cell)."""

    async def post_execute(self, parent: dict[str, Any]) -> None:
        """A user cell finished and the subkernel is idle."""

    async def on_subkernel_restart(self) -> None:
        """The subkernel crashed and was replaced: prepare the new one."""

    def interrupt(self) -> None:
        """The front end sent an interrupt."""

    async def close(self) -> None:
        """The context is being replaced or the kernel stops."""
