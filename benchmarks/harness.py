"""A server on loopback (``beaker serve``, else a plain ``jupyter server``) and websocket
sessions to its kernels.

Both servers speak the same API: ``POST /api/kernels`` starts a kernel and
``/api/kernels/<id>/channels`` is its websocket (the JSON protocol, one message per frame).
Under ``beaker serve`` a Beaker kernel starts its subkernel through the server, so the
subkernel is listed in ``/api/kernels`` too; :meth:`Session.open` finds it by comparing
the listing before and after, and counts it as part of the session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import psutil
import websocket

MIB = 1024 * 1024

#: Server options for both servers: output rate limits off (they would drop most of the
#: streaming test's output), no idle culling.
COMMON_SERVER_ARGS = [
    "--ZMQChannelsWebsocketConnection.limit_rate=False",
    "--ServerApp.open_browser=False",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def beaker_serve_available() -> bool:
    return importlib.util.find_spec("beaker_kernel.service.app") is not None


@dataclass
class Server:
    """A server process this benchmark started, and how to call it."""

    kind: str  # "beaker serve" or "jupyter server"
    url: str
    token: str
    process: subprocess.Popen[bytes]
    workdir: str

    @classmethod
    def start(cls, kind: str = "auto", extra_args: list[str] | None = None) -> Server:
        """Start ``beaker serve`` (``kind="beaker"``), ``jupyter server`` (``"jupyter"``), or
        the first that is installed (``"auto"``), with ``extra_args`` on its command line.
        Waits until it answers."""
        if kind == "auto":
            kind = "beaker" if beaker_serve_available() else "jupyter"
        port = free_port()
        token = uuid.uuid4().hex
        workdir = tempfile.mkdtemp(prefix="beaker-bench-")
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": os.path.join(workdir, "runtime"),
            # the kernels must not see a token the harness's own shell may carry
            "JUPYTER_TOKEN": "",
        }
        common = [f"--ServerApp.root_dir={workdir}", *COMMON_SERVER_ARGS, *(extra_args or [])]
        if kind == "beaker":
            env.update(BEAKER_TOKEN=token, BEAKER_PORT=str(port), BEAKER_IP="127.0.0.1")
            argv = [sys.executable, "-m", "beaker_kernel.cli", "serve", *common]
            name = "beaker serve"
        elif kind == "jupyter":
            argv = [
                sys.executable,
                "-m",
                "jupyter_server",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                "--ServerApp.allow_root=True",
                *common,
            ]
            name = "jupyter server"
        else:
            raise ValueError(f"unknown server kind {kind!r}")
        log = open(os.path.join(workdir, "server.log"), "wb")  # noqa: SIM115 - child owns it
        process = subprocess.Popen(argv, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        server = cls(name, f"http://127.0.0.1:{port}", token, process, workdir)
        deadline = time.monotonic() + 60
        while True:
            try:
                server.http("GET", "/api/status")
                return server
            except (OSError, urllib.error.HTTPError):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = server.log_tail()
                    server.stop()
                    raise RuntimeError(f"{name} did not start; its log:\n{tail}") from None
                time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def http(self, method: str, path: str, body: Any = None, timeout: float = 120) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=data,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def kernel_ids(self) -> set[str]:
        return {k["id"] for k in self.http("GET", "/api/kernels")}

    def kernelspecs(self) -> set[str]:
        return set(self.http("GET", "/api/kernelspecs")["kernelspecs"])

    def kernel_process(self, kernel_id: str) -> psutil.Process | None:
        """The process the server started for ``kernel_id`` (its connection file is
        ``kernel-<id>.json``)."""
        marker = f"kernel-{kernel_id}.json"
        for proc in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if any(marker in arg for arg in proc.cmdline()):
                    return proc
            except psutil.Error:
                continue
        return None

    def delete_all_kernels(self) -> None:
        for kernel_id in self.kernel_ids():
            # 404: a subkernel its Beaker kernel deleted first
            with contextlib.suppress(urllib.error.HTTPError):
                self.http("DELETE", f"/api/kernels/{kernel_id}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, urllib.error.HTTPError):
                self.delete_all_kernels()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def quick_ack(ws: websocket.WebSocket) -> None:
    """Turn off delayed ACKs on the client's socket until the next read.

    Jupyter Server does not set TCP_NODELAY on kernel websockets, so after it writes one
    small message (``status: busy``) the next one waits in Nagle's algorithm until the
    client acknowledges the first, and a Linux client delays that ACK by 40 ms. That
    adds ~40 ms to every round trip of *any* kernel and hides what the proxy costs.
    ``TCP_QUICKACK`` is reset by the kernel, so it is set again before every read.
    Measure without it with ``--no-quickack`` (what a browser sees).
    """
    sock = ws.sock
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


@dataclass
class Reply:
    """What came back for one request."""

    reply: dict[str, Any]
    seconds: float  # send → reply (or → idle when waited for)
    stream_chars: int = 0


@dataclass
class Session:
    """One kernel the harness started, and a websocket to it."""

    server: Server
    kernel_name: str
    kernel_id: str
    ws: websocket.WebSocket
    #: kernels the server lists that belong to this session besides ``kernel_id``
    #: (a Beaker kernel's subkernel under ``beaker serve``)
    companion_ids: set[str] = field(default_factory=set)
    #: Acknowledge every TCP segment at once (see :func:`quick_ack`).
    quickack: bool = True
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def open(
        cls, server: Server, kernel_name: str, *, quickack: bool = True
    ) -> tuple[Session, float]:
        """Start a kernel; returns the session and its cold start in seconds.

        Cold start: from ``POST /api/kernels`` to the first ``execute_reply``.
        """
        before = server.kernel_ids()
        started = time.perf_counter()
        kernel = server.http("POST", "/api/kernels", {"name": kernel_name})
        ws_url = server.url.replace("http://", "ws://")
        ws = websocket.create_connection(
            f"{ws_url}/api/kernels/{kernel['id']}/channels",
            header=[f"Authorization: token {server.token}"],
            timeout=180,
        )
        session = cls(server, kernel_name, kernel["id"], ws, quickack=quickack)
        session.execute("1")
        cold = time.perf_counter() - started
        session.companion_ids = server.kernel_ids() - before - {kernel["id"]}
        return session, cold

    # ------------------------------------------------------------------ messages

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "bench",
            "session": self.session_id,
            "version": "5.3",
            "date": "",
        }
        message = {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
            "buffers": [],
        }
        self.ws.send(json.dumps(message))
        return msg_id

    def wait(self, msg_id: str, *, idle: bool = False) -> tuple[dict[str, Any], int]:
        """Wait for the reply to ``msg_id`` (and for its ``idle`` status if ``idle``);
        returns the reply and the number of stream characters seen on the way."""
        reply: dict[str, Any] | None = None
        seen_idle = not idle
        chars = 0
        while reply is None or not seen_idle:
            if self.quickack:
                quick_ack(self.ws)
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            channel = msg.get("channel")
            if channel in ("shell", "control"):
                reply = msg
            elif msg["msg_type"] == "stream":
                chars += len(msg["content"]["text"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                seen_idle = True
        return reply, chars

    def execute(self, code: str, *, idle: bool = False) -> Reply:
        """Run ``code``; time it from the send to the reply (to ``idle`` if ``idle``)."""
        started = time.perf_counter()
        msg_id = self.send(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        reply, chars = self.wait(msg_id, idle=idle)
        seconds = time.perf_counter() - started
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code[:60]!r} failed in {self.kernel_name}: {reply['content']}")
        return Reply(reply, seconds, chars)

    def request(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> Reply:
        started = time.perf_counter()
        reply, _ = self.wait(self.send(msg_type, content, channel))
        seconds = time.perf_counter() - started
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"{msg_type} failed: {reply['content']}")
        return Reply(reply, seconds)

    # ------------------------------------------------------------------ processes

    def processes(self) -> tuple[psutil.Process | None, list[psutil.Process]]:
        """The kernel's own process, and every process of the session (the kernel, its
        children, and companion kernels with their children)."""
        main = self.server.kernel_process(self.kernel_id)
        found: dict[int, psutil.Process] = {}
        roots = [main] + [self.server.kernel_process(k) for k in self.companion_ids]
        for root in roots:
            if root is None:
                continue
            found[root.pid] = root
            try:
                for child in root.children(recursive=True):
                    found[child.pid] = child
            except psutil.Error:
                pass
        return main, list(found.values())

    def rss_mib(self) -> tuple[float | None, float]:
        """RSS of the kernel process and of the whole session, in MiB."""
        main, every = self.processes()
        total = 0
        for proc in every:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        own = None
        if main is not None:
            try:
                own = main.memory_info().rss / MIB
            except psutil.Error:
                own = None
        return own, total / MIB

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        with contextlib.suppress(OSError, urllib.error.HTTPError):
            self.server.http("DELETE", f"/api/kernels/{self.kernel_id}")
        # under a plain server nobody else stops a companion; under beaker serve the
        # Beaker kernel's provisioner already did (404 then)
        for kernel_id in self.companion_ids:
            with contextlib.suppress(OSError, urllib.error.HTTPError):
                self.server.http("DELETE", f"/api/kernels/{kernel_id}")
