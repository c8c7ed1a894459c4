"""Relaying a subkernel's iopub to the front end in C while Beaker need not see it.

Most of what a cell makes travels on iopub (``busy``, ``execute_input``, output, ``idle``),
and relaying it in Python costs the interpreter's time per message. When the subkernel
signs with the front end's own key (a local subkernel: see :mod:`.launchers` and the
service's kernel manager), its iopub messages can go to the front end unchanged, and
libzmq's own proxy loop relays them in a thread of its own, without the interpreter.

Beaker sees iopub again, in Python, whenever it must:

* before it sends the subkernel a request of its own (an internal execution), a cell with
  a notebook item, or anything while a context intercepts iopub (see :meth:`IopubPassthrough.
  before_send`);
* before it publishes a message of its own (``FrontEnd.send_now``);
* when a front end subscribes, to greet it with ``iopub_welcome``;
* when the link closes.

Each switch back is synchronous: the proxy is told to stop and its thread joined (a
fraction of a millisecond), so nothing Beaker must see can slip past, and what was queued
meanwhile is read, in order, by the usual pumps. Once nothing needs Python any more, the
sockets go back to the proxy: when Beaker's own work ends (``Relay.resume_passthrough``)
or with the next relayed message.

The proxy reads the front end's subscriptions too, and passes them to the subkernel
through the link's XSUB socket. The link's own subscription to everything is renewed at
every hand-over, so that a front end's unsubscription cannot cancel it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import zmq

from .pump import Pump

log = logging.getLogger("beaker_kernel")

#: Seconds a switch back to Python waits for the proxy's thread to end.
STOP_TIMEOUT = 5.0


class IopubPassthrough:
    """Hands one link's iopub and the front end's iopub between the pumps and a C proxy."""

    def __init__(
        self,
        context: zmq.Context[Any],
        source: zmq.Socket[Any],
        source_pump: Pump,
        front: zmq.Socket[Any],
        front_pump: Pump,
        *,
        allowed: Callable[[], bool],
        greet: Callable[[bytes], None],
    ) -> None:
        """``source`` is the link's XSUB (read by ``source_pump``), ``front`` the front end's
        XPUB (its subscriptions read by ``front_pump``); ``allowed`` says whether the proxy
        may relay now, ``greet`` answers a subscription event the proxy passed on."""
        self._source: zmq.Socket[bytes] = zmq.Socket.shadow(source.underlying)
        self._front: zmq.Socket[bytes] = zmq.Socket.shadow(front.underlying)
        self._source_pump = source_pump
        self._front_pump = front_pump
        self._allowed = allowed
        self._greet = greet
        self._loop = asyncio.get_running_loop()
        name = uuid.uuid4().hex
        # Steering the proxy: TERMINATE ends it.
        self._control = context.socket(zmq.PAIR)
        self._control.bind(f"inproc://beaker-passthrough-{name}")
        self._proxy_control = context.socket(zmq.PAIR)
        self._proxy_control.connect(f"inproc://beaker-passthrough-{name}")
        # The subscriptions the proxy passes on reach this socket too (through the XSUB):
        # a front end subscribing meanwhile is greeted from here.
        self._watch = context.socket(zmq.XPUB)
        self._watch.setsockopt(zmq.XPUB_VERBOSE, 1)
        self._watch.bind(f"inproc://beaker-subscriptions-{name}")
        self._source.connect(f"inproc://beaker-subscriptions-{name}")
        for sock in (self._control, self._proxy_control, self._watch):
            sock.setsockopt(zmq.LINGER, 0)
        #: Own subscriptions sent on the XSUB that the watch has not seen yet: the XSUB
        #: first tells it the link's subscription to everything.
        self._own = 1
        self._watch_pump = Pump(
            self._watch, self._on_subscription, name="iopub subscriptions", on_error=_log_error
        )
        self._watch_pump.start()
        self._thread: threading.Thread | None = None
        self._scheduled = False
        self._closed = False
        #: How many times the proxy took over (numbers the debug log's hand-overs).
        self.handovers = 0

    @property
    def running(self) -> bool:
        """Whether the C proxy relays iopub now."""
        return self._thread is not None

    # ------------------------------------------------------------ to C

    def maybe_start(self) -> None:
        """Hand iopub to the proxy soon, if nothing needs Python (cheap when running)."""
        if self._thread is not None or self._scheduled or self._closed:
            return
        self._scheduled = True
        self._loop.call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if self._thread is not None or self._closed or not self._allowed():
            return
        if self._source_pump.busy is not None or self._front_pump.busy is not None:
            return  # a message is being finished; the next one tries again
        self._source_pump.pause()
        self._front_pump.pause()
        # Renew the link's subscription (see the module's documentation).
        self._source.send(b"\x01")
        self._own += 1
        thread = threading.Thread(target=self._run, name="beaker-iopub-proxy", daemon=True)
        self._thread = thread
        self.handovers += 1
        thread.start()
        log.debug("iopub relayed in C (hand-over %d)", self.handovers)

    def _run(self) -> None:
        try:
            zmq.proxy_steerable(self._source, self._front, None, self._proxy_control)
        except Exception as e:
            # A socket closed under it, or libzmq failed: Python relays again.
            try:
                self._loop.call_soon_threadsafe(self._proxy_failed, e)
            except RuntimeError:  # the loop is closed: the kernel is stopping
                log.warning("The iopub proxy stopped while the kernel stopped: %s", e)

    def _proxy_failed(self, error: Exception) -> None:
        thread, self._thread = self._thread, None
        if thread is None or self._closed:
            return
        thread.join(STOP_TIMEOUT)
        log.error("The iopub proxy stopped (%s); Beaker relays iopub in Python", error)
        self._closed = True  # do not hand over again: whatever failed may fail again
        self._resume_pumps()

    # ------------------------------------------------------------ back to Python

    def stop(self) -> None:
        """Relay iopub in Python again, before anything Beaker must see can arrive."""
        thread = self._thread
        if thread is None:
            return
        self._control.send(b"TERMINATE")
        # The proxy answers its control socket at once: a short wait, on purpose.
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            # Its sockets cannot be used from here while it runs; nothing else is safe.
            raise RuntimeError("The iopub proxy did not stop")
        self._thread = None
        self._resume_pumps()
        log.debug("iopub relayed in Python")

    def before_send(self) -> None:
        """Called before Beaker sends the subkernel anything: stop if Python must see iopub."""
        if self._thread is not None and not self._allowed():
            self.stop()

    def _resume_pumps(self) -> None:
        self._source_pump.resume()
        self._front_pump.resume()

    def _on_subscription(self, raw: list[bytes]) -> None:
        event = raw[0] if len(raw) == 1 else b""
        if event[:1] != b"\x01":
            return
        if self._own > 0:
            self._own -= 1
            return
        self.stop()
        self._greet(event)

    def close(self) -> None:
        """Stop relaying in C for good (before the sockets close)."""
        self._closed = True
        try:
            self.stop()
        finally:
            self._watch_pump.stop()
            for sock in (self._control, self._proxy_control, self._watch):
                sock.close(linger=0)


def _log_error(error: BaseException) -> None:
    log.error("Error while greeting an iopub subscriber", exc_info=error)
