"""The service's kernel manager.

Two moments in a kernel's start make Jupyter Server's own manager answer 500:

* Listing kernels (``GET /api/kernels``) just as a kernel has started but before the
  server has recorded its activity: the model of that kernel cannot be built. A Beaker
  kernel starts its subkernels through the API, so front ends polling the list hit this.
  :class:`BeakerMappingKernelManager` lists such a kernel as ``starting``.
* Deleting a kernel while the server restarts it (after its process died, say):
  jupyter_client refuses because the start under way has not finished, and keeps the
  kernel. :class:`BeakerMappingKernelManager` waits for that start to end and then
  deletes the kernel, so ``DELETE /api/kernels/<id>`` always removes it — and, for a
  Beaker kernel, its subkernels.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Float

log = logging.getLogger("beaker_kernel.service")


class BeakerMappingKernelManager(AsyncMappingKernelManager):
    """Kernels of the Beaker service: listed while they start; deleted after a restart."""

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

    def kernel_model(self, kernel_id: str) -> dict[str, Any]:
        self._check_kernel_id(kernel_id)  # type: ignore[no-untyped-call]
        kernel = self._kernels[kernel_id]
        if not kernel.trait_has_value("last_activity"):
            # Started, but the server has not recorded it yet (it does so at once).
            return {
                "id": kernel_id,
                "name": kernel.kernel_name,
                "last_activity": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "execution_state": "starting",
                "connections": 0,
            }
        model: dict[str, Any] = super().kernel_model(kernel_id)  # type: ignore[no-untyped-call]
        return model

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
