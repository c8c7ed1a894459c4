"""Routing, handler registration and interception, in process (no kernels, no sockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from beaker_kernel.errors import HandlerConflictError, MessageError
from beaker_kernel.interface import DROP, Direction, Message
from beaker_kernel.kernel.handlers import KERNEL, HandlerTable
from beaker_kernel.wire import InvalidSignature, Request

from .inprocess import Harness, build


@pytest.fixture(params=["own key", "shared key"])
def kernel(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """The subkernel signs with a key of its own, or with the front end's (see build)."""
    return build(tmp_path, shared_key=request.param == "shared key")


# ---------------------------------------------------------------- the handler table


async def _noop(request: Request) -> None:
    return None


def test_handler_table_refuses_to_shadow_and_removes_by_owner() -> None:
    table = HandlerTable()
    table.register(KERNEL, "context_setup_request", _noop)
    with pytest.raises(HandlerConflictError, match="Beaker itself answers it"):
        table.register("context:x", "context_setup_request", _noop)
    table.register("context:x", "describe_request", _noop)
    with pytest.raises(HandlerConflictError, match="'context:x' answers it"):
        table.register("context:y", "describe_request", _noop)
    # all or nothing
    with pytest.raises(HandlerConflictError):
        table.register_many("context:y", {"ok_request": _noop, "describe_request": _noop})
    assert table.get("shell", "ok_request") is None
    hooks: list[str] = []
    table.add_interrupt_hook("context:x", lambda: hooks.append("x"))
    table.run_interrupt_hooks()
    table.unregister("context:x")
    table.run_interrupt_hooks()
    assert hooks == ["x"]
    assert table.known() == ["context_setup_request"]
    assert table.get("shell", "context_setup_request") is _noop
    with pytest.raises(ValueError, match="cannot be removed"):
        table.unregister(KERNEL)


def test_a_failing_interrupt_hook_does_not_stop_the_others() -> None:
    table = HandlerTable()
    calls: list[int] = []

    def broken() -> None:
        raise RuntimeError("boom")

    table.add_interrupt_hook("a", broken)
    table.add_interrupt_hook("b", lambda: calls.append(1))
    table.run_interrupt_hooks()
    assert calls == [1]


def test_built_in_handlers_are_registered(kernel: Harness) -> None:
    known = kernel.app.handlers.known("shell")
    assert {"context_setup_request", "context_info_request", "llm_request"} <= set(known)
    assert kernel.app.handlers.known("control") == ["interrupt_request", "shutdown_request"]


# ---------------------------------------------------------------- dispatch


async def test_a_handler_answers_inside_busy_and_idle(kernel: Harness) -> None:
    async def echo(request: Request) -> None:
        await kernel.app.services.reply(request, {"status": "ok", "return": request.content})

    kernel.app.handlers.register("test", "echo_request", echo)
    msg = kernel.message("echo_request", {"x": 1})
    await kernel.send("shell", msg)
    assert kernel.types() == ["status", "echo_reply", "status"]
    busy, reply, idle = (s.msg for s in kernel.sent)
    assert busy["content"]["execution_state"] == "busy"
    assert idle["content"]["execution_state"] == "idle"
    assert reply["content"] == {"status": "ok", "return": {"x": 1}}
    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    assert reply["idents"] == [b"client-1"]  # routed back to its sender
    assert kernel.link.shell.sent == []


async def test_a_failing_handler_becomes_an_error_reply(kernel: Harness) -> None:
    async def broken(request: Request) -> None:
        raise MessageError("needs 'x'")

    kernel.app.handlers.register("test", "broken_request", broken)
    await kernel.send("shell", kernel.message("broken_request"))
    (reply,) = kernel.of_type("broken_reply")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "MessageError"
    assert reply["content"]["evalue"] == "needs 'x'"
    assert kernel.types()[-1] == "status"


async def test_an_unknown_request_gets_an_error_naming_the_known_ones(kernel: Harness) -> None:
    await kernel.send("shell", kernel.message("frobnicate_request"))
    (reply,) = kernel.of_type("frobnicate_reply")
    assert reply["content"]["status"] == "error"
    assert "Unknown message type 'frobnicate_request'" in reply["content"]["evalue"]
    assert "context_setup_request" in reply["content"]["evalue"]
    assert kernel.link.shell.sent == []


async def test_a_standard_request_is_forwarded_unchanged(kernel: Harness) -> None:
    msg = kernel.message("execute_request", {"code": "1 + 1"}, metadata={"cell": "c1"})
    await kernel.send("shell", msg)
    assert kernel.sent == []
    (received,) = kernel.link.received("shell")  # verified with the subkernel's key
    assert received["idents"] == [b"client-1"]
    assert received["header"]["msg_id"] == msg["header"]["msg_id"]
    raw = kernel.link.shell.sent[0]
    sent = kernel.client.serialize(msg, ident=[b"client-1"])
    assert raw[:2] == sent[:2]
    assert raw[3:] == sent[3:], "only the signature changes"
    assert received["content"] == {"code": "1 + 1"}
    assert received["metadata"] == {"cell": "c1"}


async def test_a_message_with_a_bad_signature_is_dropped(tmp_path: Path) -> None:
    # (with a key shared with the subkernel, it is sent on first: test_sent_before_read.py)
    kernel = build(tmp_path)
    raw = kernel.client.serialize(kernel.message("execute_request", {"code": "1"}), ident=[b"c"])
    raw[raw.index(b"<IDS|MSG>") + 1] = b"0" * 64
    with pytest.raises(InvalidSignature):
        await kernel.app.router.dispatch("shell", raw)
    assert kernel.link.shell.sent == []


async def test_replies_route_back_and_a_later_reply_retires_dropped_requests(
    kernel: Harness,
) -> None:
    dropped = kernel.message("execute_request", {"code": "the subkernel never answers this"})
    answered = kernel.message("execute_request", {"code": "1"})
    await kernel.send("shell", dropped)
    await kernel.send("shell", answered, ident=b"client-2")
    assert len(kernel.app.pending) == 2
    raw = kernel.from_subkernel(
        "execute_reply", {"status": "ok", "execution_count": 1}, answered["header"], [b"client-2"]
    )
    await kernel.app.relay.on_reply(kernel.link, "shell", raw)  # type: ignore[arg-type]
    (reply,) = kernel.of_type("execute_reply")
    assert reply["idents"] == [b"client-2"]
    assert reply["parent_header"]["msg_id"] == answered["header"]["msg_id"]
    # the subkernel handles one request at a time: the one it never answered is gone
    assert len(kernel.app.pending) == 0


# ---------------------------------------------------------------- interception


async def test_an_interceptor_rewrites_a_request_on_its_way_to_the_subkernel(
    kernel: Harness,
) -> None:
    async def shout(message: Message) -> Message:
        message.content["code"] = message.content["code"].upper()
        return message

    kernel.app.services.intercept("test", "shell", Direction.TO_SUBKERNEL, "execute_request", shout)
    await kernel.send("shell", kernel.message("execute_request", {"code": "print('hi')"}))
    (received,) = kernel.link.received("shell")
    assert received["content"]["code"] == "PRINT('HI')"
    # other types are not even decoded
    await kernel.send("shell", kernel.message("complete_request", {"code": "pr", "cursor_pos": 2}))
    assert kernel.link.received("shell")[1]["content"]["code"] == "pr"


async def test_an_interceptor_answers_a_request_itself(kernel: Harness) -> None:
    async def answer(message: Message) -> object:
        kernel.app.services.publish(
            "stream", {"name": "stdout", "text": "answered by Beaker"}, message.header
        )
        return DROP

    kernel.app.services.intercept(
        "test", "shell", Direction.TO_SUBKERNEL, "execute_request", answer
    )
    await kernel.send("shell", kernel.message("execute_request", {"code": "x"}))
    assert kernel.link.shell.sent == []
    assert kernel.of_type("stream")[0]["content"]["text"] == "answered by Beaker"


async def test_a_broken_interceptor_lets_the_message_through(kernel: Harness) -> None:
    async def broken(message: Message) -> Message:
        raise RuntimeError("bug in a context")

    kernel.app.services.intercept(
        "test", "shell", Direction.TO_SUBKERNEL, "execute_request", broken
    )
    await kernel.send("shell", kernel.message("execute_request", {"code": "1"}))
    assert kernel.link.received("shell")[0]["content"] == {"code": "1"}


async def test_an_interceptor_rewrites_output_on_its_way_to_the_front_end(
    kernel: Harness,
) -> None:
    async def tag(message: Message) -> Message:
        message.metadata["tagged"] = True
        message.content["code"] = "# shown\n" + message.content["code"]
        return message

    kernel.app.services.intercept("test", "iopub", Direction.TO_FRONTEND, "execute_input", tag)
    parent = kernel.message("execute_request", {"code": "1"})["header"]
    for msg_type, content in (
        ("execute_input", {"code": "1", "execution_count": 1}),
        ("stream", {"name": "stdout", "text": "1\n"}),
    ):
        raw = kernel.from_subkernel(msg_type, content, parent)
        await kernel.app.relay.on_iopub(kernel.link, raw)  # type: ignore[arg-type]
    execute_input, stream = (s.msg for s in kernel.sent)
    assert execute_input["content"]["code"] == "# shown\n1"
    assert execute_input["metadata"] == {"tagged": True}
    assert stream["content"]["text"] == "1\n"
    kernel.app.interceptors.remove("test")
    assert kernel.app.interceptors.types("iopub", Direction.TO_FRONTEND) == frozenset()


async def test_a_request_waiting_for_the_start_is_answered_after_it_and_logged(
    kernel: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def echo(request: Request) -> None:
        await kernel.app.services.reply(request, {"status": "ok"})

    kernel.app.handlers.register("test", "echo_request", echo)
    started = asyncio.Event()
    kernel.app.router.started = started
    kernel.app.router.start_wait_warning = 0.05
    waiting = asyncio.ensure_future(kernel.send("shell", kernel.message("echo_request")))
    await asyncio.sleep(0.12)
    assert kernel.sent == []  # held back until the kernel has started
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[:2] == [
        "echo_request has waited 0.05 s for the kernel's start (its subkernel and default "
        "context); the shell channel waits with it",
        "echo_request has waited 0.1 s for the kernel's start (its subkernel and default "
        "context); the shell channel waits with it",
    ]
    started.set()
    await asyncio.wait_for(waiting, 5)
    assert kernel.types() == ["status", "echo_reply", "status"]
