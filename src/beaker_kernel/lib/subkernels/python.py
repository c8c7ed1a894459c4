"""Old home of :class:`beaker_kernel.subkernels.python.PythonSubkernel`."""

from __future__ import annotations

from ...subkernels.python import PythonSubkernel

__all__ = ["PythonSubkernel"]
