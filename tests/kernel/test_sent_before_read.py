"""Standard shell requests, and their replies, sent on before Beaker reads them (router.py,
``Router._pass_now``; relay.py, ``Relay._pass_reply_now``), when the subkernel signs with
the front end's key; in process (fake sockets, real sessions) and against a real kernel.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from jupyter_client.session import Session

from beaker_kernel.wire import DELIM, peek_msg_type

from ..client import running_beaker
from .inprocess import Harness, build

SENT_FIRST = "sent on before it was read"
NO_CONTEXT = {"BEAKER_DEFAULT_CONTEXT": "none", "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3"}


def header_frame(session: Session, msg_type: str) -> bytes:
    raw = session.serialize(session.msg(msg_type, {}))
    return raw[raw.index(DELIM) + 2]


@pytest.mark.parametrize("packer", ["json", "orjson"])
def test_the_type_is_read_from_a_header_as_jupyter_client_writes_it(packer: str) -> None:
    session = Session(key=b"k", packer=packer)
    for msg_type in ("execute_request", "comm_msg", "context_setup_request"):
        assert peek_msg_type(header_frame(session, msg_type)) == msg_type
    assert peek_msg_type(b'{"msg_id": "1",\n  "msg_type" :\t"comm_msg"}') == "comm_msg"


@pytest.mark.parametrize(
    "header",
    [
        b'{"msg_type": "execute_request", "msg_type": "context_setup_request"}',
        b'{"msg_type": "context_setup_request", "x": {"msg_type": "execute_request"}}',
        b'{"msg_type": "execute\\u005frequest"}',  # an escape
        b'{"msg_type": "ex\xc3\xa9cute"}',
        b'{"msg_type": "execute_request',  # cut short
        b'{"msg_id": "1"}',
    ],
)
def test_a_header_the_type_cannot_be_read_from_for_certain_is_left_to_the_decoder(
    header: bytes,
) -> None:
    assert peek_msg_type(header) is None


@pytest.fixture
def shared(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Harness:
    caplog.set_level(logging.DEBUG, logger="beaker_kernel")
    return build(tmp_path, shared_key=True)


def sent_first(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if SENT_FIRST in r.getMessage()]


async def test_a_cell_is_sent_as_it_came_then_read_and_its_reply_sent_as_it_came(
    shared: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    msg = shared.message("execute_request", {"code": "1 + 1"})
    raw = shared.client.serialize(msg, ident=[b"client-1"])
    assert shared.app.router.dispatch_now("shell", raw) is None
    assert shared.link.shell.sent == [raw]
    assert sent_first(caplog) == [f"execute_request {SENT_FIRST}"]
    (pending,) = list(shared.app.pending)
    assert pending.idents == [b"client-1"]
    assert pending.header["msg_id"] == msg["header"]["msg_id"]

    reply = shared.from_subkernel(
        "execute_reply", {"status": "ok", "execution_count": 7}, msg["header"], [b"client-1"]
    )
    assert shared.app.relay.reply_now(shared.link, "shell", reply) is None  # type: ignore[arg-type]
    (answer,) = shared.of_type("execute_reply")
    assert answer["idents"] == [b"client-1"]
    assert answer["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    assert answer["content"]["execution_count"] == 7
    # read after it was sent: the request is answered, the count kept
    assert len(shared.app.pending) == 0
    assert shared.app.relay.execution_count() == 7


@pytest.mark.parametrize(
    ("msg_type", "content", "metadata", "first"),
    [
        ("execute_request", {"code": "x = 1"}, {}, True),
        ("complete_request", {"code": "pri", "cursor_pos": 3}, {}, True),
        ("comm_info_request", {}, {}, True),
        ("comm_msg", {"comm_id": "c", "data": {}}, {}, True),
        # a magic, a notebook item, a malformed cell, Beaker's own answers and numbering
        ("execute_request", {"code": "%set_context default"}, {}, False),
        ("execute_request", {"code": "x = 1"}, {"notebook_item": {"id": "q"}}, False),
        ("execute_request", {"code": None}, {}, False),
        ("kernel_info_request", {}, {}, False),
        ("history_request", {"hist_access_type": "tail", "output": False, "raw": True}, {}, False),
        ("context_info_request", {}, {}, False),
    ],
)
async def test_only_requests_nothing_in_beaker_takes_part_in_are_sent_first(
    shared: Harness,
    caplog: pytest.LogCaptureFixture,
    msg_type: str,
    content: dict[str, Any],
    metadata: dict[str, Any],
    first: bool,
) -> None:
    await shared.send("shell", shared.message(msg_type, content, metadata=metadata))
    assert sent_first(caplog) == ([f"{msg_type} {SENT_FIRST}"] if first else [])


async def test_nothing_is_sent_first_to_a_subkernel_with_a_key_of_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="beaker_kernel")
    own = build(tmp_path)
    await own.send("shell", own.message("execute_request", {"code": "x = 1"}))
    assert sent_first(caplog) == []
    (received,) = own.link.received()  # signed again, with the subkernel's key
    assert received["content"] == {"code": "x = 1"}


async def test_a_forged_request_is_sent_first_but_nothing_of_it_is_kept(
    shared: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    forger = Session(key=b"not-the-key", username="forger")
    raw = forger.serialize(forger.msg("execute_request", {"code": "x = 1"}), ident=[b"c"])
    await shared.app.router.dispatch("shell", raw)
    # the subkernel checks the signature with the same key, and drops it
    assert shared.link.shell.sent == [raw]
    assert len(shared.app.pending) == 0
    assert any("invalid signature" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("switch", ["1", "0"])
def test_a_real_kernel_sends_cells_first_unless_switched_off(
    context_path: Path, tmp_path: Path, switch: str
) -> None:
    path = tmp_path / "kernel.log"
    env = {**NO_CONTEXT, "BEAKER_SEND_FIRST": switch}
    with path.open("wb") as log, running_beaker(env, log=log) as (_, client):
        cell = client.run("print(6 * 7)")
        assert cell.content["status"] == "ok", cell.content
        assert cell.stdout() == "42\n"
    logged = path.read_text(errors="replace")
    assert (f"execute_request {SENT_FIRST}" in logged) == (switch == "1"), logged[-2000:]


def test_a_real_subkernel_drops_a_forged_request_sent_first(context_path: Path) -> None:
    with running_beaker(NO_CONTEXT) as (_, client):
        assert client.run("forged = False").content["status"] == "ok"
        client.drain_iopub()
        forger = Session(key=b"not-the-key", username="forger")
        forged = forger.msg("execute_request", {"code": "forged = True\nprint('forged')"})
        forger.send(client.shell_channel.socket, forged)
        # no reply, and no output, comes for it
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                msg = client.get_iopub_msg(timeout=0.2)
            except Empty:
                continue
            assert msg["parent_header"].get("msg_id") != forged["header"]["msg_id"], msg
        with pytest.raises(Empty):
            client.get_shell_msg(timeout=0.5)
        cell = client.run("print(forged)")
        assert cell.content["status"] == "ok", cell.content
        assert cell.stdout() == "False\n"
