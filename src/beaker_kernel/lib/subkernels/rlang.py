"""Old home of :class:`beaker_kernel.subkernels.rlang.RSubkernel`."""

from __future__ import annotations

from ...subkernels.rlang import RSubkernel

__all__ = ["RSubkernel"]
