"""The default context: the subkernel as it is, in every language, with the agent ready."""

from __future__ import annotations

import time
from typing import Any

from beaker_kernel.lib.context import BeakerContext
from beaker_kernel.lib.subkernel import discover_subkernels

#: Seconds within which the state panel may reuse the variables the preview just read.
_STATE_REUSE = 0.5


class DefaultContext(BeakerContext):
    """The subkernel as it is: run code, see the variables, ask the agent.

    Works in every installed language. After each cell it publishes the user's variables
    as ``kernel_state_info`` (and as its ``preview``).
    """

    SLUG = "default"
    WEIGHT = 10
    agent_cls = f"{__package__}.agent:DefaultAgent"

    def __init__(self, beaker_kernel: Any, config: dict[str, Any]) -> None:
        # The variables the preview read, for the state panel right after it (once).
        self._state: tuple[float, Any] | None = None
        super().__init__(beaker_kernel, self.agent_cls, config)

    @classmethod
    def available_subkernels(cls) -> list[str]:
        subkernels = sorted(discover_subkernels().values(), key=lambda s: (s.WEIGHT, s.SLUG))
        return [subkernel.SLUG for subkernel in subkernels]

    async def auto_context(self) -> str:
        return (
            f"Write code in {self.subkernel.DISPLAY_NAME}: it runs in a Jupyter notebook "
            f"through the '{self.subkernel.KERNEL_NAME}' kernel."
        )

    async def get_subkernel_state(self) -> Any:
        # After a cell the kernel asks for the preview, then at once for the state panel:
        # the variables are read once for both.
        kept, self._state = self._state, None
        if kept is not None and time.monotonic() - kept[0] < _STATE_REUSE:
            return kept[1]
        return await super().get_subkernel_state()

    async def generate_preview(self) -> dict[str, Any]:
        """The user's variables, unformatted."""
        state = await super().get_subkernel_state()
        self._state = (time.monotonic(), state)
        return {
            "x-application/beaker-subkernel-state": {"state": {"application/json": state or {}}}
        }
