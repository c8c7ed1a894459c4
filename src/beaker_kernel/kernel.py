"""The Beaker kernel process: an asyncio proxy between a front end and one subkernel.

Message flow::

    front end ──shell/control/stdin (ROUTER)──▶ BeakerKernel ──DEALER──▶ subkernel
    front end ◀──────────iopub (PUB)────────── BeakerKernel ◀───SUB──── subkernel

Forwarded messages keep their frames; only the signature changes (see :mod:`.wire`).
The identity frames of a front-end request travel to the subkernel with it, and the
subkernel's reply carries them back, so replies and ``input_request``\\ s route to the
right front end without a lookup. Requests Beaker answers itself (context messages,
actions, ``llm_request``) are found in a table from message type to handler, like
ipykernel's ``shell_handlers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio
from jupyter_client.session import Session
from traitlets import Bool, Float, Unicode, default
from traitlets.config import LoggingConfigurable

from . import __version__
from .errors import (
    BeakerError,
    MessageError,
    ProcedureFailedError,
    SubkernelDiedError,
    SubkernelStartError,
)
from .launchers import LocalLauncher, ServiceLauncher, SubkernelHandle, SubkernelLauncher
from .subkernels import Subkernel, get_subkernel, load_subkernels
from .wire import Frames, InvalidSignature, Request, encode

if TYPE_CHECKING:
    from .contexts.base import BeakerContext
    from .contexts.registry import ContextRegistry

log = logging.getLogger("beaker_kernel")

Handler = Callable[[Request], Awaitable[None]]

#: Shell message types of the Jupyter protocol, always forwarded to the subkernel.
STANDARD_SHELL_TYPES = frozenset(
    {
        "execute_request",
        "inspect_request",
        "complete_request",
        "history_request",
        "is_complete_request",
        "comm_info_request",
        "kernel_info_request",
        "comm_open",
        "comm_msg",
        "comm_close",
    }
)


@dataclass
class PendingRequest:
    """A front-end request forwarded to the subkernel and not answered yet."""

    channel: str
    idents: list[bytes]
    header: dict[str, Any]
    #: For a history range request: the session it asked for (see _history_in_session).
    history_session: int | None = None


@dataclass
class InternalResult:
    """What one internal execution produced in the subkernel."""

    stdout: str = ""
    stderr: str = ""
    displays: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None


@dataclass
class _InternalExecution:
    future: asyncio.Future[InternalResult]
    link: SubkernelLink
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    displays: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None
    idle: bool = False

    def finish_if_done(self) -> None:
        if self.reply is not None and self.idle and not self.future.done():
            self.future.set_result(
                InternalResult(
                    stdout="".join(self.stdout),
                    stderr="".join(self.stderr),
                    displays=self.displays,
                    error=self.error,
                    reply=self.reply,
                )
            )


class SubkernelLink:
    """The ZMQ sockets Beaker uses to talk to one subkernel."""

    def __init__(self, context: zmq.asyncio.Context, handle: SubkernelHandle) -> None:
        info = handle.connection_info
        self.handle = handle
        self.session = Session(
            key=_as_bytes(info.get("key", b"")),
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
        self.shell.connect(_address(info, "shell_port"))
        self.stdin.connect(_address(info, "stdin_port"))
        self.control.connect(_address(info, "control_port"))
        self.iopub.connect(_address(info, "iopub_port"))

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


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _address(info: dict[str, Any], port_name: str) -> str:
    transport = info.get("transport", "tcp")
    ip = info.get("ip", "127.0.0.1")
    if transport == "ipc":
        return f"ipc://{ip}-{info[port_name]}"
    return f"{transport}://{ip}:{info[port_name]}"


class BeakerKernel(LoggingConfigurable):
    """The Beaker kernel: binds the front-end channels and proxies to a subkernel."""

    default_language = Unicode(
        help="Subkernel language started with the kernel (slug or kernelspec name). "
        "Environment: BEAKER_SUBKERNEL.",
    ).tag(config=True)

    @default("default_language")
    def _default_language(self) -> str:
        return os.environ.get("BEAKER_SUBKERNEL", "python3")

    default_context = Unicode(
        help="Context set up when the kernel starts ('' for none). "
        "Environment: BEAKER_DEFAULT_CONTEXT.",
    ).tag(config=True)

    @default("default_context")
    def _default_default_context(self) -> str:
        return os.environ.get("BEAKER_DEFAULT_CONTEXT", "")

    service_url = Unicode(
        help="Base URL of the Beaker service that started this kernel; subkernels are then "
        "started through it. Environment: BEAKER_SERVICE_URL (set by the service).",
    ).tag(config=True)

    @default("service_url")
    def _default_service_url(self) -> str:
        return os.environ.get("BEAKER_SERVICE_URL", "")

    service_token = Unicode(
        help="Token for the Beaker service. Environment: BEAKER_SERVICE_TOKEN.",
    ).tag(config=True)

    @default("service_token")
    def _default_service_token(self) -> str:
        return os.environ.get("BEAKER_SERVICE_TOKEN", "")

    kernel_id = Unicode(
        help="This kernel's id in the Beaker service. Environment: BEAKER_KERNEL_ID.",
    ).tag(config=True)

    @default("kernel_id")
    def _default_kernel_id(self) -> str:
        return os.environ.get("BEAKER_KERNEL_ID", "")

    subkernel_startup_timeout = Float(
        help="Seconds to wait for a new subkernel to answer kernel_info. "
        "Environment: BEAKER_SUBKERNEL_STARTUP_TIMEOUT.",
    ).tag(config=True)

    @default("subkernel_startup_timeout")
    def _default_subkernel_startup_timeout(self) -> float:
        value = os.environ.get("BEAKER_SUBKERNEL_STARTUP_TIMEOUT", "")
        if not value:
            return 60.0
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if not seconds > 0:
            log.warning(
                "BEAKER_SUBKERNEL_STARTUP_TIMEOUT=%r is not a positive number; using 60", value
            )
            return 60.0
        return seconds

    crash_poll_interval = Float(
        10.0,
        help="Seconds between checks that the subkernel is alive (a disconnect is noticed "
        "at once; this is the fallback).",
    ).tag(config=True)

    post_execute_delay = Float(
        0.05,
        help="Seconds the subkernel must have been idle before post-execute actions and "
        "previews run, so they never queue in front of a user's next request.",
    ).tag(config=True)

    restart_on_crash = Bool(True, help="Start a new subkernel when the current one dies.").tag(
        config=True
    )

    def __init__(self, connection_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with open(connection_file) as f:
            self.connection_info: dict[str, Any] = json.load(f)
        self.session = Session(
            key=_as_bytes(self.connection_info.get("key", b"")),
            signature_scheme=self.connection_info.get("signature_scheme", "hmac-sha256"),
            username="beaker",
        )
        self.zmq_context = zmq.asyncio.Context()
        self.subkernels: dict[str, Subkernel] = {}
        self.subkernel: Subkernel | None = None
        self.link: SubkernelLink | None = None
        self.launcher: SubkernelLauncher | None = None
        self.context: BeakerContext | None = None
        self._contexts: ContextRegistry | None = None
        # Set while no subkernel is on its way: one runs (``link``), or starting one
        # failed (``_no_subkernel_reason``). Requests wait on it, never on a start alone.
        self._settled = asyncio.Event()
        # Held while the subkernel is started, changed or restarted after a crash, so a
        # context_setup_request sent during start-up waits for it and reuses the subkernel.
        self._switching = asyncio.Lock()
        self._pending: dict[str, PendingRequest] = {}
        self._internal: dict[str, _InternalExecution] = {}
        # Internal requests given up on (timeout): their late output is dropped, not
        # shown to the front end.
        # msg_id → how many of (reply, idle) are still to come; forgotten when both came,
        # so the iopub relay goes back to not decoding parent headers.
        self._retired: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # msg_ids of requests finished by a detached task, which publishes their idle.
        self._detached: set[str] = set()
        # input_request msg_id → future of the front end's answer (see ask_user).
        self._stdin_waiters: dict[str, asyncio.Future[str]] = {}
        # input_requests of the subkernel's own not answered yet
        self._subkernel_asking = 0
        self._shutdown = asyncio.Event()
        self._restarting_subkernel = False
        # Why no subkernel is running, once starting one failed; None while one runs or
        # is on its way (requests then wait for it instead of failing).
        self._no_subkernel_reason: str | None = None
        self._post_execute_handle: asyncio.TimerHandle | None = None
        self._post_execute_task: asyncio.Task[None] | None = None
        self.shell_handlers: dict[str, Handler] = {}
        self.control_handlers: dict[str, Handler] = {
            "interrupt_request": self._on_interrupt,
            "shutdown_request": self._on_shutdown,
        }
        self._builtin_shell_handlers: dict[str, Handler] = {
            "shutdown_request": self._on_shutdown,
            "interrupt_request": self._on_interrupt,
        }
        self._topic_prefix = f"kernel.{uuid.uuid4()}.".encode()
        self._now: dict[zmq.asyncio.Socket, zmq.Socket[bytes]] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def contexts(self) -> ContextRegistry:
        """The context registry (discovered on first use, never at import time)."""
        if self._contexts is None:
            from .contexts.registry import ContextRegistry

            self._contexts = ContextRegistry(parent=self)
        return self._contexts

    async def start(self) -> None:
        """Bind the front-end channels and start the default subkernel."""
        self._bind()
        if self.service_url:
            launcher = ServiceLauncher(self.service_url, self.service_token, self.kernel_id or None)
            self.launcher = launcher
        else:
            self.launcher = LocalLauncher()
        for name, sock in (
            ("shell", self.shell),
            ("control", self.control),
            ("stdin", self.stdin),
        ):
            self.spawn(self._front_loop(name, sock), name=f"front-{name}")
        self.spawn(self._iopub_subscriptions(), name="iopub-subscriptions")
        self.shell_handlers.update(self._builtin_shell_handlers)
        from .contexts.messages import register_context_messages

        register_context_messages(self)
        from .agent.messages import register_agent_messages

        register_agent_messages(self)
        self.subkernels = load_subkernels()
        await self.change_subkernel(self.default_language)
        if self.default_context:
            await self.setup_context(self.default_context, self.default_language, {})

    def _bind(self) -> None:
        info = self.connection_info
        self.shell = self._bind_socket(zmq.ROUTER, "shell_port")
        self.control = self._bind_socket(zmq.ROUTER, "control_port")
        self.stdin = self._bind_socket(zmq.ROUTER, "stdin_port")
        # XPUB: a new subscriber is seen and greeted with iopub_welcome (JEP 65), so a
        # front end knows when its subscription is live.
        self.iopub = self._bind_socket(zmq.XPUB, "iopub_port")
        self.iopub.setsockopt(zmq.XPUB_VERBOSE, 1)
        # The heartbeat echoes in a thread of its own, so it answers even while the event
        # loop is busy (this is how front ends tell a busy kernel from a dead one).
        hb_address = _address(info, "hb_port")
        threading.Thread(target=_heartbeat, args=(hb_address,), daemon=True).start()

    def _bind_socket(self, kind: int, port_name: str) -> zmq.asyncio.Socket:
        sock = self.zmq_context.socket(kind)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.bind(_address(self.connection_info, port_name))
        # ROUTER and XPUB sends never block (they drop what cannot be delivered), so
        # sending to the front end goes through a plain socket sharing the same handle:
        # no future and no event-loop round per message.
        self._now[sock] = zmq.Socket.shadow(sock.underlying)
        return sock

    def _send_now(self, sock: zmq.asyncio.Socket, frames: list[bytes]) -> None:
        """Send ``frames`` on a front-end socket at once."""
        try:
            self._now[sock].send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            log.warning("A front end is not reading its messages; one was dropped")

    async def run(self) -> None:
        """Run until a shutdown request or SIGTERM, then stop the subkernel."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._shutdown.set)
        self.spawn(self._watch_parent(), name="watch-parent")
        try:
            await self.start()
        except BeakerError as e:
            # Keep running: the front end gets the error on its next request and can set
            # another language; the kernel process itself is fine.
            log.error("%s", e.message)
            if self.link is None and not self._settled.is_set():
                # Failed before any start was tried (an unknown default language, …).
                self._no_subkernel(e.message)
        await self._shutdown.wait()
        await self.stop()

    async def stop(self) -> None:
        """Stop the subkernel and every task; close the sockets."""
        await self._stop_subkernel()
        if self.context is not None:
            await self.context.close()
        if self.launcher is not None:
            await self.launcher.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in (self.shell, self.control, self.stdin, self.iopub):
            sock.close(linger=500)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task that is kept referenced and whose failure is logged."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

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
                self.publish("status", {"execution_state": "idle"}, request.header)

        return self.spawn(run(), name=name)

    async def _watch_parent(self) -> None:
        """Shut down when the process that started this kernel dies.

        A front end killed without shutting its kernels down would otherwise leave
        Beaker and its subkernel running forever. jupyter_client names the parent in
        ``JPY_PARENT_PID``; without it (or if it is already gone) nothing is watched.
        """
        try:
            parent = int(os.environ.get("JPY_PARENT_PID", "0"))
        except ValueError:
            return
        if parent <= 1 or os.getppid() != parent:
            return
        while os.getppid() == parent:  # noqa: ASYNC110 - polling the OS, no event to wait on
            await asyncio.sleep(2.0)
        log.warning("The process that started this kernel (%d) is gone; shutting down", parent)
        self._shutdown.set()

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Task %s failed", task.get_name(), exc_info=task.exception())

    # ------------------------------------------------------------------ subkernel

    async def change_subkernel(
        self,
        language: str,
        prepare: Callable[[SubkernelLink], Awaitable[None]] | None = None,
    ) -> bool:
        r"""Make ``language`` the running subkernel; returns whether it changed.

        The new subkernel is started, checked and ``prepare``\ d (a context runs its setup
        procedures there) *before* the old one is stopped, so a failure anywhere leaves
        the kernel as it was.
        """
        subkernel = get_subkernel(language, self.subkernels)
        async with self._switching:
            if self.subkernel is subkernel and self.link is not None:
                return False
            try:
                await self._switch_to(subkernel, prepare)
            except BeakerError as e:
                if self.link is None:
                    self._no_subkernel(e.message)
                raise
            return True

    async def _switch_to(
        self,
        subkernel: Subkernel,
        prepare: Callable[[SubkernelLink], Awaitable[None]] | None,
    ) -> None:
        assert self.launcher is not None
        specs = {
            name: spec
            for name, spec in (await self.launcher.kernelspecs()).items()
            if not spec.get("metadata", {}).get("beaker_kernel")
        }
        kernel_name = subkernel.choose_kernelspec(specs)
        handle = await self.launcher.start(kernel_name)
        link = self._open_link(handle)
        try:
            await self._wait_until_answering(link)
            if prepare is not None:
                await prepare(link)
        except BaseException:
            await self._close_link(link)
            raise
        old, self.link = self.link, link
        self.subkernel = subkernel
        self._no_subkernel_reason = None
        self._settled.set()
        if old is not None:
            await self._close_link(old)

    def _open_link(self, handle: SubkernelHandle) -> SubkernelLink:
        link = SubkernelLink(self.zmq_context, handle)
        for name, coro in (
            ("shell", self._sub_reply_loop(link, link.shell, self.shell)),
            ("control", self._sub_reply_loop(link, link.control, self.control)),
            ("stdin", self._sub_stdin_loop(link)),
            ("iopub", self._sub_iopub_loop(link)),
            ("watch", self._watch_subkernel(link)),
        ):
            link.tasks.add(self.spawn(coro, name=f"sub-{name}"))
        return link

    async def _close_link(self, link: SubkernelLink, *, shutdown: bool = True) -> None:
        current = asyncio.current_task()
        tasks = [task for task in link.tasks if task is not current]
        link.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        for msg_id, execution in list(self._internal.items()):
            if execution.link is link:
                del self._internal[msg_id]
                if not execution.future.done():
                    execution.future.set_exception(SubkernelDiedError("The subkernel was stopped"))
        if shutdown:
            try:
                await link.handle.shutdown()
            except BeakerError as e:
                log.error("Could not stop the subkernel: %s", e.message)

    async def _wait_until_answering(self, link: SubkernelLink) -> None:
        """Send kernel_info until the subkernel answers on shell *and* iopub.

        The iopub status proves our SUB socket is subscribed, so no output of the first
        user request can be lost (ZMQ's slow-joiner problem).
        """
        deadline = time.monotonic() + self.subkernel_startup_timeout
        attempt_timeout = 0.25
        while True:
            try:
                await self.execute_internal_message(
                    "kernel_info_request", {}, timeout=attempt_timeout, link=link
                )
                return
            except TimeoutError:
                if not await link.handle.is_alive():
                    raise SubkernelStartError(
                        f"The {link.handle.kernel_name!r} kernel exited while starting"
                    ) from None
                if time.monotonic() > deadline:
                    raise SubkernelStartError(
                        f"The {link.handle.kernel_name!r} kernel did not answer within "
                        f"{self.subkernel_startup_timeout:.0f} s"
                    ) from None
                attempt_timeout = min(attempt_timeout * 2, 2.0)

    def _no_subkernel(self, reason: str) -> None:
        """No subkernel runs and none is on its way: requests get ``reason`` until one does."""
        self._no_subkernel_reason = reason
        self._settled.set()

    async def _running_link(self) -> SubkernelLink:
        """The running subkernel's link, once any start or restart under way is over.

        Raises :class:`SubkernelStartError` when no subkernel runs (starting it failed).
        """
        await self._settled.wait()
        link = self.link
        if link is None:
            reason = self._no_subkernel_reason or "it was stopped."
            raise SubkernelStartError(
                f"No subkernel is running: {reason} Send a context_setup_request with a "
                "language to start one."
            )
        return link

    async def _stop_subkernel(self) -> None:
        link, self.link = self.link, None
        self.subkernel = None
        if link is not None:
            await self._close_link(link)

    async def _watch_subkernel(self, link: SubkernelLink) -> None:
        """Notice when the subkernel dies: at once on a disconnect, else by polling."""
        monitor_wait = asyncio.ensure_future(link.monitor.recv_multipart())
        try:
            while True:
                await asyncio.wait({monitor_wait}, timeout=self.crash_poll_interval)
                checks: tuple[float, ...] = (0.0,)
                if monitor_wait.done():
                    monitor_wait.result()
                    monitor_wait = asyncio.ensure_future(link.monitor.recv_multipart())
                    # A disconnect can also be a restart we asked for, and a dying process
                    # (or container) may still look alive for a moment: check a few times.
                    checks = (0.05, 0.25, 0.7, 1.5)
                for delay in checks:
                    await asyncio.sleep(delay)
                    if self.link is not link or self._restarting_subkernel:
                        break
                    try:
                        alive = await link.handle.is_alive()
                    except BeakerError as e:
                        # Cannot tell (the service did not answer): keep watching.
                        log.warning("Could not check the subkernel: %s", e.message)
                        break
                    if not alive:
                        await self._on_subkernel_death(link)
                        return
        finally:
            monitor_wait.cancel()

    async def _on_subkernel_death(self, link: SubkernelLink) -> None:
        if self.link is not link:
            return  # replaced meanwhile (a language change): nothing is lost
        self.link = None
        self._settled.clear()
        name = self.subkernel.display_name if self.subkernel else link.handle.kernel_name
        message = f"The {name} subkernel died unexpectedly; its variables are lost."
        if self.restart_on_crash:
            message += " Beaker is starting a new one."
        log.warning("%s", message)
        error = SubkernelDiedError(message)
        for msg_id, execution in list(self._internal.items()):
            if execution.link is link:
                del self._internal[msg_id]
                if not execution.future.done():
                    execution.future.set_exception(error)
        for msg_id, pending in list(self._pending.items()):
            del self._pending[msg_id]
            await self._answer_with_error(pending, error)
        await self._close_link(link, shutdown=False)
        if not self.restart_on_crash:
            self.subkernel = None
            self._no_subkernel(message)
            await link.handle.shutdown()
            return
        self._restarting_subkernel = True
        try:
            async with self._switching:
                if self.link is not None:
                    # A language change finished while this waited: it replaced the
                    # dead subkernel.
                    await link.handle.shutdown()
                    return
                await link.handle.restart()
                new_link = self._open_link(link.handle)
                try:
                    await self._wait_until_answering(new_link)
                    if self.context is not None:
                        await self.context.on_subkernel_restart(new_link)
                except BaseException:
                    await self._close_link(new_link, shutdown=False)
                    raise
                self.link = new_link
        except Exception as e:
            reason = e.message if isinstance(e, BeakerError) else f"{type(e).__name__}: {e}"
            log.error(
                "Could not restart the subkernel: %s",
                reason,
                exc_info=not isinstance(e, BeakerError),
            )
            self.subkernel = None
            self._no_subkernel(f"{message} Restarting it failed: {reason}")
            try:
                await link.handle.shutdown()
            except BeakerError as stop_error:
                log.error("Could not stop the failed subkernel: %s", stop_error.message)
            return
        finally:
            self._restarting_subkernel = False
        self._settled.set()
        self.publish(
            "stream",
            {"name": "stderr", "text": f"The {name} subkernel died and was restarted.\n"},
        )

    async def _answer_with_error(self, pending: PendingRequest, error: BeakerError) -> None:
        content = error.reply_content()
        msg_type = pending.header.get("msg_type", "")
        parent = pending.header
        if msg_type == "execute_request":
            self.publish("error", {k: content[k] for k in ("ename", "evalue", "traceback")}, parent)
            content["execution_count"] = None
        if msg_type.endswith("_request"):
            await self.send_reply(
                pending.channel,
                pending.idents,
                parent,
                msg_type[: -len("_request")] + "_reply",
                content,
            )
        self.publish("status", {"execution_state": "idle"}, parent)

    # ------------------------------------------------------------------ front end

    async def _front_loop(self, channel: str, sock: zmq.asyncio.Socket) -> None:
        while True:
            raw = await sock.recv_multipart()
            try:
                await self._on_front_message(channel, raw)
            except InvalidSignature:
                log.warning("Dropped a %s message with an invalid signature", channel)
            except MessageError as e:
                log.warning("Dropped a malformed %s message: %s", channel, e.message)
            except Exception:
                log.exception("Error while handling a %s message", channel)

    async def _iopub_subscriptions(self) -> None:
        while True:
            event = await self.iopub.recv()
            if event[:1] != b"\x01":
                continue
            try:
                topic = event[1:].decode()
            except UnicodeDecodeError:
                continue
            msg = self.session.msg("iopub_welcome", {"subscription": topic})
            self._send_now(self.iopub, encode(self.session, msg, [event[1:]] if topic else []))

    async def _on_front_message(self, channel: str, raw: list[bytes]) -> None:
        frames = Frames.split(raw)
        frames.verify(self.session)
        if channel == "stdin":
            await self._forward_stdin(frames)
            return
        header = frames.header()
        msg_type = header.get("msg_type")
        if not isinstance(msg_type, str):
            raise MessageError("Message header has no msg_type")
        table = self.shell_handlers if channel == "shell" else self.control_handlers
        handler = table.get(msg_type)
        if handler is not None:
            await self._handle(handler, channel, frames, header)
            return
        if (
            channel == "shell"
            and msg_type not in STANDARD_SHELL_TYPES
            and msg_type.endswith("_request")
        ):
            await self._reply_unknown(channel, frames, header)
            return
        await self._forward(channel, frames, header)

    async def _handle(
        self, handler: Handler, channel: str, frames: Frames, header: dict[str, Any]
    ) -> None:
        try:
            request = Request.from_frames(channel, frames)
        except MessageError as e:
            self.publish("status", {"execution_state": "busy"}, header)
            await self.send_reply(
                channel, frames.idents, header, _reply_type(header), e.reply_content()
            )
            self.publish("status", {"execution_state": "idle"}, header)
            return
        self.publish("status", {"execution_state": "busy"}, request.header)
        try:
            await handler(request)
        except BeakerError as e:
            await self.reply(request, e.reply_content())
        except Exception as e:
            log.exception("Handler for %s failed", request.msg_type)
            await self.reply(
                request,
                {
                    "status": "error",
                    "ename": type(e).__name__,
                    "evalue": str(e),
                    "traceback": [f"{type(e).__name__}: {e}"],
                },
            )
        finally:
            if request.msg_id not in self._detached:
                self.publish("status", {"execution_state": "idle"}, request.header)

    async def _reply_unknown(self, channel: str, frames: Frames, header: dict[str, Any]) -> None:
        msg_type = header["msg_type"]
        self.publish("status", {"execution_state": "busy"}, header)
        known = sorted(k for k in self.shell_handlers if k.endswith("_request"))
        content = MessageError(
            f"Unknown message type {msg_type!r}. This kernel answers the Jupyter shell "
            f"messages and: {', '.join(known)}."
        ).reply_content()
        await self.send_reply(channel, frames.idents, header, _reply_type(header), content)
        self.publish("status", {"execution_state": "idle"}, header)

    async def _forward(self, channel: str, frames: Frames, header: dict[str, Any]) -> None:
        link = self.link
        if link is None or not self._settled.is_set():
            try:
                link = await self._running_link()
            except SubkernelStartError as e:
                await self._answer_with_error(PendingRequest(channel, frames.idents, header), e)
                return
        msg_id = header.get("msg_id")
        msg_type = header.get("msg_type", "")
        if isinstance(msg_id, str) and msg_type.endswith("_request"):
            pending = PendingRequest(channel, frames.idents, header)
            if msg_type == "history_request":
                pending.history_session = _requested_session(frames)
            self._pending[msg_id] = pending
        self._cancel_post_execute()
        sock = link.shell if channel == "shell" else link.control
        await sock.send_multipart(frames.resigned(link.session))

    async def _forward_stdin(self, frames: Frames) -> None:
        if self._stdin_waiters:
            parent_id = frames.parent_header().get("msg_id")
            waiter = (
                self._stdin_waiters.pop(parent_id, None) if isinstance(parent_id, str) else None
            )
            if waiter is None and not parent_id and not self._subkernel_asking:
                # Console clients answer without a parent header: the answer belongs to
                # the oldest question Beaker asked, as the subkernel asked none.
                oldest = next(iter(self._stdin_waiters))
                waiter = self._stdin_waiters.pop(oldest)
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(str(frames.content().get("value", "")))
                return
        link = self.link
        if link is None:
            log.warning("Dropped a stdin message: no subkernel is running")
            return
        self._subkernel_asking = max(0, self._subkernel_asking - 1)
        await link.stdin.send_multipart(frames.resigned(link.session))

    # ------------------------------------------------------------------ subkernel side

    async def _sub_reply_loop(
        self, link: SubkernelLink, source: zmq.asyncio.Socket, target: zmq.asyncio.Socket
    ) -> None:
        async for raw in _bursts(source):
            try:
                frames = Frames.split(raw)
                frames.verify(link.session)
                parent = frames.parent_header()
            except MessageError as e:
                log.warning("Dropped a reply from the subkernel: %s", e.message)
                continue
            msg_id = parent.get("msg_id")
            internal = self._internal.get(msg_id) if isinstance(msg_id, str) else None
            if internal is not None:
                internal.reply = frames.content()
                internal.finish_if_done()
                continue
            if msg_id in self._retired:
                self._retired_seen(msg_id)
                continue
            pending = self._pending.pop(msg_id, None) if isinstance(msg_id, str) else None
            if pending is not None and pending.history_session is not None:
                frames = _history_in_session(frames, pending.history_session)
            self._send_now(target, frames.resigned(self.session))
            if pending is not None and parent.get("msg_type") == "execute_request":
                self._after_user_execute(pending)

    async def _sub_stdin_loop(self, link: SubkernelLink) -> None:
        while True:
            raw = await link.stdin.recv_multipart()
            try:
                frames = Frames.split(raw)
                frames.verify(link.session)
            except MessageError as e:
                log.warning("Dropped a stdin message from the subkernel: %s", e.message)
                continue
            self._subkernel_asking += 1
            self._send_now(self.stdin, frames.resigned(self.session))

    async def _sub_iopub_loop(self, link: SubkernelLink) -> None:
        async for raw in _bursts(link.iopub):
            try:
                frames = Frames.split(raw)
                frames.verify(link.session)
            except MessageError as e:
                log.warning("Dropped an iopub message from the subkernel: %s", e.message)
                continue
            if not frames.idents and frames.header().get("msg_type") == "iopub_welcome":
                continue  # the subkernel greeting Beaker's own subscription
            if self._internal or self._retired:
                parent_id = frames.parent_header().get("msg_id")
                internal = self._internal.get(parent_id) if isinstance(parent_id, str) else None
                if internal is not None:
                    self._collect_internal(internal, frames)
                    continue
                if parent_id in self._retired:
                    if frames.header().get("msg_type") == "status" and (
                        frames.content().get("execution_state") == "idle"
                    ):
                        self._retired_seen(parent_id)
                    continue
            self._send_now(self.iopub, frames.resigned(self.session))

    def _collect_internal(self, execution: _InternalExecution, frames: Frames) -> None:
        msg_type = frames.header().get("msg_type")
        if msg_type == "status":
            if frames.content().get("execution_state") == "idle":
                execution.idle = True
                execution.finish_if_done()
        elif msg_type == "stream":
            content = frames.content()
            target = execution.stdout if content.get("name") == "stdout" else execution.stderr
            target.append(str(content.get("text", "")))
        elif msg_type in ("display_data", "execute_result"):
            execution.displays.append(frames.content())
        elif msg_type == "error":
            execution.error = frames.content()

    # ------------------------------------------------------------------ internal execution

    async def execute_internal_message(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        timeout: float | None = None,
        link: SubkernelLink | None = None,
    ) -> InternalResult:
        """Send a shell request of Beaker's own to the subkernel and collect what it makes.

        Its output never reaches the front end. Completes when both the reply and the
        subkernel's ``idle`` status for it have arrived.
        """
        link = link or self.link
        if link is None:
            raise SubkernelDiedError("No subkernel is running")
        msg = link.session.msg(msg_type, content)
        future: asyncio.Future[InternalResult] = asyncio.get_running_loop().create_future()
        msg_id = msg["header"]["msg_id"]
        self._internal[msg_id] = _InternalExecution(future, link)
        try:
            await link.shell.send_multipart(encode(link.session, msg))
            return await asyncio.wait_for(future, timeout)
        finally:
            execution = self._internal.pop(msg_id, None)
            if execution is not None and not future.done():
                if len(self._retired) > 1000:
                    self._retired.clear()
                remaining = 2 - (execution.reply is not None) - execution.idle
                if remaining > 0:
                    self._retired[msg_id] = remaining

    def _retired_seen(self, msg_id: str) -> None:
        remaining = self._retired.get(msg_id, 0) - 1
        if remaining > 0:
            self._retired[msg_id] = remaining
        else:
            self._retired.pop(msg_id, None)

    async def execute_internal(
        self, code: str, *, timeout: float | None = None, link: SubkernelLink | None = None
    ) -> InternalResult:
        """Run ``code`` in the subkernel without it showing up as a user cell."""
        if link is None:
            link = await self._running_link()
        self._cancel_post_execute()
        return await self.execute_internal_message(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": False,
            },
            timeout=timeout,
            link=link,
        )

    async def evaluate(
        self, code: str, *, timeout: float | None = None, link: SubkernelLink | None = None
    ) -> Any:
        """Run ``code`` and decode what it printed to stdout as one JSON document.

        Procedures report values this way in every language. Raises
        :class:`ProcedureFailedError` when the code raised.
        """
        result = await self.execute_internal(code, timeout=timeout, link=link)
        if result.error is not None or (result.reply or {}).get("status") == "error":
            error = result.error or result.reply or {}
            ename = str(error.get("ename", "Error"))
            evalue = str(error.get("evalue", ""))
            raise ProcedureFailedError(
                f"The code raised {ename} in the subkernel: {evalue}",
                subkernel_ename=ename,
                subkernel_evalue=evalue,
                traceback=[str(line) for line in error.get("traceback", [])],
            )
        text = result.stdout.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise ProcedureFailedError(
                f"The code did not print a single JSON document: {e}; it printed {text[:200]!r}"
            ) from e

    # ------------------------------------------------------------------ post-execute

    def _after_user_execute(self, pending: PendingRequest) -> None:
        if self.context is None or not self.context.has_post_execute():
            return
        self._schedule_post_execute(pending.header)

    def _schedule_post_execute(self, parent: dict[str, Any]) -> None:
        self._cancel_post_execute()
        loop = asyncio.get_running_loop()
        self._post_execute_handle = loop.call_later(
            self.post_execute_delay, self._start_post_execute, parent
        )

    def _start_post_execute(self, parent: dict[str, Any]) -> None:
        self._post_execute_handle = None
        if self._pending or self.context is None:
            # The user sent more work: run after that instead.
            if self.context is not None:
                self._schedule_post_execute(parent)
            return
        self._post_execute_task = self.spawn(self._post_execute(parent), name="post-execute")

    async def _post_execute(self, parent: dict[str, Any]) -> None:
        context = self.context
        if context is None:
            return
        try:
            await context.post_execute(parent)
        except SubkernelDiedError as e:
            # The subkernel was stopped or replaced meanwhile (a crash is reported on its own).
            log.debug("Post-execute actions stopped: %s", e.message)
        except BeakerError as e:
            log.warning("Post-execute actions of context %r failed: %s", context.slug, e.message)

    def _cancel_post_execute(self) -> None:
        if self._post_execute_handle is not None:
            self._post_execute_handle.cancel()
            self._post_execute_handle = None

    # ------------------------------------------------------------------ sending

    def publish(
        self, msg_type: str, content: dict[str, Any], parent: dict[str, Any] | None = None
    ) -> None:
        """Publish a message of Beaker's own on iopub."""
        msg = self.session.msg(msg_type, content, parent=parent or {})
        frames = encode(self.session, msg, [self._topic_prefix + msg_type.encode()])
        self._send_now(self.iopub, frames)

    async def send_reply(
        self,
        channel: str,
        idents: list[bytes],
        parent: dict[str, Any],
        msg_type: str,
        content: dict[str, Any],
    ) -> None:
        sock = self.shell if channel == "shell" else self.control
        msg = self.session.msg(msg_type, content, parent=parent)
        self._send_now(sock, encode(self.session, msg, idents))

    async def reply(
        self, request: Request, content: dict[str, Any], msg_type: str | None = None
    ) -> None:
        """Answer ``request`` on its own channel (default type: ``<name>_reply``)."""
        await self.send_reply(
            request.channel, request.idents, request.header, msg_type or request.reply_type, content
        )

    async def ask_user(
        self,
        request: Request,
        prompt: str,
        *,
        password: bool = False,
        timeout: float | None = None,
    ) -> str:
        """Ask the front end that sent ``request`` a question over stdin; returns the answer.

        Uses the standard ``input_request``/``input_reply`` pair. Raises ``TimeoutError``
        when no answer comes within ``timeout`` seconds.
        """
        if not request.header.get("msg_type") or not request.idents:
            raise MessageError("Cannot ask the user: the request has no sender to answer")
        msg = self.session.msg(
            "input_request", {"prompt": prompt, "password": password}, parent=request.header
        )
        msg_id = msg["header"]["msg_id"]
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._stdin_waiters[msg_id] = waiter
        try:
            self._send_now(self.stdin, encode(self.session, msg, request.idents))
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._stdin_waiters.pop(msg_id, None)

    # ------------------------------------------------------------------ control

    async def _on_interrupt(self, request: Request) -> None:
        if self.context is not None:
            self.context.interrupt()
        if self.link is not None:
            await self.link.handle.interrupt()
        await self.reply(request, {"status": "ok"})

    async def _on_shutdown(self, request: Request) -> None:
        restart = bool(request.content.get("restart", False))
        self._settled.clear()
        await self._stop_subkernel()
        await self.reply(request, {"status": "ok", "restart": restart})
        self._shutdown.set()

    # ------------------------------------------------------------------ contexts

    async def setup_context(
        self, slug: str, language: str, context_info: dict[str, Any], **options: Any
    ) -> BeakerContext:
        """Switch to the context ``slug`` in ``language`` (see :mod:`.contexts.messages`)."""
        from .contexts.messages import setup_context

        return await setup_context(self, slug, language, context_info, **options)


async def _bursts(sock: zmq.asyncio.Socket, most: int = 64) -> AsyncIterator[list[bytes]]:
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


def _requested_session(frames: Frames) -> int | None:
    """The session number a history range request names, when it names one (> 0)."""
    try:
        content = frames.content()
    except MessageError:
        return None
    session = content.get("session")
    if content.get("hist_access_type") != "range" or type(session) is not int or session <= 0:
        return None
    return session


def _history_in_session(frames: Frames, session: int) -> Frames:
    """The history reply with its entries numbered ``session`` where the subkernel said 0.

    IPython numbers the current session 0 in its answer even when the request named the
    session by its number (taken from a ``tail`` reply); front ends then cannot match
    the entries to the session they asked for.
    """
    try:
        content = frames.content()
    except MessageError:
        return frames
    history = content.get("history")
    if not isinstance(history, list):
        return frames
    changed = False
    for entry in history:
        if isinstance(entry, list) and entry and type(entry[0]) is int and entry[0] == 0:
            entry[0] = session
            changed = True
    if not changed:
        return frames
    parts = [*frames.parts[:4], json.dumps(content).encode(), *frames.parts[5:]]
    return Frames(frames.idents, parts)


def _reply_type(header: dict[str, Any]) -> str:
    msg_type = str(header.get("msg_type", "unknown_request"))
    return msg_type.removesuffix("_request") + "_reply"


def _heartbeat(address: str) -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(address)
    with contextlib.suppress(zmq.ContextTerminated):
        zmq.proxy(sock, sock)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the kernel process: ``python -m beaker_kernel.kernel -f FILE``."""
    import argparse

    parser = argparse.ArgumentParser(prog="beaker-kernel", description="Run the Beaker kernel")
    parser.add_argument("-f", "--connection-file", required=True)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="[beaker %(levelname)s %(asctime)s] %(message)s",
        stream=sys.stderr,
    )
    # Ctrl-C in a terminal that started the front end must not kill the kernel; front
    # ends interrupt through interrupt_request (interrupt_mode "message").
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel = BeakerKernel(args.connection_file)
    log.debug("Beaker %s starting", __version__)
    asyncio.run(kernel.run())


if __name__ == "__main__":
    main()
