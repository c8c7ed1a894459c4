"""A server on loopback (``beaker serve``, else a plain ``jupyter server``) and websocket
sessions to its kernels.

Both servers speak the same API: ``POST /api/kernels`` starts a kernel and
``/api/kernels/<id>/channels`` is its websocket, spoken in the binary protocol
``v1.kernel.websocket.jupyter.org`` that JupyterLab and beaker-ts negotiate (the server
passes messages on without decoding them), or in the older JSON protocol, one message per
text frame (``protocol="json"``), where the server decodes and encodes every message.
Under ``beaker serve`` a Beaker kernel starts its subkernel through the server, so the
subkernel is listed in ``/api/kernels`` too; :meth:`Session.open` finds it by comparing
the listing before and after, and counts it as part of the session.

The server can carry kernelspecs of its own (:class:`Server` ``variants``): copies of the
installed ``beaker_kernel`` spec that differ only in environment variables, in a
``JUPYTER_PATH`` folder inside the server's temporary directory. That is how one server
runs Beaker kernels with and without a default context, and with an R subkernel, side by
side. It also offers ``bench_floor`` (:mod:`.floor`), an ipykernel behind a C ZMQ proxy
process: the floor of any proxy with a process of its own; and ``bench_floor_python``, the
same with Beaker's Python channels relayed by a Python loop that does nothing else.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
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
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil
import websocket
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

from . import floor

MIB = 1024 * 1024
#: The websocket subprotocol of JupyterLab and beaker-ts (binary frames, undecoded by the
#: server); ``"json"`` names the older protocol of a client that asks for none.
V1 = "v1.kernel.websocket.jupyter.org"
PROTOCOLS = ("v1", "json")
#: Seconds a websocket read waits for a byte before :meth:`Session.wait` checks its deadline.
READ_TIMEOUT = 5.0

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


def write_variant_specs(data_dir: str, base: str, variants: dict[str, dict[str, str]]) -> None:
    """Kernelspecs ``<data_dir>/kernels/<name>``: copies of the installed ``base``
    kernelspec with ``env`` added (jupyter_client sets a kernelspec's ``env`` over the
    server's own environment)."""
    spec = KernelSpecManager().get_kernel_spec(base).to_dict()
    for name, extra in variants.items():
        variant = {
            **spec,
            "display_name": f"{spec.get('display_name', base)} ({name})",
            "env": {**(spec.get("env") or {}), **extra},
        }
        write_spec(data_dir, name, variant)


def write_spec(data_dir: str, name: str, spec: dict[str, Any]) -> None:
    folder = os.path.join(data_dir, "kernels", name)
    os.makedirs(folder)
    with open(os.path.join(folder, "kernel.json"), "w") as f:
        json.dump(spec, f, indent=1)


@dataclass
class Server:
    """A server process this benchmark started, and how to call it."""

    kind: str  # "beaker serve" or "jupyter server"
    url: str
    token: str
    process: subprocess.Popen[bytes]
    workdir: str
    #: kernelspec → kernels started, and those that never answered their first request
    #: (:meth:`Session.open`), with what went wrong
    opened: Counter[str] = field(default_factory=Counter)
    unanswered: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        kind: str = "auto",
        extra_args: list[str] | None = None,
        *,
        env: dict[str, str | None] | None = None,
        variants: dict[str, dict[str, str]] | None = None,
        variant_of: str = "beaker_kernel",
    ) -> Server:
        """Start ``beaker serve`` (``kind="beaker"``), ``jupyter server`` (``"jupyter"``), or
        the first that is installed (``"auto"``), with ``extra_args`` on its command line.
        Waits until it answers.

        ``env``: variables set for the server and so for every kernel it starts (``None``
        removes one). ``variants``: kernelspec name → environment of a copy of the
        ``variant_of`` kernelspec the server also offers (the kernelspec's ``env`` wins
        over the server's environment, as jupyter_client applies it last).
        """
        if kind == "auto":
            kind = "beaker" if beaker_serve_available() else "jupyter"
        port = free_port()
        token = uuid.uuid4().hex
        workdir = tempfile.mkdtemp(prefix="beaker-bench-")
        server_env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": os.path.join(workdir, "runtime"),
            # the kernels must not see a token the harness's own shell may carry
            "JUPYTER_TOKEN": "",
            # kernelspecs run "python": the one of this environment, activated or not
            "PATH": os.pathsep.join(
                filter(None, [os.path.dirname(sys.executable), os.environ.get("PATH")])
            ),
        }
        for name, value in (env or {}).items():
            if value is None:
                server_env.pop(name, None)
            else:
                server_env[name] = value
        if variants:
            data = os.path.join(workdir, "jupyter")
            try:
                write_variant_specs(data, variant_of, variants)
            except Exception as e:
                shutil.rmtree(workdir, ignore_errors=True)
                raise RuntimeError(
                    f"cannot copy the {variant_of!r} kernelspec ({e}); is Beaker installed "
                    "in this environment (benchmarks/run installs it)?"
                ) from e
            write_spec(data, floor.NAME, floor.kernelspec())
            write_spec(data, floor.PYTHON_NAME, floor.kernelspec(floor.BEAKER_PYTHON_CHANNELS))
            server_env["JUPYTER_PATH"] = os.pathsep.join(
                filter(None, [data, os.environ.get("JUPYTER_PATH")])
            )
        common = [f"--ServerApp.root_dir={workdir}", *COMMON_SERVER_ARGS, *(extra_args or [])]
        if kind == "beaker":
            server_env.update(BEAKER_TOKEN=token, BEAKER_PORT=str(port), BEAKER_IP="127.0.0.1")
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
        process = subprocess.Popen(
            argv,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
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
        return self.kernel_processes().get(kernel_id)

    def kernel_processes(self) -> dict[str, psutil.Process]:
        """Kernel id → the process started for it, for every kernel below the server."""
        found: dict[str, psutil.Process] = {}
        for proc in psutil.Process(self.process.pid).children(recursive=True):
            try:
                cmdline = proc.cmdline()
            except psutil.Error:
                continue
            for arg in cmdline:
                name = os.path.basename(arg)
                if name.startswith("kernel-") and name.endswith(".json"):
                    found.setdefault(name[len("kernel-") : -len(".json")], proc)
        return found

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
    #: Seconds :meth:`wait` waits for a reply before it raises TimeoutError.
    timeout: float = 180.0
    #: The websocket protocol spoken (:data:`PROTOCOLS`).
    protocol: str = "v1"
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def open(
        cls,
        server: Server,
        kernel_name: str,
        *,
        quickack: bool = True,
        timeout: float = 180.0,
        protocol: str = "v1",
    ) -> tuple[Session, float]:
        """Start a kernel; returns the session and its cold start in seconds.

        Cold start: from ``POST /api/kernels`` to the first ``execute_reply``. A kernel
        that does not answer within ``timeout`` seconds is deleted, and TimeoutError raised.
        """
        before = server.kernel_ids()
        started = time.perf_counter()
        kernel = server.http("POST", "/api/kernels", {"name": kernel_name})
        ws_url = server.url.replace("http://", "ws://")
        ws = websocket.create_connection(
            f"{ws_url}/api/kernels/{kernel['id']}/channels",
            header=[f"Authorization: token {server.token}"],
            # a read gives up after this long without a byte, so that wait() can check its
            # deadline (the server's pings would keep a longer read waiting forever)
            timeout=READ_TIMEOUT,
            subprotocols=[V1] if protocol == "v1" else None,
        )
        if protocol == "v1" and ws.getsubprotocol() != V1:
            ws.close()
            server.http("DELETE", f"/api/kernels/{kernel['id']}")
            raise RuntimeError(f"{server.kind} did not accept the websocket protocol {V1}")
        session = cls(
            server,
            kernel_name,
            kernel["id"],
            ws,
            quickack=quickack,
            timeout=timeout,
            protocol=protocol,
        )
        server.opened[kernel_name] += 1
        try:
            session.execute("1")
        except BaseException as e:
            if isinstance(e, TimeoutError):
                server.unanswered[kernel_name] += 1
                server.failures.append(str(e))
            session.companion_ids = server.kernel_ids() - before - {kernel["id"]}
            session.close()
            raise
        cold = time.perf_counter() - started
        session.timeout = 180.0
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
        if self.protocol == "v1":
            parts = [json.dumps(header).encode(), b"{}", b"{}", json.dumps(content).encode()]
            self.ws.send_binary(serialize_msg_to_ws_v1(parts, channel))  # type: ignore[no-untyped-call]
            return msg_id
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

    @staticmethod
    def decode(frame: str | bytes) -> dict[str, Any]:
        """A message from a websocket frame: text in the JSON protocol, binary in v1 (its
        parts decoded as a front end does)."""
        if isinstance(frame, str):
            return dict(json.loads(frame))
        channel, parts = deserialize_msg_from_ws_v1(frame)  # type: ignore[no-untyped-call]
        header, parent, metadata, content = (json.loads(part) for part in parts[:4])
        return {
            "header": header,
            "msg_id": header.get("msg_id"),
            "msg_type": header.get("msg_type"),
            "parent_header": parent,
            "metadata": metadata,
            "content": content,
            "channel": channel,
            "buffers": parts[4:],
        }

    def wait(
        self, msg_id: str, *, idle: bool = False, iopub: list[dict[str, Any]] | None = None
    ) -> tuple[dict[str, Any], int]:
        """Wait for the reply to ``msg_id`` (and for its ``idle`` status if ``idle``);
        returns the reply and the number of stream characters seen on the way. The
        iopub messages of the request are appended to ``iopub`` if given."""
        reply: dict[str, Any] | None = None
        seen_idle = not idle
        chars = 0
        deadline = time.monotonic() + self.timeout
        while reply is None or not seen_idle:
            if self.quickack:
                quick_ack(self.ws)
            try:
                msg = self.decode(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                if time.monotonic() > deadline:
                    what = "idle" if reply is not None else "reply"
                    raise TimeoutError(
                        f"{self.kernel_name} (kernel {self.kernel_id}) sent no {what} to "
                        f"message {msg_id} within {self.timeout:.0f} s"
                    ) from None
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            channel = msg.get("channel")
            if channel in ("shell", "control"):
                reply = msg
                continue
            if iopub is not None:
                iopub.append(msg)
            if msg["msg_type"] == "stream":
                chars += len(msg["content"]["text"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                seen_idle = True
        return reply, chars

    def keep_alive(self) -> None:
        """Read whatever has arrived, without waiting, and so answer the server's pings.

        Jupyter Server pings every kernel websocket every 30 s and closes one whose client
        has not answered for 90 s; a browser answers at once, a session nobody reads from
        (see :func:`~.measure.idle_sessions`) must be read now and then. Messages read
        here are dropped: they belong to requests already answered.
        """
        sock = self.ws.sock
        while sock is not None and select.select([sock], [], [], 0)[0]:
            self.ws.recv_data_frame(control_frame=True)

    def settle(self, seconds: float) -> None:
        """Wait ``seconds``, reading and decoding what arrives meanwhile, as a front end
        handles messages when they come: the trailing ``idle`` of the last request, and
        what a context publishes after a cell (the default context's preview and kernel
        state). Read after the next send instead, they would count in its round trip."""
        deadline = time.monotonic() + seconds
        sock = self.ws.sock
        while (remaining := deadline - time.monotonic()) > 0:
            if sock is None or not select.select([sock], [], [], remaining)[0]:
                continue
            opcode, frame = self.ws.recv_data_frame(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.decode(frame.data.decode())
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                self.decode(frame.data)

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

    def request(
        self,
        msg_type: str,
        content: dict[str, Any],
        channel: str = "shell",
        *,
        iopub: list[dict[str, Any]] | None = None,
    ) -> Reply:
        """Send a request and wait for its reply (and its ``idle`` if ``iopub`` is given,
        which then receives the request's iopub messages)."""
        started = time.perf_counter()
        reply, _ = self.wait(
            self.send(msg_type, content, channel), idle=iopub is not None, iopub=iopub
        )
        seconds = time.perf_counter() - started
        if reply["content"].get("status") != "ok":
            raise RuntimeError(f"{msg_type} failed: {reply['content']}")
        return Reply(reply, seconds)

    def context(self) -> tuple[str, str]:
        """(context slug, subkernel language) as the kernel reports them: ``("NONE",
        <language of kernel_info>)`` without a context."""
        messages: list[dict[str, Any]] = []
        self.request("context_info_request", {}, iopub=messages)
        info = next(m["content"] for m in messages if m["msg_type"] == "context_info_response")
        if info["slug"] != "NONE":
            return info["slug"], info["language"]["slug"]
        kernel_info = self.request("kernel_info_request", {}).reply["content"]
        return "NONE", kernel_info.get("language_info", {}).get("name", "?")

    # ------------------------------------------------------------------ processes

    def processes(
        self, index: dict[str, psutil.Process] | None = None
    ) -> tuple[psutil.Process | None, list[psutil.Process]]:
        """The kernel's own process, and every process of the session (the kernel, its
        children, and companion kernels with their children). ``index``: the server's
        :meth:`Server.kernel_processes`, when the caller has it already."""
        if index is None:
            index = self.server.kernel_processes()
        main = index.get(self.kernel_id)
        found: dict[int, psutil.Process] = {}
        roots = [main] + [index.get(k) for k in self.companion_ids]
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

    def rss_mib(self, index: dict[str, psutil.Process] | None = None) -> tuple[float | None, float]:
        """RSS of the kernel process and of the whole session, in MiB."""
        main, every = self.processes(index)
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

    def pss_mib(self, index: dict[str, psutil.Process] | None = None) -> float:
        """Proportional set size of the whole session in MiB: pages shared between
        processes (the interpreter, libraries) are split among them, so the PSS of all
        sessions adds up to the memory they really take."""
        total = 0
        for proc in self.processes(index)[1]:
            with contextlib.suppress(psutil.Error, AttributeError):
                total += proc.memory_full_info().pss
        return total / MIB

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
