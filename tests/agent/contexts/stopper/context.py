"""A context whose agent ends its run from a tool, as archytas 1 contexts do."""

from __future__ import annotations

from typing import Any

from beaker_kernel.lib.context import BeakerContext

from .agent import StopperAgent


class StopperContext(BeakerContext):
    compatible_subkernels = ["python3"]

    def __init__(self, beaker_kernel: Any, config: dict[str, Any]) -> None:
        super().__init__(beaker_kernel, StopperAgent, config)
