"""Starting a Beaker kernel's first subkernel at the same time as the Beaker kernel.

A Beaker kernel starts its subkernel once its own interpreter is up: started one after the
other, the two start-ups add up. So when the service starts a Beaker kernel it also starts,
at the same moment, the subkernel that kernel will ask for first (the language of
``BEAKER_DEFAULT_CONTEXT_LANGUAGE``, else ``BEAKER_SUBKERNEL``, else Python; the
kernelspec's own ``env`` counts), and tells the Beaker kernel so
(``BEAKER_PRESTARTED_SUBKERNEL=<kernelspec name>``). The Beaker kernel then claims it
(``POST /beaker/subkernels/prestarted``) instead of starting one.

Nothing is left behind: a subkernel started ahead belongs to its Beaker kernel from the
start and is deleted with it; one the Beaker kernel does not want (another language, its
configuration said otherwise) or never asks for is deleted; a Beaker kernel that fails
to start takes it along. A subkernel that fails to start ahead costs nothing but the
attempt: the Beaker kernel starts one the usual way.

``BeakerMappingKernelManager.prestart_subkernels`` (environment
``BEAKER_PRESTART_SUBKERNELS=0``) turns this off.

A warm subkernel goes one step further: the service keeps one local subkernel started
before any Beaker kernel asks for it, and hands it to the next Beaker kernel that would
start that kernelspec first; then it starts the next one, once that Beaker kernel has
claimed it (or let it go), so that the new start does not compete with the session's
own. A warm subkernel belongs to no Beaker kernel: ``GET /api/kernels`` does not list it
and the culler leaves it alone; stopping the service stops it.
``BeakerMappingKernelManager.warm_subkernel`` (environment ``BEAKER_WARM_SUBKERNEL=0``)
turns this off; it is off along with ``prestart_subkernels``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BeakerError
from ..lib.subkernel import discover_subkernels, get_subkernel

log = logging.getLogger("beaker_kernel.service")

#: Environment variable telling a Beaker kernel which subkernel was started for it.
ENV = "BEAKER_PRESTARTED_SUBKERNEL"


@dataclass
class Prestart:
    """A subkernel started ahead for one Beaker kernel."""

    parent_id: str
    kernel_name: str
    kernel_id: str
    #: The start; its result is the kernel id.
    task: asyncio.Task[str] = field(repr=False)
    #: The key it signs with, when it shares its Beaker kernel's (else ``None``).
    key: bytes | None = field(default=None, repr=False)
    #: Set once it is claimed or given up (:meth:`settle`).
    settled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def settle(self) -> None:
        """Mark it claimed or given up: its Beaker kernel no longer waits for it."""
        self.settled.set()

    async def started(self) -> str:
        """The kernel id once started (raises what the start raised)."""
        return await asyncio.shield(self.task)


def first_kernelspec(env: Mapping[str, str], specs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The kernelspec a Beaker kernel with environment ``env`` starts first, among
    ``specs`` (name → kernel.json, Beaker's own left out); ``None`` when it cannot tell."""
    language = (
        env.get("BEAKER_DEFAULT_CONTEXT_LANGUAGE", "").strip()
        or env.get("BEAKER_SUBKERNEL", "").strip()
        or "python3"
    )
    try:
        subkernel = get_subkernel(language, discover_subkernels())
        return subkernel.choose_kernelspec(specs, language)
    except BeakerError as e:
        log.debug("No subkernel started ahead for language %r: %s", language, e.message)
        return None


async def discard(prestart: Prestart, manager: Any) -> None:
    """Delete a subkernel started ahead that nobody will use (once its start is over)."""
    try:
        kernel_id = await prestart.started()
    except Exception:
        return  # it did not start: nothing to delete
    if kernel_id in manager:
        try:
            await manager.shutdown_kernel(kernel_id, now=True)
        except Exception:
            manager.log.exception("Could not delete the unused subkernel %s", kernel_id)
        else:
            manager.log.info(
                "Deleted subkernel %s (%s), started ahead for %s and not used",
                kernel_id,
                prestart.kernel_name,
                prestart.parent_id,
            )
