"""The service's kernel manager: listing a kernel as it starts, deleting one as it restarts."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import psutil
import zmq
from jupyter_client.session import Session
from zmq.eventloop.zmqstream import ZMQStream

from beaker_kernel.service.kernels import BeakerMappingKernelManager


async def test_delete_during_a_restart_deletes_the_kernel(tmp_path: Path) -> None:
    manager = BeakerMappingKernelManager(root_dir=str(tmp_path), connection_dir=str(tmp_path))
    kernel_id = await manager.start_kernel(kernel_name="python3")
    km = manager.get_kernel(kernel_id)
    await km.ready
    first_pid = km.provisioner.process.pid
    restart = asyncio.ensure_future(manager.restart_kernel(kernel_id))
    try:
        # wait for the window jupyter_client mishandles: the new process is starting
        async with asyncio.timeout(30):
            while km.ready.done() or restart.done():  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.005)
        await manager.shutdown_kernel(kernel_id)
        assert kernel_id not in manager
        assert manager.list_kernel_ids() == []
    finally:
        await asyncio.gather(restart, return_exceptions=True)
        if kernel_id in manager:
            await manager.shutdown_kernel(kernel_id, now=True)
    assert not psutil.pid_exists(first_pid)
    process = km.provisioner.process if km.provisioner is not None else None
    assert process is None or process.poll() is not None


async def test_a_kernel_just_started_is_listed_as_starting(tmp_path: Path) -> None:
    manager = BeakerMappingKernelManager(root_dir=str(tmp_path), connection_dir=str(tmp_path))
    kernel_id = str(uuid.uuid4())
    start = asyncio.ensure_future(manager.start_kernel(kernel_id=kernel_id, kernel_name="python3"))
    try:
        # the moment the kernel is known but its start not yet recorded by the server
        async with asyncio.timeout(30):
            while kernel_id not in manager and not start.done():  # noqa: ASYNC110
                await asyncio.sleep(0)
        assert not start.done()
        [model] = manager.list_kernels()
        assert model["id"] == kernel_id
        assert model["name"] == "python3"
        assert model["execution_state"] == "starting"
        assert model["last_activity"].endswith("Z")
        await start
        assert [k["id"] for k in manager.list_kernels()] == [kernel_id]
    finally:
        await asyncio.gather(start, return_exceptions=True)
        if kernel_id in manager:
            await manager.shutdown_kernel(kernel_id, now=True)


class _IopubOnlyKernel:
    """What the server's activity watcher uses of a kernel: a real XPUB socket stands for
    the kernel's iopub, and the test publishes on it."""

    def __init__(self, context: zmq.Context[Any]) -> None:
        self.context = context
        self.session = Session(key=b"test-key")
        self.iopub = context.socket(zmq.XPUB)
        self.port = self.iopub.bind_to_random_port("tcp://127.0.0.1")
        self.execution_state = "starting"
        self.reason = ""
        self.last_activity: Any = None

    def connect_iopub(self) -> ZMQStream:
        sub = self.context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{self.port}")
        return ZMQStream(sub)

    def publish(self, msg_type: str, content: dict[str, Any]) -> None:
        self.session.send(self.iopub, msg_type, content)


async def test_a_kernel_that_welcomes_the_activity_watcher_is_started(tmp_path: Path) -> None:
    # Jupyter Server leaves a kernel "starting" until it hears a status, and a websocket's
    # first kernel_info waits for that; statuses published before the server's watcher
    # subscribed are lost. A kernel's iopub_welcome answers that very subscription.
    manager = BeakerMappingKernelManager(root_dir=str(tmp_path), connection_dir=str(tmp_path))
    context: zmq.Context[Any] = zmq.Context()
    kernel = _IopubOnlyKernel(context)
    manager._kernels["k"] = kernel
    try:
        manager.start_watching_activity("k")
        async with asyncio.timeout(10):
            while not kernel.iopub.poll(0):  # noqa: ASYNC110 - the subscription arriving
                await asyncio.sleep(0.01)
        assert kernel.iopub.recv() == b"\x01"
        # any other message leaves it starting
        kernel.publish("stream", {"name": "stdout", "text": "x"})
        await asyncio.sleep(0.3)
        assert kernel.execution_state == "starting"
        kernel.publish("iopub_welcome", {"subscription": ""})
        async with asyncio.timeout(10):
            while kernel.execution_state == "starting":  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.01)
        assert kernel.execution_state == "idle"
        # and once started, a status says what it is, as Jupyter Server records it
        kernel.publish("status", {"execution_state": "busy"})
        kernel.publish("iopub_welcome", {"subscription": ""})
        kernel.publish("status", {"execution_state": "idle"})
        await asyncio.sleep(0.3)
        assert kernel.execution_state == "idle"
        # and nothing stands in front of Jupyter Server's own recording any more
        stream = kernel._activity_stream  # type: ignore[attr-defined]
        assert stream._recv_callback.__name__ == "record_activity"
    finally:
        del manager._kernels["k"]
        kernel._activity_stream.close()  # type: ignore[attr-defined]
        kernel.iopub.close()
        context.term()
