"""The pump that reads Beaker's ZMQ sockets on the forwarding path, on real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import zmq
import zmq.asyncio

from beaker_kernel.kernel.pump import Pump, send_frames

pytestmark = [pytest.mark.asyncio, pytest.mark.quick]


@pytest.fixture
async def pair() -> AsyncIterator[tuple[zmq.Socket[bytes], zmq.asyncio.Socket]]:
    """A plain sending socket and the asyncio socket a pump reads (as Beaker's are)."""
    context = zmq.asyncio.Context()
    receiver = context.socket(zmq.PULL)
    port = receiver.bind_to_random_port("tcp://127.0.0.1")
    plain: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sender = plain.socket(zmq.PUSH)
    sender.connect(f"tcp://127.0.0.1:{port}")
    yield sender, receiver
    plain.destroy(linger=0)
    context.destroy(linger=0)


async def until(condition: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def fail(error: BaseException) -> None:
    raise AssertionError(f"unexpected error {error!r}")


async def test_messages_keep_their_order_when_one_has_to_wait(
    pair: tuple[zmq.Socket[bytes], zmq.asyncio.Socket],
) -> None:
    sender, receiver = pair
    seen: list[bytes] = []
    release = asyncio.Event()

    async def slowly(frame: bytes) -> None:
        await release.wait()
        seen.append(frame)

    def handle(raw: list[bytes]) -> Any:
        if raw[0] == b"slow":
            return slowly(raw[0])
        seen.append(raw[0])
        return None

    pump = Pump(receiver, handle, name="test", on_error=fail)
    pump.start()
    for frame in (b"a", b"slow", b"b", b"c"):
        send_frames(sender, [frame, b"more"])
    await until(lambda: seen == [b"a"] and pump.busy is not None)
    await asyncio.sleep(0.1)
    assert seen == [b"a"]  # b and c wait behind the slow one
    release.set()
    await until(lambda: len(seen) == 4)
    assert seen == [b"a", b"slow", b"b", b"c"]
    pump.stop()


async def test_a_busy_pump_does_not_spin_on_its_readable_socket(
    pair: tuple[zmq.Socket[bytes], zmq.asyncio.Socket],
) -> None:
    sender, receiver = pair
    release = asyncio.Event()
    handled: list[bytes] = []

    def handle(raw: list[bytes]) -> Any:
        handled.append(raw[0])
        return release.wait() if raw[0] == b"first" else None

    pump = Pump(receiver, handle, name="test", on_error=fail)
    wakeups = 0
    readable = pump._readable

    def counting() -> None:
        nonlocal wakeups
        wakeups += 1
        readable()

    pump._readable = counting  # type: ignore[method-assign]
    pump.start()
    send_frames(sender, [b"first"])
    await until(lambda: pump.busy is not None)
    before = wakeups
    # A second peer connecting and sending signals the socket's descriptor (new pipe),
    # which stays readable until the socket is read again.
    other: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUSH)
    other.connect(receiver.getsockopt_string(zmq.LAST_ENDPOINT))
    for i in range(20):
        send_frames(other, [b"queued %d" % i])
    await asyncio.sleep(0.3)
    # The socket stays readable while the first message is being finished: a pump that
    # kept watching it would be woken on every turn of the loop.
    assert wakeups - before <= 2
    assert handled == [b"first"]
    release.set()
    await until(lambda: len(handled) == 21)
    assert handled[1:] == [b"queued %d" % i for i in range(20)]
    pump.stop()
    other.close(linger=0)


async def test_a_failing_message_is_reported_and_the_next_one_is_handled(
    pair: tuple[zmq.Socket[bytes], zmq.asyncio.Socket],
) -> None:
    sender, receiver = pair
    errors: list[BaseException] = []
    handled: list[bytes] = []

    async def broken() -> None:
        raise RuntimeError("async failure")

    def handle(raw: list[bytes]) -> Any:
        if raw[0] == b"bad":
            raise ValueError("sync failure")
        if raw[0] == b"bad later":
            return broken()
        handled.append(raw[0])
        return None

    pump = Pump(receiver, handle, name="test", on_error=errors.append)
    pump.start()
    for frame in (b"bad", b"one", b"bad later", b"two"):
        send_frames(sender, [frame])
    await until(lambda: len(handled) == 2)
    assert handled == [b"one", b"two"]
    assert [str(e) for e in errors] == ["sync failure", "async failure"]
    pump.stop()


async def test_kick_finds_a_message_whose_signal_another_operation_used_up() -> None:
    """ZMQ signals a socket's descriptor once per batch of events, and any operation on
    the socket (a send, a poll) consumes the signal; whoever operates on a pumped socket
    kicks the pump, which then finds the message all the same."""
    context = zmq.asyncio.Context()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    plain: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    dealer = plain.socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        got: list[list[bytes]] = []
        pump = Pump(router, lambda raw: got.append(raw), name="test", on_error=fail)
        pump.start()
        await asyncio.sleep(0.1)
        same: zmq.Socket[bytes] = zmq.Socket.shadow(router.underlying)
        # Without the loop running: the message arrives, then another operation on the
        # socket uses up its signal.
        dealer.send(b"hello")
        time.sleep(0.2)  # noqa: ASYNC251 (the loop must not run meanwhile)
        assert int(same.getsockopt(zmq.EVENTS)) & zmq.POLLIN
        pump.kick()
        await until(lambda: len(got) == 1, timeout=2)
        assert got[0][1:] == [b"hello"]
        pump.stop()
    finally:
        plain.destroy(linger=0)
        context.destroy(linger=0)
