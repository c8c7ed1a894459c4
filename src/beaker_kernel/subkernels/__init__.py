"""Subkernel definitions (``beaker.subkernels`` plugins)."""

from __future__ import annotations

from .base import ENTRY_POINT_GROUP, Subkernel, get_subkernel, load_subkernels

__all__ = ["ENTRY_POINT_GROUP", "Subkernel", "get_subkernel", "load_subkernels"]
