"""The ZMQ sockets Beaker uses to talk to one subkernel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session

from .launchers import SubkernelHandle


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
        self.iopub = context.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        for sock in (self.shell, self.stdin):
            sock.setsockopt(zmq.IDENTITY, identity)
        for sock in (self.shell, self.stdin, self.control, self.iopub):
            sock.setsockopt(zmq.LINGER, 0)
        self.monitor = self.shell.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.shell.connect(address(info, "shell_port"))
        self.stdin.connect(address(info, "stdin_port"))
        self.control.connect(address(info, "control_port"))
        self.iopub.connect(address(info, "iopub_port"))

    @property
    def kernel_name(self) -> str:
        return self.handle.kernel_name

    def socket(self, channel: str) -> zmq.asyncio.Socket:
        """The socket requests of ``channel`` go out on (``shell`` or ``control``)."""
        return self.control if channel == "control" else self.shell

    def close(self) -> None:
        # The watcher closes the link itself when the subkernel dies: never cancel the
        # task doing the closing.
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        self.shell.disable_monitor()
        for sock in (self.monitor, self.shell, self.stdin, self.control, self.iopub):
            sock.close(linger=0)


def as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def address(info: dict[str, Any], port_name: str) -> str:
    """The ZMQ address of one channel in a connection file's ``info``."""
    transport = info.get("transport", "tcp")
    ip = info.get("ip", "127.0.0.1")
    if transport == "ipc":
        return f"ipc://{ip}-{info[port_name]}"
    return f"{transport}://{ip}:{info[port_name]}"


async def bursts(sock: zmq.asyncio.Socket, most: int = 64) -> AsyncIterator[list[bytes]]:
    """Messages from ``sock``: one awaited, then those already queued, read at once.

    A kernel answers in bursts (busy, execute_input, reply, idle): reading what is
    already there without going back to the event loop saves a wake-up per message.
    """
    now: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
    while True:
        yield await sock.recv_multipart()
        for _ in range(most):
            try:
                raw = now.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            yield raw
