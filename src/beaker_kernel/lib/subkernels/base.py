"""Old home of the subkernel base classes; see :mod:`beaker_kernel.lib.subkernel`."""

from __future__ import annotations

from ..subkernel import (
    BaseCheckpointableSubkernel,
    BaseSubkernel,
    BeakerSubkernel,
    Checkpoint,
    CheckpointableBeakerSubkernel,
)

__all__ = [
    "BaseCheckpointableSubkernel",
    "BaseSubkernel",
    "BeakerSubkernel",
    "Checkpoint",
    "CheckpointableBeakerSubkernel",
]
