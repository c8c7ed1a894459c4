"""The LLM agent of a context. Importing this package does not import archytas.

``BeakerAgent`` (the default ``agent_class`` of contexts) is loaded from
:mod:`.base` on first access, which is when archytas and LangChain get imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import BeakerAgent

__all__ = ["BeakerAgent"]


def __getattr__(name: str) -> Any:
    if name == "BeakerAgent":
        from .base import BeakerAgent

        return BeakerAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
