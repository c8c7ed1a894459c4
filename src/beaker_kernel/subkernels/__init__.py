"""The built-in subkernels (``beaker.subkernels`` plugins): Python, R and Julia."""

from __future__ import annotations

from ..lib.subkernel import BeakerSubkernel, get_subkernel

__all__ = ["BeakerSubkernel", "get_subkernel"]
