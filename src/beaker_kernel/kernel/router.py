"""What happens to a message from a front end.

* stdin: an answer to a question Beaker asked (the agent's ``ask_user``) stays here;
  everything else goes to the subkernel.
* A request in the :class:`~.handlers.HandlerTable` is answered by its handler, inside
  ``busy``/``idle`` status messages; a failing handler becomes a ``status: error`` reply.
* Any other non-standard ``*_request`` on shell gets a ``status: error`` reply naming the
  requests Beaker knows.
* Everything else is forwarded to the subkernel with its frames unchanged (after the
  interceptors of that message type, if a context registered any).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import zmq.asyncio

from ..errors import BeakerError, MessageError, SubkernelStartError
from ..interface import Direction, Handler, Message
from ..wire import STANDARD_SHELL_TYPES, Frames, InvalidSignature, Request, reply_type
from . import validation
from .frontend import FrontEnd
from .handlers import KERNEL, HandlerTable
from .interception import Interceptors, encode_message
from .magics import Magics
from .notebook_items import NotebookItems
from .pending import PendingRequest, PendingRequests
from .post_execute import PostExecuteScheduler
from .relay import Relay, requested_session
from .supervisor import Supervisor
from .tasks import Tasks

log = logging.getLogger("beaker_kernel")


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
        self.notebook_items = NotebookItems()

    def start(self) -> None:
        frontend = self._frontend
        for name, sock in (
            ("shell", frontend.shell),
            ("control", frontend.control),
            ("stdin", frontend.stdin),
        ):
            self._tasks.spawn(self._loop(name, sock), name=f"front-{name}")
        self._tasks.spawn(frontend.greet_subscribers(), name="iopub-subscriptions")

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

        return self._tasks.spawn(run(), name=name)

    # ------------------------------------------------------------ dispatch

    async def _loop(self, channel: str, sock: zmq.asyncio.Socket) -> None:
        while True:
            raw = await sock.recv_multipart()
            try:
                await self.dispatch(channel, raw)
            except InvalidSignature:
                log.warning("Dropped a %s message with an invalid signature", channel)
            except MessageError as e:
                log.warning("Dropped a malformed %s message: %s", channel, e.message)
            except Exception:
                log.exception("Error while handling a %s message", channel)

    async def dispatch(self, channel: str, raw: list[bytes]) -> None:
        frames = Frames.split(raw)
        frames.verify(self._frontend.session)
        if channel == "stdin":
            await self._forward_stdin(frames)
            return
        header = frames.header()
        msg_type = header.get("msg_type")
        if not isinstance(msg_type, str):
            raise MessageError("Message header has no msg_type")
        handler = self._handlers.get(channel, msg_type)
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
            await started.wait()
            handler = self._handlers.get(channel, msg_type)
        if handler is not None:
            await self._handle(handler, channel, frames, header)
            return
        if (
            channel == "shell"
            and msg_type not in STANDARD_SHELL_TYPES
            and msg_type.endswith("_request")
        ):
            self._reply_unknown(channel, frames, header)
            return
        await self._forward(channel, frames, header)

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

    def _reply_unknown(self, channel: str, frames: Frames, header: dict[str, Any]) -> None:
        msg_type = header["msg_type"]
        known = [k for k in self._handlers.known(channel) if k.endswith("_request")]
        content = MessageError(
            f"Unknown message type {msg_type!r}. This kernel answers the Jupyter shell "
            f"messages and: {', '.join(known)}."
        ).reply_content()
        frontend = self._frontend
        frontend.publish("status", {"execution_state": "busy"}, header)
        frontend.send_reply(channel, frames.idents, header, reply_type(msg_type), content)
        frontend.publish("status", {"execution_state": "idle"}, header)

    async def _forward(self, channel: str, frames: Frames, header: dict[str, Any]) -> None:
        msg_type = str(header.get("msg_type", ""))
        if channel == "shell" and msg_type in validation.CHECKED_TYPES:
            wrong = validation.problem(msg_type, frames.parts[4])
            if wrong is not None:
                # The subkernel would drop it without a reply; answer as a kernel should.
                self._frontend.answer_error(
                    channel, frames.idents, header, MessageError(wrong).reply_content()
                )
                return
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
                and Magics.may_contain(frames)
                and await magics.run(Request.from_frames(channel, frames))
            ):
                return
            msg_id = header.get("msg_id")
            if isinstance(msg_id, str):
                self.notebook_items.note_request(frames, msg_id)
        types = self._interceptors.types(channel, Direction.TO_SUBKERNEL)
        if msg_type in types:
            intercepted = await self._interceptors.apply(
                channel, Direction.TO_SUBKERNEL, frames, msg_type
            )
            if intercepted is None:
                return
            frames = intercepted
        msg_id = header.get("msg_id")
        if isinstance(msg_id, str) and msg_type.endswith("_request"):
            pending = PendingRequest(channel, frames.idents, header)
            if msg_type == "history_request":
                pending.history_session = requested_session(frames)
            self._pending.add(msg_id, pending)
        self._post_execute.cancel()
        await link.socket(channel).send_multipart(frames.resigned(link.session))

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
        await self._forward(channel, frames, message.header)

    async def _forward_stdin(self, frames: Frames) -> None:
        if self._frontend.take_answer(frames, self._relay.subkernel_asking > 0):
            return
        link = self._supervisor.link
        if link is None:
            log.warning("Dropped a stdin message: no subkernel is running")
            return
        types = self._interceptors.types("stdin", Direction.TO_SUBKERNEL)
        if types:
            msg_type = str(frames.header().get("msg_type", ""))
            if msg_type in types:
                intercepted = await self._interceptors.apply(
                    "stdin", Direction.TO_SUBKERNEL, frames, msg_type
                )
                if intercepted is None:
                    return
                frames = intercepted
        self._relay.subkernel_asking = max(0, self._relay.subkernel_asking - 1)
        await link.stdin.send_multipart(frames.resigned(link.session))
