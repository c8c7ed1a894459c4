"""The service's kernel manager: deleting a kernel while it restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil

from beaker_kernel.service.kernels import BeakerMappingKernelManager


async def test_delete_during_a_restart_deletes_the_kernel(tmp_path: Path) -> None:
    manager = BeakerMappingKernelManager(root_dir=str(tmp_path))
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
