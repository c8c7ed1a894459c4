"""A small blocking client for tests: send a request, get its reply and its iopub output."""

from __future__ import annotations

import errno
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import IO, Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel


@dataclass
class Exchange:
    """A request's reply and the iopub messages that had it as parent (until idle)."""

    reply: dict[str, Any]
    iopub: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content(self) -> dict[str, Any]:
        return self.reply["content"]

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.iopub if m["msg_type"] == msg_type]

    def stdout(self) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == "stdout")

    def stderr(self) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == "stderr")

    def one(self, msg_type: str) -> dict[str, Any]:
        """The content of the only iopub message of ``msg_type``."""
        found = self.of_type(msg_type)
        assert len(found) == 1, f"expected one {msg_type}, got {self.types()}"
        return found[0]

    def types(self) -> list[str]:
        return [m["msg_type"] for m in self.iopub]

    @property
    def info(self) -> dict[str, Any]:
        """The context info of a context_setup_request (its context_setup_response)."""
        return self.one("context_setup_response")


class BeakerClient(BlockingKernelClient):
    """BlockingKernelClient with helpers for Beaker's own messages."""

    def request(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        *,
        channel: str = "shell",
        timeout: float = 60,
        wait_idle: bool = True,
    ) -> Exchange:
        msg = self.session.msg(msg_type, content or {})
        getattr(self, f"{channel}_channel").send(msg)
        return self.collect(
            msg["header"]["msg_id"], channel=channel, timeout=timeout, wait_idle=wait_idle
        )

    def start_error(self, timeout: float = 60) -> str:
        """The message of the ``SubkernelStartError`` a ``kernel_info_request`` is answered
        with (the reply only: an error at once may come before this client's iopub
        subscription is in place)."""
        info = self.request("kernel_info_request", timeout=timeout, wait_idle=False)
        assert info.content["status"] == "error", info.content
        assert info.content["ename"] == "SubkernelStartError", info.content
        return str(info.content["evalue"])

    def request_list(self, msg_type: str, content: list[Any], *, timeout: float = 60) -> Exchange:
        """A shell request whose content is a JSON list (upstream's set_agent_history does
        this; jupyter_client only sends objects, so the frame is written here)."""
        import json

        msg = self.session.msg(msg_type, {})
        frames = self.session.serialize(msg)
        at = frames.index(b"<IDS|MSG>")
        frames[at + 5] = json.dumps(content).encode()
        frames[at + 1] = self.session.sign(frames[at + 2 : at + 6])
        self.shell_channel.socket.send_multipart(frames)
        return self.collect(msg["header"]["msg_id"], timeout=timeout)

    def collect(
        self, msg_id: str, *, channel: str = "shell", timeout: float = 60, wait_idle: bool = True
    ) -> Exchange:
        """Wait for the reply to ``msg_id`` and its iopub messages up to ``idle``."""
        deadline = time.monotonic() + timeout
        reply = None
        get_reply = getattr(self, f"get_{channel}_msg")
        while reply is None:
            msg = get_reply(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                reply = msg
        exchange = Exchange(reply)
        if wait_idle:
            exchange.iopub = self.iopub_until_idle(msg_id, deadline)
        return exchange

    def iopub_until_idle(self, msg_id: str, deadline: float) -> list[dict[str, Any]]:
        return self.iopub_until_each_idle({msg_id}, deadline)

    def iopub_until_each_idle(self, msg_ids: set[str], deadline: float) -> list[dict[str, Any]]:
        """The iopub messages parented to any of ``msg_ids``, in the order they came,
        until each of them had its ``idle`` status."""
        found: list[dict[str, Any]] = []
        waiting = set(msg_ids)
        while waiting:
            try:
                msg = self.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            except Empty:
                raise TimeoutError(
                    f"No idle status for {sorted(waiting)} in time; got {found}"
                ) from None
            parent = msg["parent_header"].get("msg_id")
            if parent not in msg_ids:
                continue
            found.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                waiting.discard(parent)
        return found

    def run(self, code: str, *, timeout: float = 60, **options: Any) -> Exchange:
        """Execute ``code`` as a user cell."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
            **options,
        }
        return self.request("execute_request", content, timeout=timeout)

    def setup_context(
        self, context: str, language: str, info: dict[str, Any] | None = None, timeout: float = 90
    ) -> Exchange:
        return self.request(
            "context_setup_request",
            {"context": context, "language": language, "context_info": info or {}},
            timeout=timeout,
        )

    def wait_for_iopub(
        self, msg_type: str, timeout: float = 30, parent_id: str | None = None
    ) -> dict[str, Any]:
        """The next iopub message of ``msg_type`` (optionally with parent ``parent_id``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            except Empty:
                raise TimeoutError(f"No {msg_type} on iopub within {timeout} s") from None
            if msg["msg_type"] != msg_type:
                continue
            if parent_id is not None and msg["parent_header"].get("msg_id") != parent_id:
                continue
            return msg

    def drain_iopub(self) -> None:
        while True:
            try:
                self.get_iopub_msg(timeout=0.2)
            except Empty:
                return


def start_ready(
    manager: Callable[[], KernelManager], timeout: float = 60, **start_kwargs: Any
) -> tuple[KernelManager, Any]:
    """Start the kernel of a ``manager()``; return it and its started client once the
    kernel answered ``kernel_info``.

    jupyter_client chooses free ports and the kernel binds them a second later; another
    process that took one of them meanwhile makes the kernel exit at once ("Address
    already in use"). The two test processes start kernels side by side, so this happens.
    Such a kernel is started again on new ports (a new manager), as jupyter_client's
    restarter does (``random_ports_until_alive``), but only when one of its ports is now
    held by another process: a kernel that died of anything else still fails the test.
    """
    attempts = 3
    for attempt in range(1, attempts + 1):
        km = manager()
        km.start_kernel(**start_kwargs)
        client = km.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=timeout)
            return km, client
        except RuntimeError:
            client.stop_channels()
            taken = [] if km.is_alive() else taken_ports(km.get_connection_info())
            km.shutdown_kernel(now=True)
            if not taken or attempt == attempts:
                raise
            print(
                f"[tests] the kernel exited at start: its ports {taken} are held by another"
                f" process; starting it again on new ports (attempt {attempt + 1} of {attempts})",
                file=sys.stderr,
            )
        except BaseException:
            client.stop_channels()
            km.shutdown_kernel(now=True)
            raise
    raise AssertionError("unreachable")


def taken_ports(info: dict[str, Any]) -> list[int]:
    """The TCP ports of connection ``info`` that something else listens on or uses."""
    if info.get("transport", "tcp") != "tcp":
        return []
    taken = []
    for name, port in info.items():
        if not name.endswith("_port") or not port:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # as libzmq binds: a connection of the dead kernel in TIME_WAIT is no owner
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((info.get("ip", "127.0.0.1"), port))
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                taken.append(port)
    return taken


def beaker_manager() -> KernelManager:
    """A manager of ``beaker_kernel`` whose clients are :class:`BeakerClient`."""
    return KernelManager(kernel_name="beaker_kernel", client_class="tests.client.BeakerClient")


def start_beaker(
    extra_env: dict[str, str] | None = None,
    startup_timeout: float = 60,
    *,
    wait: bool = True,
    log: IO[bytes] | None = None,
) -> tuple[KernelManager, BeakerClient]:
    """Start ``beaker_kernel`` with its default subkernel and a ready client.

    With ``wait=False`` the client is returned at once, while the subkernel is starting.
    With ``log``, the kernel logs at debug level to that file.
    """
    import os

    env = {**os.environ, **(extra_env or {})}
    start: dict[str, Any] = {"env": env}
    if log is not None:
        start.update(stderr=log, extra_arguments=["--log-level=DEBUG"])
    if not wait:
        km = beaker_manager()
        km.start_kernel(**start)
        client = km.client()
        client.start_channels()
        return km, client
    km, client = start_ready(beaker_manager, startup_timeout, **start)
    client.drain_iopub()
    return km, client


@contextmanager
def running_beaker(
    extra_env: dict[str, str] | None = None, *, wait: bool = True, log: IO[bytes] | None = None
) -> Iterator[tuple[KernelManager, BeakerClient]]:
    """:func:`start_beaker`; afterwards the client stops and the kernel shuts down."""
    km, client = start_beaker(extra_env, wait=wait, log=log)
    try:
        yield km, client
    finally:
        client.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=False)


def imported_modules(log: Path) -> set[str]:
    """The modules a process imported so far, from the log it writes to stderr with
    ``PYTHONPROFILEIMPORTTIME=1``."""
    names = set()
    for line in log.read_text().splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", line)
        if match:
            names.add(match.group(1))
    return names


__all__ = [
    "BeakerClient",
    "Exchange",
    "beaker_manager",
    "imported_modules",
    "running_beaker",
    "start_beaker",
    "start_new_kernel",
    "start_ready",
]
