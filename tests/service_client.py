"""A test client for a Beaker service: its HTTP API and kernel websockets.

Shared by the tests of a local ``beaker serve`` and of the service in its container.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import websocket

#: Jupyter's binary websocket protocol (the JSON one has no name).
V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"


def encode_v1(channel: str, parts: list[bytes]) -> bytes:
    """A frame of the v1 protocol: offsets, the channel, then the message parts."""
    channel_bytes = channel.encode()
    offsets = [8 * (1 + 1 + len(parts) + 1)]
    offsets.append(offsets[-1] + len(channel_bytes))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return head + channel_bytes + b"".join(parts)


def decode_v1(frame: bytes) -> dict[str, Any]:
    """A v1 frame as the JSON protocol's message dict (buffers dropped)."""
    count = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    channel = frame[offsets[0] : offsets[1]].decode()
    parts = [frame[offsets[i] : offsets[i + 1]] for i in range(1, count - 1)]
    header, parent, metadata, content = (json.loads(p) for p in parts[:4])
    return {
        "channel": channel,
        "header": header,
        "parent_header": parent,
        "metadata": metadata,
        "content": content,
        "msg_id": header.get("msg_id"),
        "msg_type": header.get("msg_type"),
    }


@dataclass
class KernelSocket:
    """A kernel websocket: JSON messages with a ``channel`` field, or the v1 binary protocol.

    Messages are dicts in the JSON protocol's shape either way.
    """

    ws: websocket.WebSocket
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: Messages received while waiting for something else, oldest first.
    backlog: list[dict[str, Any]] = field(default_factory=list)
    #: ``""`` (JSON) or :data:`V1_PROTOCOL`, as the server chose.
    protocol: str = ""

    def header(self, msg_type: str, msg_id: str | None = None) -> dict[str, Any]:
        return {
            "msg_id": msg_id or uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "test",
            "session": self.session,
            "version": "5.3",
            "date": "",
        }

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        header = self.header(msg_type)
        if self.protocol == V1_PROTOCOL:
            parts = [json.dumps(p).encode() for p in (header, {}, {}, content)]
            self.ws.send(encode_v1(channel, parts), websocket.ABNF.OPCODE_BINARY)
        else:
            self.ws.send(
                json.dumps(
                    {
                        "header": header,
                        "parent_header": {},
                        "metadata": {},
                        "content": content,
                        "channel": channel,
                    }
                )
            )
        return str(header["msg_id"])

    def send_raw(self, frame: str | bytes) -> None:
        """Send ``frame`` as it is (text for ``str``, binary for ``bytes``)."""
        if isinstance(frame, bytes):
            self.ws.send(frame, websocket.ABNF.OPCODE_BINARY)
        else:
            self.ws.send(frame)

    def receive(self, deadline: float) -> dict[str, Any]:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message in time")
            # In short steps: the client answers the server's pings inside recv() and
            # then reads on, so with a timeout as long as the ping interval a recv()
            # would never time out.
            self.ws.settimeout(min(remaining, 1.0))
            try:
                frame = self.ws.recv()
                break
            except websocket.WebSocketTimeoutException:
                continue
        if isinstance(frame, bytes) and self.protocol == V1_PROTOCOL:
            return decode_v1(frame)
        message: dict[str, Any] = json.loads(frame)
        return message

    def request(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        *,
        channel: str = "shell",
        timeout: float = 120,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send a request; return its reply and its iopub messages up to idle."""
        msg_id = self.send(msg_type, content or {}, channel)
        deadline = time.monotonic() + timeout
        reply = None
        iopub: list[dict[str, Any]] = []
        idle = False
        while reply is None or not idle:
            try:
                msg = self.receive(deadline)
            except TimeoutError as e:
                got = "its reply" if reply is not None else "no reply"
                seen = [(m["channel"], m["msg_type"]) for m in iopub]
                raise TimeoutError(
                    f"{msg_type}: {got} and no idle status within {timeout} s; "
                    f"its iopub messages: {seen}; {len(self.backlog)} others received"
                ) from e
            if msg["parent_header"].get("msg_id") != msg_id:
                self.backlog.append(msg)
                continue
            if msg["channel"] == channel:
                reply = msg
            elif msg["channel"] == "iopub":
                iopub.append(msg)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
        return reply, iopub

    def context_info(self, timeout: float = 120) -> dict[str, Any]:
        """``context_info_response`` once the kernel has set its default context up."""
        deadline = time.monotonic() + timeout
        while True:
            reply, iopub = self.request("context_info_request")
            assert reply["content"]["status"] == "ok", reply["content"]
            (info,) = [m["content"] for m in iopub if m["msg_type"] == "context_info_response"]
            if info["slug"] != "NONE":
                return dict(info)
            assert time.monotonic() < deadline, "the default context was never set up"
            time.sleep(0.5)

    def execute(self, code: str, timeout: float = 120) -> tuple[dict[str, Any], str]:
        """Run a user cell; return the reply and its stdout."""
        reply, iopub = self.request(
            "execute_request",
            {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
            timeout=timeout,
        )
        stdout = "".join(
            m["content"]["text"]
            for m in iopub
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )
        return reply, stdout

    def wait_for(self, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        """The first message (backlog included) for which ``predicate`` holds; others are kept."""
        for i, msg in enumerate(self.backlog):
            if predicate(msg):
                del self.backlog[i]
                return msg
        deadline = time.monotonic() + timeout
        while True:
            msg = self.receive(deadline)
            if predicate(msg):
                return msg
            self.backlog.append(msg)

    def wait_for_iopub(self, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        """The first iopub message for which ``predicate`` holds."""
        return self.wait_for(lambda m: m["channel"] == "iopub" and predicate(m), timeout)

    def wait_for_status(self, msg_id: str, state: str, timeout: float = 60) -> dict[str, Any]:
        """The ``status`` message ``state`` (busy, idle) of the request ``msg_id``."""
        return self.wait_for_iopub(
            lambda m: (
                m["msg_type"] == "status"
                and m["content"]["execution_state"] == state
                and m["parent_header"].get("msg_id") == msg_id
            ),
            timeout,
        )

    def wait_for_reply(
        self, msg_id: str, channel: str = "shell", timeout: float = 60
    ) -> dict[str, Any]:
        """The reply to ``msg_id`` on ``channel``."""
        return self.wait_for(
            lambda m: m["channel"] == channel and m["parent_header"].get("msg_id") == msg_id,
            timeout,
        )

    def close(self) -> None:
        self.ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ServiceClient:
    """HTTP and websocket calls to the service at ``url`` with ``token``."""

    url: str
    token: str
    #: seconds an HTTP call may take
    http_timeout: float = 60
    #: default seconds to wait for the kernel list to match
    kernels_timeout: float = 30

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            all_headers["Authorization"] = f"token {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.url + path, method=method, data=data, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.http_timeout) as r:
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def kernels(self) -> list[dict[str, Any]]:
        response = self.http("GET", "/api/kernels")
        assert response.status == 200, response.body
        result: list[dict[str, Any]] = response.json()
        return result

    def wait_for_kernels(
        self, predicate: Any, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + (timeout or self.kernels_timeout)
        while True:
            kernels = self.kernels()
            if predicate(kernels):
                return kernels
            if time.monotonic() > deadline:
                raise AssertionError(f"kernels never matched; last: {kernels}")
            time.sleep(0.2)

    def start_beaker(self) -> str:
        response = self.http("POST", "/api/kernels", {"name": "beaker_kernel"})
        assert response.status == 201, response.body
        kernel_id: str = response.json()["id"]
        return kernel_id

    def connect(self, kernel_id: str, *, protocol: str = "") -> KernelSocket:
        """A websocket to ``kernel_id``; ``protocol=V1_PROTOCOL`` asks for the binary one."""
        ws_url = self.url.replace("http://", "ws://")
        options: dict[str, Any] = {"timeout": 120}
        if protocol:
            options["subprotocols"] = [protocol]
        sock = websocket.create_connection(
            f"{ws_url}/api/kernels/{kernel_id}/channels?token={self.token}", **options
        )
        chosen = sock.getsubprotocol() or ""
        assert chosen == protocol, f"the server chose websocket protocol {chosen!r}"
        return KernelSocket(sock, protocol=chosen)
