"""Bad input never kills the kernel, and unknown requests get a reply."""

from __future__ import annotations

import time
from typing import Any

import zmq

from ..client import BeakerClient


def test_unknown_request_gets_an_error_reply(shared_beaker: BeakerClient) -> None:
    exchange = shared_beaker.request("frobnicate_request", {"x": 1})
    assert exchange.reply["msg_type"] == "frobnicate_reply"
    assert exchange.content["status"] == "error"
    assert "Unknown message type 'frobnicate_request'" in exchange.content["evalue"]
    assert "context_setup_request" in exchange.content["evalue"]


def test_comm_info_is_answered_by_the_subkernel(shared_beaker: BeakerClient) -> None:
    exchange = shared_beaker.request("comm_info_request", {})
    assert exchange.reply["msg_type"] == "comm_info_reply"
    assert exchange.content == {"status": "ok", "comms": {}}


def test_kernel_info_comes_from_the_subkernel(shared_beaker: BeakerClient) -> None:
    exchange = shared_beaker.request("kernel_info_request")
    assert exchange.content["implementation"] == "ipython"
    assert exchange.content["language_info"]["name"] == "python"


def _shell_replies(client: BeakerClient, count: int) -> list[dict[str, Any]]:
    return [client.get_shell_msg(timeout=30) for _ in range(count)]


def _iopub_until_idle(client: BeakerClient, msg_ids: set[str]) -> list[tuple[str, str, str]]:
    """(parent msg_id, msg_type, execution_state) of iopub messages until each of
    ``msg_ids`` had its idle status."""
    return [
        (m["parent_header"]["msg_id"], m["msg_type"], m["content"].get("execution_state", ""))
        for m in client.iopub_until_each_idle(msg_ids, time.monotonic() + 30)
    ]


def test_kernel_info_keeps_its_place_among_shell_replies(shared_beaker: BeakerClient) -> None:
    """kernel_info and a Beaker request sent back to back are answered in that order.

    A front end connecting sends kernel_info, then beaker-ts asks for the context info and,
    while handling the answer, waits for the kernel info: an answer overtaking it stalls
    the page for good.
    """
    client = shared_beaker
    client.drain_iopub()
    info = client.session.msg("kernel_info_request", {})
    context = client.session.msg("context_info_request", {})
    client.shell_channel.send(info)
    client.shell_channel.send(context)
    info_id, context_id = info["header"]["msg_id"], context["header"]["msg_id"]
    replies = _shell_replies(client, 2)
    assert [(r["msg_type"], r["parent_header"]["msg_id"]) for r in replies] == [
        ("kernel_info_reply", info_id),
        ("context_info_reply", context_id),
    ]
    assert replies[0]["content"]["implementation"] == "ipython"
    assert replies[0]["content"]["language_info"]["name"] == "python"
    iopub = _iopub_until_idle(client, {info_id, context_id})
    # Everything about kernel_info is published before anything about the next request.
    assert iopub[:2] == [
        (info_id, "status", "busy"),
        (info_id, "status", "idle"),
    ], iopub
    assert (context_id, "context_info_response", "") in iopub[2:], iopub


def test_kernel_info_during_a_cell_is_answered_after_it(shared_beaker: BeakerClient) -> None:
    """While a cell runs, kernel_info goes to the subkernel: no idle before the cell's."""
    client = shared_beaker
    client.drain_iopub()
    cell = client.session.msg(
        "execute_request",
        {"code": "import time; time.sleep(1.5)", "silent": False, "store_history": False},
    )
    info = client.session.msg("kernel_info_request", {})
    client.shell_channel.send(cell)
    client.shell_channel.send(info)
    cell_id, info_id = cell["header"]["msg_id"], info["header"]["msg_id"]
    replies = _shell_replies(client, 2)
    assert [r["parent_header"]["msg_id"] for r in replies] == [cell_id, info_id]
    assert replies[1]["content"]["language_info"]["name"] == "python"
    states = [
        (parent, state)
        for parent, msg_type, state in _iopub_until_idle(client, {cell_id, info_id})
        if msg_type == "status"
    ]
    assert states.index((cell_id, "idle")) < states.index((info_id, "idle")), states


def _raw_socket(client: BeakerClient) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"tcp://{client.ip}:{client.shell_port}")
    return sock


def test_malformed_messages_do_not_kill_the_kernel(shared_beaker: BeakerClient) -> None:
    session = shared_beaker.session
    sock = _raw_socket(shared_beaker)
    try:
        # no delimiter at all
        sock.send_multipart([b"garbage"])
        # a delimiter but too few frames
        sock.send_multipart([b"<IDS|MSG>", b"sig"])
        # a wrong signature
        msg = session.msg("context_setup_request", {"context": "default"})
        frames = session.serialize(msg)
        frames[1] = b"0" * 64
        sock.send_multipart(frames)
        # a correct signature over content that is not JSON
        header = session.pack(session.msg_header("context_setup_request"))
        parts = [header, b"{}", b"{}", b"{not json"]
        sock.send_multipart([b"<IDS|MSG>", session.sign(parts), *parts])
        # a custom message whose content is a list, not an object
        header = session.pack(session.msg_header("context_setup_request"))
        parts = [header, b"{}", b"{}", b"[1, 2]"]
        sock.send_multipart([b"<IDS|MSG>", session.sign(parts), *parts])
        replies = []
        for _ in range(2):
            assert sock.poll(5000), "no reply to a malformed context_setup_request"
            replies.append(session.deserialize(_strip(sock)))
        assert [r["msg_type"] for r in replies] == ["context_setup_reply"] * 2
        assert all(r["content"]["status"] == "error" for r in replies)
        assert "not valid JSON" in replies[0]["content"]["evalue"]
        assert "must be a JSON object" in replies[1]["content"]["evalue"]
    finally:
        sock.close()
    exchange = shared_beaker.run("print('alive')")
    assert exchange.stdout() == "alive\n"


def _strip(sock: zmq.Socket) -> list[bytes]:
    frames = sock.recv_multipart()
    return frames[frames.index(b"<IDS|MSG>") + 1 :]


def test_context_setup_with_bad_fields_is_an_error(shared_beaker: BeakerClient) -> None:
    exchange = shared_beaker.request("context_setup_request", {"language": "python3"})
    assert exchange.content["status"] == "error"
    assert "needs 'context'" in exchange.content["evalue"]
    exchange = shared_beaker.request(
        "context_setup_request", {"context": "default", "language": "cobol"}
    )
    assert exchange.content["status"] == "error"
    assert "Unknown language 'cobol'" in exchange.content["evalue"]
    assert shared_beaker.run("print(3)").stdout() == "3\n"


def test_history_range_is_relayed(shared_beaker: BeakerClient) -> None:
    shared_beaker.run("first_cell = 1")
    shared_beaker.run("second_cell = 2")
    exchange = shared_beaker.request(
        "history_request",
        {"hist_access_type": "tail", "n": 2, "output": False, "raw": True},
    )
    tail = exchange.content["history"]
    assert [entry[2] for entry in tail] == ["first_cell = 1", "second_cell = 2"]
    start = tail[0][1]
    ranged = shared_beaker.request(
        "history_request",
        {
            "hist_access_type": "range",
            "session": 0,
            "start": start,
            "stop": start + 2,
            "output": False,
            "raw": True,
        },
    ).content["history"]
    assert [entry[1:] for entry in ranged] == [
        [start, "first_cell = 1"],
        [start + 1, "second_cell = 2"],
    ]
    # Named by its number (as a tail reply gives it), the current session keeps that
    # number in the answer; IPython itself would call it 0.
    session = tail[0][0]
    assert session > 0
    named = shared_beaker.request(
        "history_request",
        {
            "hist_access_type": "range",
            "session": session,
            "start": start,
            "stop": start + 1,
            "output": False,
            "raw": True,
        },
    ).content["history"]
    assert named == [[session, start, "first_cell = 1"]]
