"""The ZMQ sockets Beaker uses to talk to one subkernel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from ..transport import address
from ..wire import Frames
from .launchers import SubkernelHandle
from .passthrough import IopubPassthrough
from .pump import ErrorHandler, Handler, Pump, send_frames, send_when_possible


class SubkernelLink:
    """Sockets connected to one subkernel process, and the tasks relaying from them.

    A link lives as long as the process it is connected to; a language change or a crash
    restart makes a new one.
    """

    def __init__(self, context: zmq.asyncio.Context, handle: SubkernelHandle) -> None:
        info = handle.connection_info
        self.handle = handle
        self.session = Session(
            key=as_bytes(info.get("key", b"")),
            signature_scheme=info.get("signature_scheme", "hmac-sha256"),
            username="beaker",
        )
        # shell and stdin share one identity: the subkernel sends input_request to the
        # identity of the shell request's sender.
        identity = uuid.uuid4().bytes
        self.shell = context.socket(zmq.DEALER)
        self.stdin = context.socket(zmq.DEALER)
        self.control = context.socket(zmq.DEALER)
        # XSUB, not SUB: the iopub proxy (passthrough.py) passes a front end's
        # subscriptions through it, and libzmq's proxy spins on a socket it cannot send to.
        self.iopub = context.socket(zmq.XSUB)
        for sock in (self.shell, self.stdin):
            sock.setsockopt(zmq.IDENTITY, identity)
        for sock in (self.shell, self.stdin, self.control, self.iopub):
            sock.setsockopt(zmq.LINGER, 0)
        self.monitor = self.shell.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.tasks: set[asyncio.Task[Any]] = set()
        #: The content of the subkernel's answer to the start-up ``kernel_info`` probe
        #: (set once it answered); Beaker answers front ends' ``kernel_info`` with it.
        self.kernel_info: dict[str, Any] | None = None
        # Plain sockets sharing the handles, for sending without a future per message, and
        # the pumps reading the channels (see pump.py).
        self._now: dict[str, zmq.Socket[bytes]] = {
            channel: zmq.Socket.shadow(sock.underlying)
            for channel, sock in (
                ("shell", self.shell),
                ("control", self.control),
                ("stdin", self.stdin),
            )
        }
        self.pumps: dict[str, Pump] = {}
        self.shell.connect(address(info, "shell_port"))
        self.stdin.connect(address(info, "stdin_port"))
        self.control.connect(address(info, "control_port"))
        self.iopub.connect(address(info, "iopub_port"))
        self.iopub.send(b"\x01")  # subscribe to everything
        #: Relays iopub in C while Beaker need not see it (set by the relay when the
        #: subkernel signs with the front end's key).
        self.passthrough: IopubPassthrough | None = None
        #: Whether the subkernel signs with the front end's key (set by the relay): its
        #: messages and the front end's then pass between them unchanged.
        self.same_signer = False
        #: Whether standard shell requests and their replies may pass before Beaker reads
        #: them (set by the relay, for a subkernel with the front end's key).
        self.send_first = False

    @property
    def kernel_name(self) -> str:
        return self.handle.kernel_name

    def socket(self, channel: str) -> zmq.asyncio.Socket:
        """The socket requests of ``channel`` go out on (``shell`` or ``control``)."""
        return self.control if channel == "control" else self.shell

    def listen(self, channel: str, handle: Handler, on_error: ErrorHandler) -> Pump:
        """Feed what arrives on ``channel`` (shell, control, stdin, iopub) to ``handle``."""
        sock = {"shell": self.shell, "control": self.control, "stdin": self.stdin}.get(
            channel, self.iopub
        )
        pump = Pump(sock, handle, name=f"the subkernel's {channel}", on_error=on_error)
        self.pumps[channel] = pump
        pump.start()
        return pump

    def send(self, channel: str, frames: list[bytes]) -> Awaitable[None] | None:
        """Send ``frames`` on ``channel`` (shell, control or stdin) at once; an awaitable
        when the socket's queue is full and the send has to wait."""
        sock = self._now["shell" if channel not in self._now else channel]
        if self.passthrough is not None:
            self.passthrough.before_send()
        try:
            send_frames(sock, frames)
        except zmq.Again:
            return self._send_later(channel, sock, frames)
        self._kick(channel)
        return None

    def forward(self, channel: str, frames: Frames) -> Awaitable[None] | None:
        """:meth:`send` a front end's message, signed for the subkernel: as it came when the
        subkernel signs with the front end's key and its signature was checked, else signed
        again (a message an interceptor or a handler made or changed is never checked)."""
        unchanged = self.same_signer and frames.checked
        return self.send(
            channel, frames.unchanged() if unchanged else frames.resigned(self.session)
        )

    async def _send_later(self, channel: str, sock: zmq.Socket[bytes], frames: list[bytes]) -> None:
        await send_when_possible(sock, frames)
        self._kick(channel)

    def _kick(self, channel: str) -> None:
        pump = self.pumps.get(channel)
        if pump is not None:
            pump.kick()

    def close(self) -> None:
        # The watcher closes the link itself when the subkernel dies: never cancel the
        # task doing the closing.
        current = asyncio.current_task()
        if self.passthrough is not None:
            self.passthrough.close()
        for pump in self.pumps.values():
            pump.stop()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        self.shell.disable_monitor()
        for sock in (self.monitor, self.shell, self.stdin, self.control, self.iopub):
            sock.close(linger=0)


def as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value
