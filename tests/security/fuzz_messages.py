"""Seeded random and malformed kernel websocket frames for the fuzz run.

:class:`FrameMaker` makes one frame at a time, as text (Jupyter's JSON protocol) or bytes
(the v1 binary protocol), and says whether the service must refuse it (answer with an
``InvalidFrame`` error) or pass it to the kernel (which may answer or ignore it, but must
not die or stop answering other requests).
"""

from __future__ import annotations

import json
import random
import string
import uuid
from dataclasses import dataclass
from typing import Any

from ..service_client import encode_v1


@dataclass
class Raw:
    """JSON text put into a frame as it is (nesting too deep for ``json.dumps``)."""

    text: str


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@dataclass
class Frame:
    category: str
    data: str | bytes
    #: the service must answer it with an InvalidFrame error
    refused: bool

    def describe(self) -> str:
        shown = self.data if isinstance(self.data, str) else repr(self.data)
        return f"[{self.category}] {shown[:300]}"


#: Standard requests with content of the wrong shape (they reach the kernel).
BAD_STANDARD = {
    "execute_request": ["code", "silent", "store_history", "user_expressions", "allow_stdin"],
    "complete_request": ["code", "cursor_pos"],
    "inspect_request": ["code", "cursor_pos", "detail_level"],
    "history_request": ["output", "raw", "hist_access_type", "n", "session", "start", "stop"],
    "is_complete_request": ["code"],
    "kernel_info_request": ["x"],
    "comm_info_request": ["target_name"],
    "comm_open": ["comm_id", "target_name", "data"],
    "comm_msg": ["comm_id", "data"],
    "comm_close": ["comm_id", "data"],
    "context_setup_request": ["context", "language", "context_info"],
    "context_info_request": ["x"],
    "get_subkernel_state_request": ["x"],
    "beaker_session_info_request": ["x"],
    "llm_request": ["request"],
}

#: Requests never sent: they stop, restart or interrupt the kernel by design.
NEVER = ("shutdown_request", "interrupt_request", "debug_request")


class FrameMaker:
    def __init__(self, rng: random.Random, session: str, *, v1: bool = False) -> None:
        self.rng = rng
        self.session = session
        self.v1 = v1

    # ---------------------------------------------------------------- pieces

    def word(self, n: int = 8) -> str:
        return "".join(self.rng.choice(string.ascii_lowercase + "_") for _ in range(n))

    def junk(self, depth: int = 0) -> Any:
        """A random JSON value of a few levels."""
        kinds = ["int", "float", "str", "bool", "null"]
        if depth < 3:
            kinds += ["list", "dict"]
        kind = self.rng.choice(kinds)
        if kind == "int":
            return self.rng.choice([0, -1, 2**63, self.rng.randint(-(10**9), 10**9)])
        if kind == "float":
            return self.rng.uniform(-1e9, 1e9)
        if kind == "str":
            alphabet = string.printable + "é\u2603\U0001f600\x00"
            return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(0, 40)))
        if kind == "bool":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        if kind == "list":
            return [self.junk(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {self.word(5): self.junk(depth + 1) for _ in range(self.rng.randint(0, 4))}

    def not_a_dict(self) -> Any:
        value = self.junk()
        while isinstance(value, dict):
            value = self.junk()
        return value

    def header(self, msg_type: str) -> dict[str, Any]:
        return {
            "msg_id": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            "msg_type": msg_type,
            "username": "fuzz",
            "session": self.session,
            "version": "5.3",
            "date": "",
        }

    def message(
        self, msg_type: str, content: Any, channel: Any = "shell", **parts: Any
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "header": self.header(msg_type),
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
        }
        msg.update(parts)
        return msg

    def nested(self, depth: int) -> Raw:
        return Raw('{"x": ' + "[" * depth + "]" * depth + "}")

    # ---------------------------------------------------------------- frames

    def encode(self, msg: dict[str, Any]) -> str | bytes:
        if not self.v1:
            return to_json(msg)
        channel = msg.get("channel", "shell")
        parts = [
            to_json(msg[k]).encode()
            for k in ("header", "parent_header", "metadata", "content")
            if k in msg
        ]
        return encode_v1(channel if isinstance(channel, str) else json.dumps(channel), parts)

    def next(self) -> Frame:
        makers = [
            (self.invalid_json, 8),
            (self.not_an_object, 6),
            (self.missing_part, 8),
            (self.wrong_part_type, 8),
            (self.bad_header, 8),
            (self.bad_channel, 6),
            (self.too_deep, 4),
            (self.binary_junk, 6),
            (self.unknown_type, 12),
            (self.bad_standard, 24),
            (self.nested_ok, 6),
            (self.huge, 1),
            (self.odd_header, 3),
        ]
        maker = self.rng.choices([m for m, _ in makers], [w for _, w in makers])[0]
        return maker()

    def invalid_json(self) -> Frame:
        valid = to_json(self.message("execute_request", {"code": "1"}))
        choice = self.rng.randrange(4)
        if choice == 0:
            text = valid[: self.rng.randrange(1, len(valid) - 1)]
        elif choice == 1:
            text = "".join(self.rng.choice(string.printable) for _ in range(30))
        elif choice == 2:
            text = valid.replace('"', "'", 3)
        else:
            text = valid + "}"
        if self.v1:
            header = to_json(self.header("execute_request")).encode()
            parts = [header, b"{}", b"{}", text.encode()]
            if self.rng.random() < 0.5:
                parts[0] = text.encode()
            return Frame("invalid JSON", encode_v1("shell", parts), True)
        return Frame("invalid JSON", text, True)

    def not_an_object(self) -> Frame:
        value = self.not_a_dict()
        if self.v1:
            header = to_json(self.header("execute_request")).encode()
            part = self.rng.randrange(4)
            parts = [header, b"{}", b"{}", b"{}"]
            parts[part] = json.dumps(value).encode()
            return Frame("not an object", encode_v1("shell", parts), True)
        return Frame("not an object", json.dumps(value), True)

    def missing_part(self) -> Frame:
        msg = self.message("execute_request", {"code": "1"})
        del msg[self.rng.choice(["header", "parent_header", "metadata", "content"])]
        return Frame("missing part", self.encode(msg), True)

    def wrong_part_type(self) -> Frame:
        msg = self.message("kernel_info_request", {})
        msg[self.rng.choice(["parent_header", "metadata", "content"])] = self.not_a_dict()
        return Frame("part of a wrong type", self.encode(msg), True)

    def bad_header(self) -> Frame:
        msg = self.message("execute_request", {"code": "1"})
        field = self.rng.choice(["msg_id", "msg_type"])
        if self.rng.random() < 0.5:
            del msg["header"][field]
        else:
            msg["header"][field] = self.rng.choice([None, 5, [], {}, ""])
        return Frame("bad header", self.encode(msg), True)

    def bad_channel(self) -> Frame:
        channel = self.rng.choice(["iopub", "hb", self.word(), "", 5, ["shell"]])
        if self.v1 and not isinstance(channel, str):
            channel = self.word()
        msg = self.message("kernel_info_request", {}, channel=channel)
        return Frame("bad channel", self.encode(msg), True)

    def too_deep(self) -> Frame:
        depth = self.rng.randint(2000, 8000)
        msg = self.message("execute_request", self.nested(depth))
        return Frame("nested too deeply", self.encode(msg), True)

    def binary_junk(self) -> Frame:
        choice = self.rng.randrange(3)
        if choice == 0:
            data = self.rng.randbytes(self.rng.randint(0, 200))
        elif choice == 1:
            # counts that would make a careless reader allocate a huge list
            size = 4 if not self.v1 else 8
            order = "big" if not self.v1 else "little"
            count = self.rng.choice([2**30, 2**31 - 1, 10**6])
            data = count.to_bytes(size, order) + self.rng.randbytes(32)
        else:
            data = encode_v1("shell", [self.rng.randbytes(10) for _ in range(4)])
        if self.v1 and self.rng.random() < 0.2:
            return Frame("text on a binary socket", "not binary", True)
        return Frame("binary junk", data, True)

    def unknown_type(self) -> Frame:
        msg_type = self.word() + self.rng.choice(["_request", "", "_reply"])
        content = {self.word(4): self.junk() for _ in range(self.rng.randint(0, 4))}
        channel = self.rng.choice(["shell", "shell", "control"])
        return Frame("unknown type", self.encode(self.message(msg_type, content, channel)), False)

    def bad_standard(self) -> Frame:
        msg_type = self.rng.choice(sorted(BAD_STANDARD))
        fields = BAD_STANDARD[msg_type]
        content: dict[str, Any] = {}
        for name in fields:
            if self.rng.random() < 0.7:
                content[name] = self.junk()
        if msg_type == "execute_request" and isinstance(content.get("code"), str):
            # code that runs (and fails) but never waits for input or for ever
            content["code"] = content["code"].replace("input", "x").replace("while", "x")
            content["allow_stdin"] = False
        channel = (
            "control" if msg_type == "kernel_info_request" and self.rng.random() < 0.3 else "shell"
        )
        return Frame(
            f"bad {msg_type}", self.encode(self.message(msg_type, content, channel)), False
        )

    def nested_ok(self) -> Frame:
        depth = self.rng.randint(10, 300)
        msg_type = self.rng.choice(["kernel_info_request", self.word() + "_request"])
        msg = self.message(msg_type, self.nested(depth))
        return Frame("nested", self.encode(msg), False)

    def huge(self) -> Frame:
        size = self.rng.randint(200_000, 2_000_000)
        if self.rng.random() < 0.5:
            msg = self.message("execute_request", {"code": "#" * size, "silent": True})
        else:
            msg = self.message(self.word() + "_request", {"blob": "x" * size})
        return Frame("huge", self.encode(msg), False)

    def odd_header(self) -> Frame:
        msg = self.message("kernel_info_request", {})
        header = msg["header"]
        choice = self.rng.randrange(4)
        if choice == 0:
            header["msg_id"] = "x" * 10_000
        elif choice == 1:
            header["session"] = self.junk()
        elif choice == 2:
            header["version"] = self.junk()
        else:
            header[self.word()] = self.junk()
        msg["parent_header"] = {self.word(): self.junk()}
        return Frame("odd header", self.encode(msg), False)
