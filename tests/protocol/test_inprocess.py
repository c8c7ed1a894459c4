"""What Beaker does to the bytes it forwards, in process (fake sockets, real sessions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..kernel.inprocess import Harness, build


@pytest.fixture(params=["own key", "shared key"])
def kernel(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """The subkernel signs with a key of its own, or with the front end's (see build)."""
    return build(tmp_path, shared_key=request.param == "shared key")


def unsigned(raw: list[bytes]) -> list[bytes]:
    """The frames without the signature (the only part Beaker changes: it re-signs)."""
    at = raw.index(b"<IDS|MSG>")
    return [*raw[: at + 1], *raw[at + 2 :]]


async def test_a_cell_without_notebook_item_is_forwarded_byte_identical(kernel: Harness) -> None:
    msg = kernel.message(
        "execute_request",
        {"code": "print(1)", "silent": False, "store_history": True},
        metadata={"cellId": "c1"},
    )
    await kernel.send("shell", msg)
    (raw,) = kernel.link.shell.sent
    assert unsigned(raw) == unsigned(kernel.client.serialize(msg, ident=[b"client-1"]))
    # its execute_input comes back unchanged too
    item = kernel.from_subkernel(
        "execute_input", {"code": "print(1)", "execution_count": 1}, msg["header"]
    )
    await kernel.app.relay.on_iopub(kernel.link, item)  # type: ignore[arg-type]
    (sent,) = kernel.of_type("execute_input")
    assert sent["metadata"] == {}
    assert not kernel.app.relay.notebook_items.active


async def test_notebook_item_goes_onto_the_execute_input_alone(kernel: Harness) -> None:
    msg = kernel.message(
        "execute_request", {"code": "x = 1"}, metadata={"notebook_item": {"id": "q1"}}
    )
    await kernel.send("shell", msg)
    (raw,) = kernel.link.shell.sent
    # the request itself is forwarded as it came
    assert unsigned(raw) == unsigned(kernel.client.serialize(msg, ident=[b"client-1"]))
    for msg_type, content in (
        ("status", {"execution_state": "busy"}),
        ("execute_input", {"code": "x = 1", "execution_count": 1}),
        ("stream", {"name": "stdout", "text": ""}),
        ("status", {"execution_state": "idle"}),
    ):
        frames = kernel.from_subkernel(msg_type, content, msg["header"])
        await kernel.app.relay.on_iopub(kernel.link, frames)  # type: ignore[arg-type]
    metadata = {s.msg["msg_type"]: s.msg["metadata"] for s in kernel.sent}
    assert metadata["execute_input"] == {"notebook_item": {"id": "q1"}}
    assert metadata["stream"] == metadata["status"] == {}


async def test_a_malformed_cell_is_answered_and_not_forwarded(kernel: Harness) -> None:
    msg = kernel.message("execute_request", {"code": None, "silent": False})
    await kernel.send("shell", msg)
    assert kernel.link.shell.sent == []
    assert not kernel.app.pending
    assert kernel.types() == ["status", "error", "execute_reply", "status"]
    (reply,) = kernel.of_type("execute_reply")
    assert reply["idents"] == [b"client-1"]
    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    assert reply["content"] == {
        "status": "error",
        "ename": "MessageError",
        "evalue": "execute_request: 'code' must be a string, not null",
        "traceback": ["MessageError: execute_request: 'code' must be a string, not null"],
        "execution_count": None,
    }
