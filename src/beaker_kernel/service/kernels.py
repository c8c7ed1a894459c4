"""The service's kernel manager.

jupyter_client answers a request to delete a kernel while the server is restarting it
(after the kernel process died, say) with an error, and keeps the kernel, because the
start under way has not finished. :class:`BeakerMappingKernelManager` waits for that
start to end and then deletes the kernel, so ``DELETE /api/kernels/<id>`` always removes
it — and, for a Beaker kernel, its subkernels.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Float

log = logging.getLogger("beaker_kernel.service")


class BeakerMappingKernelManager(AsyncMappingKernelManager):
    """Kernels of the Beaker service: a delete waits for a start or restart under way."""

    start_wait = Float(
        60.0,
        help="Seconds a kernel deletion waits for a start or restart of that kernel to "
        "end before deleting it anyway.",
    ).tag(config=True)

    async def _async_shutdown_kernel(
        self, kernel_id: str, now: bool | None = False, restart: bool | None = False
    ) -> None:
        if kernel_id in self:
            await self._start_settled(kernel_id)
        await super()._async_shutdown_kernel(  # type: ignore[no-untyped-call]
            kernel_id, now=now, restart=restart
        )

    shutdown_kernel = _async_shutdown_kernel  # type: ignore[assignment]

    async def _start_settled(self, kernel_id: str) -> None:
        """Wait while ``kernel_id`` starts (a restart stops, then starts: both are waited)."""
        km = self.get_kernel(kernel_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_wait
        logged = False
        while not km.ready.done():
            ready: Any = km.ready
            if not isinstance(ready, asyncio.Future):
                ready = asyncio.wrap_future(ready)
            if not logged:
                log.info("Kernel %s is starting; deleting it once the start is over", kernel_id)
                logged = True
            try:
                await asyncio.wait_for(asyncio.shield(ready), deadline - loop.time())
            except TimeoutError:
                log.warning(
                    "Kernel %s was still starting after %.0f s; deleting it anyway",
                    kernel_id,
                    self.start_wait,
                )
                return
            except Exception as e:
                # A failed start: jupyter_client's shutdown removes such a kernel itself.
                log.info("Kernel %s failed to start (%s); removing it", kernel_id, e)
                return


__all__ = ["BeakerMappingKernelManager"]
