"""The sockets front ends connect to, and everything Beaker sends on them.

Beaker binds the five channels of its connection file: shell, control and stdin as
ROUTER sockets (replies carry the requester's identity frames and route themselves),
iopub as XPUB (a new subscription is greeted with ``iopub_welcome``, JEP 65, so a front
end knows when it receives), and the heartbeat, echoed by a thread of its own so that it
answers even while the event loop is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from ..errors import MessageError
from ..transport import address
from ..wire import Frames, Request, encode, reply_type
from .link import as_bytes
from .passthrough import IopubPassthrough
from .pump import ErrorHandler, Handler, Pump, send_frames

log = logging.getLogger("beaker_kernel")


class FrontEnd:
    """Beaker's side of the front-end connection."""

    def __init__(self, connection_info: dict[str, Any], zmq_context: zmq.asyncio.Context) -> None:
        self.connection_info = connection_info
        self.session = Session(
            key=as_bytes(connection_info.get("key", b"")),
            signature_scheme=connection_info.get("signature_scheme", "hmac-sha256"),
            username="beaker",
        )
        self._zmq = zmq_context
        self._topic_prefix = f"kernel.{uuid.uuid4()}.".encode()
        self._now: dict[zmq.asyncio.Socket, zmq.Socket[bytes]] = {}
        self._pumps: dict[zmq.asyncio.Socket, Pump] = {}
        # input_request msg_id → future of the front end's answer (see ask_user).
        self._stdin_waiters: dict[str, asyncio.Future[str]] = {}
        #: The proxy that may relay a subkernel's iopub onto :attr:`iopub` (passthrough.py);
        #: Beaker stops it before sending there itself.
        self.passthrough: IopubPassthrough | None = None

    def bind(self) -> None:
        self.shell = self._bind(zmq.ROUTER, "shell_port")
        self.control = self._bind(zmq.ROUTER, "control_port")
        self.stdin = self._bind(zmq.ROUTER, "stdin_port")
        self.iopub = self._bind(zmq.XPUB, "iopub_port")
        self.iopub.setsockopt(zmq.XPUB_VERBOSE, 1)
        hb_address = address(self.connection_info, "hb_port")
        threading.Thread(target=_heartbeat, args=(hb_address,), daemon=True).start()

    def _bind(self, kind: int, port_name: str) -> zmq.asyncio.Socket:
        sock = self._zmq.socket(kind)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.bind(address(self.connection_info, port_name))
        # ROUTER and XPUB sends never block (they drop what cannot be delivered), so
        # sending to the front end goes through a plain socket sharing the same handle:
        # no future and no event-loop round per message.
        self._now[sock] = zmq.Socket.shadow(sock.underlying)
        return sock

    def socket(self, channel: str) -> zmq.asyncio.Socket:
        return {
            "shell": self.shell,
            "control": self.control,
            "stdin": self.stdin,
            "iopub": self.iopub,
        }[channel]

    def listen(self, channel: str, handle: Handler, on_error: ErrorHandler) -> Pump:
        """Feed the messages arriving on ``channel`` to ``handle`` (see pump.py)."""
        sock = self.socket(channel)
        pump = Pump(sock, handle, name=f"the front end's {channel}", on_error=on_error)
        self._pumps[sock] = pump
        pump.start()
        return pump

    @property
    def iopub_pump(self) -> Pump:
        """The pump reading iopub subscriptions (see :meth:`greet_subscribers`)."""
        return self._pumps[self.iopub]

    def close(self) -> None:
        if self.passthrough is not None:
            self.passthrough.close()
        for pump in self._pumps.values():
            pump.stop()
        for sock in (self.shell, self.control, self.stdin, self.iopub):
            sock.close(linger=500)

    # ------------------------------------------------------------ sending

    def send_now(self, sock: zmq.asyncio.Socket, frames: list[bytes]) -> None:
        """Send ``frames`` on a front-end socket at once."""
        if sock is self.iopub and self.passthrough is not None:
            self.passthrough.stop()
        try:
            send_frames(self._now[sock], frames)
        except zmq.Again:
            log.warning("A front end is not reading its messages; one was dropped")
        pump = self._pumps.get(sock)
        if pump is not None:
            pump.kick()

    def forward(self, channel: str, frames: Frames, *, same_key: bool = False) -> None:
        """Send a message from the subkernel on, signed by Beaker: as it came when the
        subkernel signs with the front end's key (``same_key``) and its signature was
        checked, else signed again (frames Beaker made or changed are never checked)."""
        unchanged = same_key and frames.checked
        self.send_now(
            self.socket(channel), frames.unchanged() if unchanged else frames.resigned(self.session)
        )

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Publish a message of Beaker's own on iopub."""
        msg = self.session.msg(msg_type, content, parent=parent or {}, metadata=metadata)
        frames = encode(self.session, msg, [self._topic_prefix + msg_type.encode()])
        self.send_now(self.iopub, frames)

    def send_message(self, msg: dict[str, Any]) -> None:
        """Publish ``msg`` (made with :attr:`session`) on iopub."""
        topic = self._topic_prefix + str(msg["header"]["msg_type"]).encode()
        self.send_now(self.iopub, encode(self.session, msg, [topic]))

    def send_copy(
        self, header: dict[str, Any], content: dict[str, Any], parent: dict[str, Any]
    ) -> None:
        """Publish a copy of a subkernel message (``beaker__<type>``) under ``parent``."""
        self.send_message(
            {"header": header, "parent_header": parent, "metadata": {}, "content": content}
        )

    def send_reply(
        self,
        channel: str,
        idents: list[bytes],
        parent: dict[str, Any],
        msg_type: str,
        content: dict[str, Any],
    ) -> None:
        msg = self.session.msg(msg_type, content, parent=parent)
        self.send_now(self.socket(channel), encode(self.session, msg, idents))

    def answer(
        self,
        channel: str,
        idents: list[bytes],
        parent: dict[str, Any],
        msg_type: str,
        content: dict[str, Any],
    ) -> None:
        """Answer a request with ``content`` inside busy/idle, as a kernel does."""
        self.publish("status", {"execution_state": "busy"}, parent)
        self.send_reply(channel, idents, parent, msg_type, content)
        self.publish("status", {"execution_state": "idle"}, parent)

    def reply(self, request: Request, content: dict[str, Any], msg_type: str | None = None) -> None:
        """Answer ``request`` on its own channel (default type: ``<name>_reply``)."""
        self.send_reply(
            request.channel, request.idents, request.header, msg_type or request.reply_type, content
        )

    def answer_error_inside(self, request: Request, content: dict[str, Any]) -> None:
        """Answer ``request`` with the error ``content`` (its busy/idle sent by the caller)."""
        if request.msg_type == "execute_request":
            self.publish(
                "error", {k: content[k] for k in ("ename", "evalue", "traceback")}, request.header
            )
            content = {**content, "execution_count": None}
        self.reply(request, content)

    def answer_error(
        self, channel: str, idents: list[bytes], header: dict[str, Any], content: dict[str, Any]
    ) -> None:
        """Answer a request with the error ``content`` inside busy/idle, as a kernel does."""
        self.publish("status", {"execution_state": "busy"}, header)
        if header.get("msg_type") == "execute_request":
            self.publish("error", {k: content[k] for k in ("ename", "evalue", "traceback")}, header)
            content = {**content, "execution_count": None}
        if str(header.get("msg_type", "")).endswith("_request"):
            self.send_reply(channel, idents, header, reply_type(header.get("msg_type")), content)
        self.publish("status", {"execution_state": "idle"}, header)

    # ------------------------------------------------------------ stdin

    async def ask_user(
        self,
        request: Request,
        prompt: str,
        *,
        password: bool = False,
        timeout: float | None = None,
        prompt_format: str | None = None,
    ) -> str:
        """Ask the front end that sent ``request`` a question over stdin; returns the answer.

        Uses the standard ``input_request``/``input_reply`` pair (``format``, upstream
        Beaker's hint for how to show the question, when given). Raises ``TimeoutError``
        when no answer comes within ``timeout`` seconds.
        """
        if not request.header.get("msg_type") or not request.idents:
            raise MessageError("Cannot ask the user: the request has no sender to answer")
        content: dict[str, Any] = {"prompt": prompt, "password": password}
        if prompt_format is not None:
            content["format"] = prompt_format
        msg = self.session.msg("input_request", content, parent=request.header)
        msg_id = msg["header"]["msg_id"]
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._stdin_waiters[msg_id] = waiter
        try:
            self.send_now(self.stdin, encode(self.session, msg, request.idents))
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._stdin_waiters.pop(msg_id, None)

    def take_answer(self, frames: Frames, subkernel_asking: bool) -> bool:
        """Whether the stdin message ``frames`` answers a question Beaker asked."""
        if not self._stdin_waiters:
            return False
        parent_id = frames.parent_header().get("msg_id")
        waiter = self._stdin_waiters.pop(parent_id, None) if isinstance(parent_id, str) else None
        if waiter is None and not parent_id and not subkernel_asking:
            # Console clients answer without a parent header: the answer belongs to the
            # oldest question Beaker asked, as the subkernel asked none.
            oldest = next(iter(self._stdin_waiters))
            waiter = self._stdin_waiters.pop(oldest)
        if waiter is None:
            return False
        if not waiter.done():
            waiter.set_result(str(frames.content().get("value", "")))
        return True

    # ------------------------------------------------------------ iopub subscriptions

    def greet_subscribers(self) -> None:
        """Answer every new iopub subscription with ``iopub_welcome`` (JEP 65)."""
        self.listen("iopub", self._greet, _log_error("an iopub subscription"))

    def _greet(self, raw: list[bytes]) -> None:
        if len(raw) == 1:
            self.greet(raw[0])

    def greet(self, event: bytes) -> None:
        """Answer the XPUB event ``event`` with ``iopub_welcome`` if it is a subscription."""
        if event[:1] != b"\x01":
            return
        try:
            topic = event[1:].decode()
        except UnicodeDecodeError:
            return
        msg = self.session.msg("iopub_welcome", {"subscription": topic})
        self.send_now(self.iopub, encode(self.session, msg, [event[1:]] if topic else []))


def _log_error(what: str) -> ErrorHandler:
    def on_error(error: BaseException) -> None:
        log.error("Error while handling %s", what, exc_info=error)

    return on_error


def _heartbeat(address: str) -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(address)
    with contextlib.suppress(zmq.ContextTerminated):
        zmq.proxy(sock, sock)
