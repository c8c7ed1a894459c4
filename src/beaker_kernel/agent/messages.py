"""Agent messages (``llm_request``, ``set_agent_model``, agent history)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..kernel import BeakerKernel


def register_agent_messages(kernel: BeakerKernel) -> None:
    """Add the agent's shell handlers to ``kernel``."""
