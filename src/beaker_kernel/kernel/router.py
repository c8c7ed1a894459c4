"""What happens to a message from a front end.

* stdin: an answer to a question Beaker asked (the agent's ``ask_user``) stays here;
  everything else goes to the subkernel.
* A request in the :class:`~.handlers.HandlerTable` is answered by its handler, inside
  ``busy``/``idle`` status messages; a failing handler becomes a ``status: error`` reply.
* Any other non-standard ``*_request`` on shell gets a ``status: error`` reply naming the
  requests Beaker knows.
* ``kernel_info_request`` on shell is answered with the subkernel's own answer to the
  start-up probe, in order with the other shell replies (see ``_own_kernel_info``).
* Everything else is forwarded to the subkernel with its frames unchanged (after the
  interceptors of that message type, if a context registered any).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from functools import partial
from typing import Any

from ..errors import BeakerError, MessageError, SubkernelStartError
from ..interface import Direction, Handler, Message
from ..wire import (
    STANDARD_SHELL_TYPES,
    Frames,
    InvalidSignature,
    Request,
    peek_msg_type,
    reply_type,
)
from . import validation
from .frontend import FrontEnd
from .handlers import KERNEL, HandlerTable
from .interception import Interceptors, encode_message
from .link import SubkernelLink
from .magics import Magics
from .notebook_items import NotebookItems
from .pending import PendingRequest, PendingRequests
from .post_execute import PostExecuteScheduler
from .relay import Relay, requested_session
from .supervisor import Supervisor
from .tasks import Tasks

log = logging.getLogger("beaker_kernel")

#: Shell requests that may be sent on before they are read (see ``Router._pass_now``):
#: the standard ones, except those Beaker answers or changes itself.
PASSABLE_TYPES = STANDARD_SHELL_TYPES - {"kernel_info_request", "history_request"}
#: What ``Router._pass_now`` returns for a request that must be read first.
_READ_FIRST: tuple[bool, None] = (False, None)


class Router:
    """Reads the front-end sockets and dispatches each message."""

    def __init__(
        self,
        tasks: Tasks,
        frontend: FrontEnd,
        handlers: HandlerTable,
        interceptors: Interceptors,
        supervisor: Supervisor,
        pending: PendingRequests,
        post_execute: PostExecuteScheduler,
        relay: Relay,
    ) -> None:
        self._tasks = tasks
        self._frontend = frontend
        self._handlers = handlers
        self._interceptors = interceptors
        self._supervisor = supervisor
        self._pending = pending
        self._post_execute = post_execute
        self._relay = relay
        # msg_ids of requests finished by a detached task, which publishes their idle.
        self._detached: set[str] = set()
        # Handlers running now (an interrupt cancels them), by request msg_id.
        self._running: dict[str, asyncio.Task[Any]] = {}
        #: Set by the kernel once the context switcher exists.
        self.magics: Magics | None = None
        #: Set by the kernel while it starts: Beaker's own requests wait for it (below).
        self.started: asyncio.Event | None = None
        #: Seconds between warnings while a request waits for :attr:`started`.
        self.start_wait_warning = 30.0
        self.notebook_items = NotebookItems()

    def start(self) -> None:
        frontend = self._frontend
        for channel in ("shell", "control", "stdin"):
            frontend.listen(
                channel,
                partial(self.dispatch_now, channel),
                partial(self._failed, channel),
            )
        frontend.greet_subscribers()

    def detach(
        self, request: Request, coro: Coroutine[Any, Any, Any], *, name: str
    ) -> asyncio.Task[Any]:
        """Finish handling ``request`` in a task of its own, so its channel goes on at once.

        A handler calls this for long work (an agent run) and returns right away. The task
        must send the reply; the request's ``idle`` status is published when it ends
        instead of when the handler returns.
        """
        self._detached.add(request.msg_id)

        async def run() -> None:
            try:
                await coro
            finally:
                self._detached.discard(request.msg_id)
                self._frontend.publish("status", {"execution_state": "idle"}, request.header)
                self._relay.resume_passthrough()

        return self._tasks.spawn(run(), name=name)

    # ------------------------------------------------------------ dispatch

    def _failed(self, channel: str, error: BaseException) -> None:
        if isinstance(error, InvalidSignature):
            log.warning("Dropped a %s message with an invalid signature", channel)
        elif isinstance(error, MessageError):
            log.warning("Dropped a malformed %s message: %s", channel, error.message)
        else:
            log.error("Error while handling a %s message", channel, exc_info=error)

    async def dispatch(self, channel: str, raw: list[bytes]) -> None:
        """Handle one message from a front end, to the end."""
        pending = self.dispatch_now(channel, raw)
        if pending is not None:
            await pending

    def dispatch_now(self, channel: str, raw: list[bytes]) -> Awaitable[None] | None:
        """Handle one message from a front end as far as possible without waiting.

        Returns ``None`` when done (a forwarded message, the usual case), else what is left
        to wait for; the channel reads nothing more meanwhile.
        """
        frames = Frames.split(raw)
        if channel == "shell":
            passed, pending = self._pass_now(frames)
            if passed:
                return pending
        frames.verify(self._frontend.session)
        if channel == "stdin":
            return self._forward_stdin(frames)
        header = frames.header()
        msg_type = header.get("msg_type")
        if not isinstance(msg_type, str):
            raise MessageError("Message header has no msg_type")
        started = self.started
        if (
            started is not None
            and not started.is_set()
            and channel == "shell"
            and msg_type not in STANDARD_SHELL_TYPES
        ):
            # The default context is still being set up: a request for it (its info, its
            # actions) or for another context waits, as upstream queued every request
            # until then; so the default context never replaces one set up meanwhile.
            return self._dispatch_when_started(started, channel, frames, header, msg_type)
        return self._dispatch(channel, frames, header, msg_type)

    def _pass_now(self, frames: Frames) -> tuple[bool, Awaitable[None] | None]:
        """Send a front end's shell request on to the subkernel before reading it, when its
        header names a standard request that nothing in Beaker takes part in; then read it.

        Sending first takes Beaker's reading off the time the front end waits. It needs a
        subkernel that signs with the front end's key, so that it checks the signature of
        what it gets: a forged request reaches nothing there, and Beaker checks it too
        before keeping anything of it. Returns whether the request was sent (and what is
        left to wait for); a request that was not must be read first.
        """
        supervisor = self._supervisor
        link = supervisor.link
        if link is None or not link.send_first or not supervisor.settled:
            return _READ_FIRST
        msg_type = peek_msg_type(frames.parts[1])
        if (
            msg_type is None
            or msg_type not in PASSABLE_TYPES
            or self._handlers.get("shell", msg_type) is not None
            or msg_type in self._interceptors.types("shell", Direction.TO_SUBKERNEL)
        ):
            return _READ_FIRST
        content = frames.parts[4]
        if msg_type == "execute_request" and (
            (self.magics is not None and Magics.may_contain(content))
            or NotebookItems.may_name(frames.parts[3])
        ):
            return _READ_FIRST
        if msg_type in validation.CHECKED_TYPES and validation.problem(msg_type, content):
            return _READ_FIRST  # answered with an error, as a request read first is
        sending = link.send("shell", frames.unchanged())
        log.debug("%s sent on before it was read", msg_type)
        try:
            frames.verify(self._frontend.session)
            header = frames.header()
        except MessageError as e:
            self._failed("shell", e)  # the subkernel drops it too
            return True, sending
        self._note_pending("shell", frames, header, msg_type)
        return True, sending

    async def _dispatch_when_started(
        self,
        started: asyncio.Event,
        channel: str,
        frames: Frames,
        header: dict[str, Any],
        msg_type: str,
    ) -> None:
        waited = 0.0
        while True:
            try:
                await asyncio.wait_for(started.wait(), self.start_wait_warning)
                break
            except TimeoutError:
                waited += self.start_wait_warning
                log.warning(
                    "%s has waited %.3g s for the kernel's start (its subkernel and "
                    "default context); the shell channel waits with it",
                    msg_type,
                    waited,
                )
        pending = self._dispatch(channel, frames, header, msg_type)
        if pending is not None:
            await pending

    def _dispatch(
        self, channel: str, frames: Frames, header: dict[str, Any], msg_type: str
    ) -> Awaitable[None] | None:
        handler = self._handlers.get(channel, msg_type)
        if handler is not None:
            return self._handle(handler, channel, frames, header)
        if (
            channel == "shell"
            and msg_type not in STANDARD_SHELL_TYPES
            and msg_type.endswith("_request")
        ):
            self._reply_unknown(channel, frames, header)
            return None
        return self._forward_now(channel, frames, header)

    def cancel_running(self, *, keep: str = "") -> None:
        """Cancel the handlers running now (an interrupt), except the one of ``keep``."""
        for msg_id, task in list(self._running.items()):
            if msg_id != keep and not task.done():
                task.cancel()

    async def _handle(
        self, handler: Handler, channel: str, frames: Frames, header: dict[str, Any]
    ) -> None:
        frontend = self._frontend
        try:
            request = Request.from_frames(channel, frames)
        except MessageError as e:
            frontend.answer_error(channel, frames.idents, header, e.reply_content())
            return
        if (
            not isinstance(request.content, dict)
            and self._handlers.owner(channel, request.msg_type) == KERNEL
        ):
            frontend.answer_error(
                channel,
                frames.idents,
                header,
                MessageError(
                    f"{request.msg_type}: the content must be a JSON object"
                ).reply_content(),
            )
            return
        quiet = self._handlers.quiet(channel, request.msg_type)
        if not quiet:
            frontend.publish("status", {"execution_state": "busy"}, request.header)
        # In a task of its own, so that an interrupt can stop it without stopping this
        # channel's loop.
        task = asyncio.ensure_future(handler(request))
        self._running[request.msg_id] = task
        try:
            await asyncio.wait({task})
        finally:
            self._running.pop(request.msg_id, None)
        try:
            task.result()
        except asyncio.CancelledError:
            frontend.reply(
                request,
                {
                    "status": "abort",
                    "execution_count": None,
                    "ename": "Interrupted",
                    "evalue": f"{request.msg_type} was interrupted",
                    "traceback": [],
                },
            )
        except BeakerError as e:
            frontend.reply(request, {**e.reply_content(), "execution_count": None})
        except Exception as e:
            log.exception("Handler for %s failed", request.msg_type)
            frontend.reply(
                request,
                {
                    "status": "error",
                    "execution_count": None,
                    "ename": type(e).__name__,
                    "evalue": str(e),
                    "traceback": [f"{type(e).__name__}: {e}"],
                },
            )
        finally:
            if request.msg_id not in self._detached and not quiet:
                frontend.publish("status", {"execution_state": "idle"}, request.header)
            self._relay.resume_passthrough()

    def _reply_unknown(self, channel: str, frames: Frames, header: dict[str, Any]) -> None:
        msg_type = header["msg_type"]
        known = [k for k in self._handlers.known(channel) if k.endswith("_request")]
        content = MessageError(
            f"Unknown message type {msg_type!r}. This kernel answers the Jupyter shell "
            f"messages and: {', '.join(known)}."
        ).reply_content()
        self._frontend.answer(channel, frames.idents, header, reply_type(msg_type), content)

    def _forward_now(
        self, channel: str, frames: Frames, header: dict[str, Any]
    ) -> Awaitable[None] | None:
        """Send a front end's message on to the subkernel: at once when nothing has to be
        waited for (a running subkernel, no magic, no interceptor), else in :meth:`_forward`."""
        msg_type = str(header.get("msg_type", ""))
        if channel == "shell" and msg_type in validation.CHECKED_TYPES:
            wrong = validation.problem(msg_type, frames.parts[4])
            if wrong is not None:
                # The subkernel would drop it without a reply; answer as a kernel should.
                self._frontend.answer_error(
                    channel, frames.idents, header, MessageError(wrong).reply_content()
                )
                return None
        supervisor = self._supervisor
        link = supervisor.link
        if (
            link is None
            or not supervisor.settled
            or msg_type in self._interceptors.types(channel, Direction.TO_SUBKERNEL)
            or (
                msg_type == "execute_request"
                and self.magics is not None
                and Magics.may_contain(frames.parts[4])
            )
        ):
            return self._forward(channel, frames, header, msg_type)
        if msg_type == "execute_request":
            self._note_items(frames, header)
        return self._send(link, channel, frames, header, msg_type)

    async def _forward(
        self, channel: str, frames: Frames, header: dict[str, Any], msg_type: str
    ) -> None:
        supervisor = self._supervisor
        link = supervisor.link
        if link is None or not supervisor.settled:
            try:
                link = await supervisor.running_link()
            except SubkernelStartError as e:
                self._frontend.answer_error(channel, frames.idents, header, e.reply_content())
                return
        if msg_type == "execute_request":
            magics = self.magics
            if (
                magics is not None
                and Magics.may_contain(frames.parts[4])
                and await magics.run(Request.from_frames(channel, frames))
            ):
                return
            self._note_items(frames, header)
        types = self._interceptors.types(channel, Direction.TO_SUBKERNEL)
        if msg_type in types:
            intercepted = await self._interceptors.apply(
                channel, Direction.TO_SUBKERNEL, frames, msg_type
            )
            if intercepted is None:
                return
            frames = intercepted
        pending = self._send(link, channel, frames, header, msg_type)
        if pending is not None:
            await pending

    def _own_kernel_info(self, link: SubkernelLink, channel: str) -> dict[str, Any] | None:
        """What Beaker answers a ``kernel_info_request`` with itself, or ``None`` to forward it.

        On shell, the subkernel's own answer to the start-up probe, so the reply keeps its
        place among the shell replies: forwarded, it could be overtaken by the answer to a
        Beaker request sent after it, and beaker-ts waits for the kernel info while it
        handles ``context_info_response`` (its message queue then stalls for good).
        Forwarded as before while another shell request waits for the subkernel (a running
        cell: the subkernel answers after it, and no ``idle`` comes before the cell's) or
        when a context intercepts ``kernel_info``.
        """
        if (
            channel != "shell"
            or any(request.channel == "shell" for request in self._pending)
            or "kernel_info_request" in self._interceptors.types("shell", Direction.TO_SUBKERNEL)
            or "kernel_info_reply" in self._interceptors.types("shell", Direction.TO_FRONTEND)
        ):
            return None
        return link.kernel_info

    def _note_items(self, frames: Frames, header: dict[str, Any]) -> None:
        msg_id = header.get("msg_id")
        if isinstance(msg_id, str):
            self.notebook_items.note_request(frames, msg_id)

    def _send(
        self,
        link: SubkernelLink,
        channel: str,
        frames: Frames,
        header: dict[str, Any],
        msg_type: str,
    ) -> Awaitable[None] | None:
        if (
            msg_type == "kernel_info_request"
            and (kernel_info := self._own_kernel_info(link, channel)) is not None
        ):
            self._frontend.answer(channel, frames.idents, header, "kernel_info_reply", kernel_info)
            return None
        sending = link.forward(channel, frames)
        # The rest waits for nothing the subkernel needs: done once it has the request.
        self._note_pending(channel, frames, header, msg_type)
        return sending

    def _note_pending(
        self, channel: str, frames: Frames, header: dict[str, Any], msg_type: str
    ) -> None:
        """Remember a request just sent to the subkernel, until its reply comes."""
        msg_id = header.get("msg_id")
        if isinstance(msg_id, str) and msg_type.endswith("_request"):
            pending = PendingRequest(channel, frames.idents, header)
            if msg_type == "history_request":
                pending.history_session = requested_session(frames)
            self._pending.add(msg_id, pending)
        self._post_execute.cancel()

    async def forward_decoded(self, channel: str, message: Any) -> None:
        """Forward a decoded message (a context's handler returned one) to the subkernel."""
        frames = encode_message(
            Message(
                channel=channel,
                direction=Direction.TO_SUBKERNEL,
                idents=list(message.identities),
                header=message.header,
                parent_header=message.parent_header,
                metadata=message.metadata,
                content=message.content,
                buffers=list(message.buffers),
            )
        )
        pending = self._forward_now(channel, frames, message.header)
        if pending is not None:
            await pending

    def _forward_stdin(self, frames: Frames) -> Awaitable[None] | None:
        if self._frontend.take_answer(frames, self._relay.subkernel_asking > 0):
            return None
        link = self._supervisor.link
        if link is None:
            log.warning("Dropped a stdin message: no subkernel is running")
            return None
        types = self._interceptors.types("stdin", Direction.TO_SUBKERNEL)
        if types:
            msg_type = str(frames.header().get("msg_type", ""))
            if msg_type in types:
                return self._forward_stdin_intercepted(link, frames, msg_type)
        return self._send_stdin(link, frames)

    async def _forward_stdin_intercepted(
        self, link: SubkernelLink, frames: Frames, msg_type: str
    ) -> None:
        intercepted = await self._interceptors.apply(
            "stdin", Direction.TO_SUBKERNEL, frames, msg_type
        )
        if intercepted is None:
            return
        pending = self._send_stdin(link, intercepted)
        if pending is not None:
            await pending

    def _send_stdin(self, link: SubkernelLink, frames: Frames) -> Awaitable[None] | None:
        self._relay.subkernel_asking = max(0, self._relay.subkernel_asking - 1)
        return link.forward("stdin", frames)
