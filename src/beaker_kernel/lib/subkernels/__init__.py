"""Where upstream Beaker's subkernel classes lived before 1.10 (kept so older contexts import)."""

from __future__ import annotations

from ..subkernel import autodiscover_subkernels

__all__ = ["autodiscover_subkernels"]
