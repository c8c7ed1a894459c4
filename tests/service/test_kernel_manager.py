"""The service's kernel manager: listing a kernel as it starts, deleting one as it restarts."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psutil

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
