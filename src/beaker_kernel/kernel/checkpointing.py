"""One checkpoint store per subkernel process, and its files removed when the process ends.

The store (:mod:`beaker_kernel.checkpoints`) saves and restores through the subkernel. A
subkernel Beaker started itself gets a private folder under Jupyter's runtime folder, which
Beaker removes when the subkernel ends in any way (a kernel killed outright leaves it to the
next kernel's sweep at start); any other subkernel (a container) chooses a private folder on
its own disk, deleted through it when it is stopped, and gone with the container after a
crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from ..checkpoints import (
    CheckpointStore,
    cleanup_local,
    create_local_directory,
    sweep_stale_local,
)
from ..errors import BeakerError
from .executor import InternalExecutor
from .link import SubkernelLink

log = logging.getLogger("beaker_kernel")

#: Seconds a checkpoint operation may take (a large session takes seconds).
OPERATION_TIMEOUT = 600.0


def local_parent() -> str:
    from jupyter_core.paths import jupyter_runtime_dir

    return os.path.join(jupyter_runtime_dir(), "beaker-checkpoints")


class Checkpoints:
    """The checkpoint stores of the kernel's subkernels."""

    def __init__(
        self,
        executor: InternalExecutor,
        *,
        enabled: Callable[[], bool],
        max_bytes: Callable[[], int],
        max_count: Callable[[], int],
    ) -> None:
        self._executor = executor
        self._enabled = enabled
        self._max_bytes = max_bytes
        self._max_count = max_count
        self._stores: dict[SubkernelLink, CheckpointStore] = {}
        self._local_dirs: dict[SubkernelLink, str] = {}

    @property
    def enabled(self) -> bool:
        return self._enabled()

    async def sweep(self) -> None:
        """Remove folders of local subkernels whose kernel no longer runs."""
        try:
            removed = await asyncio.to_thread(sweep_stale_local, local_parent())
        except OSError as e:
            log.warning("Could not look for old checkpoint folders: %s", e)
            return
        if removed:
            log.info("Removed %d checkpoint folder(s) of kernels that no longer run", len(removed))

    async def store_for(self, link: SubkernelLink, language: str) -> CheckpointStore | None:
        """The store of ``link``'s subkernel (made on first use); ``None`` when switched off."""
        if not self.enabled:
            return None
        store = self._stores.get(link)
        if store is not None:
            return store
        directory: str | None = None
        if getattr(link.handle, "local", False):
            directory = str(await asyncio.to_thread(create_local_directory, local_parent()))
            self._local_dirs[link] = directory

        async def evaluate(code: str) -> Any:
            return await self._executor.evaluate(code, timeout=OPERATION_TIMEOUT, link=link)

        store = CheckpointStore(
            evaluate,
            language,
            directory=directory,
            max_bytes=self._max_bytes(),
            max_count=self._max_count(),
        )
        self._stores[link] = store
        return store

    async def release(self, link: SubkernelLink, *, alive: bool) -> None:
        """``link``'s subkernel is being stopped (``alive``) or is gone: delete its files."""
        store = self._stores.pop(link, None)
        local = self._local_dirs.pop(link, None)
        if store is not None and alive and local is None:
            try:
                await asyncio.wait_for(store.discard_all(), 30)
            except (BeakerError, TimeoutError) as e:
                log.warning("Could not delete the checkpoints of the subkernel: %s", e)
        elif store is not None:
            store.forget()
        if local is not None:
            try:
                await asyncio.to_thread(cleanup_local, local)
            except (OSError, ValueError) as e:
                log.warning("Could not remove the checkpoint folder %s: %s", local, e)
