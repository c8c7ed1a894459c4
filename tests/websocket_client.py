"""The Jupyter websocket protocol as the tests speak it (JSON messages with a channel)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import websocket


@dataclass
class KernelSocket:
    """The Jupyter websocket protocol: JSON messages with a ``channel`` field."""

    ws: websocket.WebSocket
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: Messages received while waiting for something else, oldest first.
    backlog: list[dict[str, Any]] = field(default_factory=list)

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "username": "test",
            "session": self.session,
            "version": "5.3",
            "date": "",
        }
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
        return msg_id

    def receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no message in time")
        self.ws.settimeout(remaining)
        try:
            message: dict[str, Any] = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException as e:
            raise TimeoutError("no message in time") from e
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
            msg = self.receive(deadline)
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
