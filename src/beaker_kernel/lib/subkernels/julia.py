"""Old home of :class:`beaker_kernel.subkernels.julia.JuliaSubkernel`."""

from __future__ import annotations

from ...subkernels.julia import JuliaSubkernel

__all__ = ["JuliaSubkernel"]
