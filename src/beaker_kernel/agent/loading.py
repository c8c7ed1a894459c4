"""Creating and describing a context's agent without importing the LLM stack early."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..contexts.base import BeakerContext


def describe_agent(context: BeakerContext) -> dict[str, Any]:
    """``{name, tools}`` for the context info; cheap, imports nothing heavy."""
    return {"name": context.agent_class.rpartition(":")[2], "tools": []}


def create_agent(context: BeakerContext) -> Any:
    raise NotImplementedError("The agent is not available yet")
