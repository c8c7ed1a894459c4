"""Bad websocket frames get a ``status: error`` answer; the socket stays open and usable."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from ..service_client import V1_PROTOCOL, KernelSocket, encode_v1
from .conftest import Service

DEEP = 5000  # deeper than Python's JSON parser goes


def message(ws: KernelSocket, msg_type: str, msg_id: str, **parts: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "header": ws.header(msg_type, msg_id),
        "parent_header": {},
        "metadata": {},
        "content": {},
        "channel": "shell",
    }
    msg.update(parts)
    return msg


def without(msg: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != key}


def legacy_frames(ws: KernelSocket) -> list[tuple[str, str | bytes, str | None, str]]:
    """(case, frame, msg_id the answer is parented to, answer type)."""
    execute = message(ws, "execute_request", "e0", content={"code": "1"})
    deep = "[" * DEEP + "]" * DEEP
    return [
        ("not JSON", "not json", None, "error"),
        ("truncated JSON", json.dumps(execute)[:40], None, "error"),
        ("a list", "[1, 2]", None, "error"),
        ("a string", '"text"', None, "error"),
        ("null", "null", None, "error"),
        ("empty object", "{}", None, "error"),
        ("header not an object", json.dumps({**execute, "header": 5}), None, "error"),
        (
            "header without msg_type",
            json.dumps({**execute, "header": {"msg_id": "h1"}}),
            "h1",
            "error",
        ),
        (
            "msg_type not a string",
            json.dumps({**execute, "header": {"msg_id": "h2", "msg_type": ["x"]}}),
            "h2",
            "error",
        ),
        (
            "no content",
            json.dumps(without(message(ws, "execute_request", "m1"), "content")),
            "m1",
            "execute_reply",
        ),
        (
            "no parent_header",
            json.dumps(without(message(ws, "kernel_info_request", "m2"), "parent_header")),
            "m2",
            "kernel_info_reply",
        ),
        (
            "content a list",
            json.dumps(message(ws, "execute_request", "m3", content=[1])),
            "m3",
            "execute_reply",
        ),
        (
            "metadata a string",
            json.dumps(message(ws, "complete_request", "m4", metadata="x")),
            "m4",
            "complete_reply",
        ),
        ("deeply nested message", deep, None, "error"),
        (
            "deeply nested content",
            '{"header": {"msg_id": "n1", "msg_type": "execute_request"}, "content": ' + deep + "}",
            None,
            "error",
        ),
        (
            "unknown channel",
            json.dumps(message(ws, "execute_request", "c1", channel="nochan")),
            "c1",
            "execute_reply",
        ),
        (
            "iopub channel",
            json.dumps(message(ws, "execute_request", "c2", channel="iopub")),
            "c2",
            "execute_reply",
        ),
        (
            "channel not a string",
            json.dumps(message(ws, "execute_request", "c3", channel=["shell"])),
            "c3",
            "execute_reply",
        ),
        ("random bytes", os.urandom(64), None, "error"),
        # a count that would make Jupyter Server's reader build a struct format of 2**30
        # fields (the server would stall)
        ("huge buffer count", (2**30).to_bytes(4, "big") + b"x" * 16, None, "error"),
    ]


def v1_frames(ws: KernelSocket) -> list[tuple[str, str | bytes, str | None, str]]:
    def parts(msg_id: str, content: bytes = b"{}") -> list[bytes]:
        header = json.dumps(ws.header("execute_request", msg_id)).encode()
        return [header, b"{}", b"{}", content]

    deep = ("[" * DEEP + "]" * DEEP).encode()
    return [
        ("text frame", json.dumps(message(ws, "execute_request", "t1")), None, "error"),
        ("random bytes", os.urandom(64), None, "error"),
        # a count that would make Jupyter Server's reader build a list of 2**40 offsets
        ("huge offset count", (2**40).to_bytes(8, "little") + b"x" * 16, None, "error"),
        ("offsets past the end", (9).to_bytes(8, "little") + b"\xff" * 80, None, "error"),
        ("two parts", encode_v1("shell", [b"{}", b"{}"]), None, "error"),
        ("header not JSON", encode_v1("shell", [b"{", b"{}", b"{}", b"{}"]), None, "error"),
        ("content not JSON", encode_v1("shell", parts("v1", b"{")), "v1", "execute_reply"),
        ("content a list", encode_v1("shell", parts("v2", b"[]")), "v2", "execute_reply"),
        ("content deeply nested", encode_v1("shell", parts("v3", deep)), "v3", "execute_reply"),
        ("unknown channel", encode_v1("nochan", parts("v4")), "v4", "execute_reply"),
    ]


@pytest.mark.parametrize("protocol", ["", V1_PROTOCOL], ids=["json", "v1"])
def test_bad_frames_get_an_error_and_the_socket_stays_open(service: Service, protocol: str) -> None:
    beaker_id = service.start_beaker()
    service.wait_for_kernels(lambda ks: len(ks) == 2)
    ws = service.connect(beaker_id, protocol=protocol)
    try:
        reply, stdout = ws.execute("print('before')")
        assert stdout == "before\n"
        frames = v1_frames(ws) if protocol else legacy_frames(ws)
        for case, frame, parent_id, answer_type in frames:
            ws.send_raw(frame)
            answer = ws.wait_for(
                lambda m, t=answer_type, p=parent_id: (
                    m["msg_type"] == t
                    and m["content"].get("status") == "error"
                    and m["parent_header"].get("msg_id") == p
                ),
                timeout=10,
            )
            assert answer["channel"] == "shell", case
            content = answer["content"]
            assert content["ename"] == "InvalidFrame", case
            assert len(content["evalue"]) > 20, case
            assert content["traceback"], case
        # the same socket still works, replies and output included
        reply, stdout = ws.execute("print('after')")
        assert reply["content"]["status"] == "ok"
        assert stdout == "after\n"
        assert ws.ws.connected
    finally:
        ws.close()
    log = service.log_path.read_text()
    assert "Uncaught exception" not in log
    assert "Traceback" not in log
    assert service.token not in log


def test_evalues_say_what_is_wrong(service: Service) -> None:
    kernel_id = service.http("POST", "/api/kernels", {"name": "python3"}).json()["id"]
    ws = service.connect(kernel_id)
    try:
        cases = {
            "not json": "not valid JSON",
            "[1]": "must be a JSON object",
            json.dumps(without(message(ws, "execute_request", "x"), "content")): "content",
            "[" * DEEP + "]" * DEEP: "nested too deeply",
            json.dumps(message(ws, "execute_request", "y", channel="nochan")): "shell, control",
        }
        for frame, words in cases.items():
            ws.send_raw(frame)
            answer = ws.wait_for(lambda m: m["content"].get("ename") == "InvalidFrame")
            assert words in answer["content"]["evalue"], (frame[:40], answer["content"])
        _, stdout = ws.execute("print(1 + 1)")
        assert stdout == "2\n"
    finally:
        ws.close()
        service.http("DELETE", f"/api/kernels/{kernel_id}")
