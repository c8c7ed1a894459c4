"""Reading a ZMQ socket straight from the event loop's selector: the forwarding hot path.

``zmq.asyncio`` makes a future, a callback and an event-loop round for every message it
receives. A :class:`Pump` registers the socket's file descriptor with the loop once and,
when it is readable, reads every message already queued and hands each to a plain
function. That function finishes the message at once (the common case: check, re-sign,
send on) and returns ``None``, or returns an awaitable when the message needs waiting for
(an interceptor, a handler, a subkernel still starting); the pump then reads nothing more
until it is done, so messages stay in order and a slow one holds back its own channel only.

ZMQ's descriptor signals *edges*: any operation on the socket, sends included, may use up
the signal of a message that arrived meanwhile. So whoever sends on a socket a pump reads
calls :meth:`Pump.kick` afterwards, which checks for queued messages (the pattern the ZMQ
guide prescribes for ``ZMQ_FD``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.backend

log = logging.getLogger("beaker_kernel")

# pyzmq's Socket methods convert their flags to enums on every call, which costs more than
# sending does; the backend's methods take plain integers.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get
_NOBLOCK = int(zmq.NOBLOCK)
_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def send_frames(sock: zmq.Socket[bytes], frames: list[bytes]) -> None:
    """Send a multipart message without blocking: raises ``zmq.Again`` (nothing sent) when
    the socket's queue is full. ZMQ takes the remaining parts once it took the first."""
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        _send(sock, frame, _MORE if i < last else _NOBLOCK)


def recv_frames(sock: zmq.Socket[bytes]) -> list[bytes]:
    """Receive a multipart message without blocking (``zmq.Again`` when none is queued).

    Each part comes as a ``zmq.Frame`` that knows whether more follow, which saves an
    option lookup per part."""
    frame = _recv(sock, _NOBLOCK, False)
    parts = [frame.bytes]
    while frame.more:
        frame = _recv(sock, _NOBLOCK, False)
        parts.append(frame.bytes)
    return parts


#: What a pump calls for each message: ``None`` when done, else an awaitable to finish.
Handler = Callable[[list[bytes]], Awaitable[Any] | None]
#: What a pump calls with an exception of its handler (it logs; the pump goes on).
ErrorHandler = Callable[[BaseException], None]


class Pump:
    """Feeds the messages of one socket to ``handle``, in order, without a task per message."""

    #: Messages read in one go before letting other callbacks run.
    burst = 64

    def __init__(
        self, sock: zmq.Socket[Any], handle: Handler, *, name: str, on_error: ErrorHandler
    ) -> None:
        # A plain socket sharing the handle of ``sock`` (which may be a zmq.asyncio one).
        self._sock: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
        self._handle = handle
        self._on_error = on_error
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._scheduled = False
        self._closed = False
        self._paused = False
        #: The task finishing a message that had to wait (nothing is read meanwhile).
        self._busy: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._fd = int(self._sock.getsockopt(zmq.FD))
        self._loop.add_reader(self._fd, self._readable)
        # Messages may have arrived before the reader was registered.
        self._schedule()

    def stop(self) -> None:
        """Stop reading (before the socket closes); a message being finished is cancelled."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        busy, self._busy = self._busy, None
        if busy is not None and busy is not asyncio.current_task():
            busy.cancel()

    @property
    def busy(self) -> asyncio.Task[Any] | None:
        return self._busy

    def pause(self) -> None:
        """Stop reading until :meth:`resume`, leaving what is queued on the socket (another
        thread may read it meanwhile: see passthrough.py). Not while a message is being
        finished."""
        if self._paused or self._closed:
            return
        if self._busy is not None:
            raise RuntimeError(f"Cannot pause {self.name} while it finishes a message")
        self._paused = True
        self._loop_remove_reader()

    def resume(self) -> None:
        """Read again, starting with what was queued meanwhile."""
        if not self._paused or self._closed:
            return
        self._paused = False
        if self._loop is not None:
            self._loop.add_reader(self._fd, self._readable)
        self._schedule()

    def kick(self) -> None:
        """Look for queued messages: call after sending on this pump's socket."""
        if self._scheduled or self._busy is not None or self._closed or self._paused:
            return
        try:
            events = _get(self._sock, _EVENTS)
        except zmq.ZMQError:
            return
        if isinstance(events, int) and events & _POLLIN:
            self._schedule()

    def _readable(self) -> None:
        # Called by the loop's selector: read at once (no extra round through the loop).
        if not self._scheduled:
            self._drain()

    def _schedule(self) -> None:
        if self._scheduled or self._closed or self._paused or self._loop is None:
            return
        self._scheduled = True
        self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        if self._busy is not None or self._closed or self._paused:
            return
        sock = self._sock
        for _ in range(self.burst):
            try:
                raw = recv_frames(sock)
            except zmq.Again:
                return
            except zmq.ZMQError as e:
                if not self._closed:
                    log.error("Reading %s failed: %s", self.name, e)
                return
            try:
                pending = self._handle(raw)
            except Exception as e:
                self._on_error(e)
                continue
            if self._paused or self._closed:
                return  # the handler handed the socket over (or closed it)
            if pending is not None:
                # Nothing is read until it is done: stop watching the socket meanwhile (its
                # descriptor stays readable, and the loop would spin on it).
                self._loop_remove_reader()
                self._busy = asyncio.ensure_future(self._finish(pending))
                return
        # more may be queued: read on after the loop's other callbacks
        self._schedule()

    async def _finish(self, pending: Awaitable[Any]) -> None:
        try:
            await pending
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed or (task is not None and task.cancelling()):
                raise
            # the message's own work was cancelled (an interrupt): the channel goes on
        except Exception as e:
            self._on_error(e)
        finally:
            if not self._closed:
                self._busy = None
                if self._loop is not None:
                    self._loop.add_reader(self._fd, self._readable)
                self._schedule()

    def _loop_remove_reader(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)


async def send_when_possible(sock: zmq.Socket[bytes], frames: list[bytes]) -> None:
    """Send ``frames`` once ``sock`` takes them (its queue was full), without blocking."""
    delay = 0.001
    while True:
        try:
            send_frames(sock, frames)
            return
        except zmq.Again:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
