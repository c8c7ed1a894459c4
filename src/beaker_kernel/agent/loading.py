"""Creating and describing a context's agent without importing the LLM stack early."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from ..errors import AgentError
from .config import import_object, settings_for

if TYPE_CHECKING:
    from ..contexts.base import BeakerContext

#: Tools of :class:`~beaker_kernel.agent.base.BeakerAgent`, listed here so that the
#: context info can name them before the agent (and archytas) is loaded.
DEFAULT_TOOLS = ("ask_user", "generate_code", "inspect_variables", "run_code")

# A history set before the agent exists (set_agent_history_request right after a
# context setup): applied when the agent is created, so setting it needs no model.
_pending_history: weakref.WeakKeyDictionary[BeakerContext, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def describe_agent(context: BeakerContext) -> dict[str, Any]:
    """``{name, tools}`` for the context info; cheap, imports nothing heavy.

    Until the agent exists, ``tools`` lists the default tools the context enables;
    tools that an agent subclass adds appear once it has been created.
    """
    name = context.agent_class.rpartition(":")[2] or context.agent_class.rpartition(".")[2]
    agent = context._agent
    if agent is not None:
        return {"name": name, "tools": agent.tool_names()}
    tools = [
        tool
        for tool in DEFAULT_TOOLS
        if context.tool_enabled(tool)
        and (tool != "inspect_variables" or context.procedures.has("state"))
    ]
    return {"name": name, "tools": tools}


def create_agent(context: BeakerContext) -> Any:
    """A new agent for ``context``: its ``agent_class`` with the kernel's model settings.

    Imports archytas and the provider. Raises :class:`AgentError` (or a subclass) when
    no model is configured or the classes cannot be loaded.
    """
    from .base import BeakerAgent

    settings = settings_for(context.kernel)
    model = settings.create_model()
    agent_class = import_object(context.agent_class, f"{type(context).__name__}.agent_class")
    if not (isinstance(agent_class, type) and issubclass(agent_class, BeakerAgent)):
        raise AgentError(
            f"{context.agent_class} must be a subclass of beaker_kernel.agent.BeakerAgent"
        )
    agent = agent_class(context=context, model=model, settings=settings)
    history = _pending_history.pop(context, None)
    if history is not None:
        from .history import to_messages

        agent.chat_history.raw_records.clear()
        for message in to_messages(history):
            agent.chat_history.add_message(message)
    return agent


def get_history(context: BeakerContext) -> dict[str, Any]:
    """The context's chat history as plain JSON (see :mod:`.history`)."""
    from .history import empty_history, from_messages

    agent = context._agent
    if agent is None:
        return _pending_history.get(context) or empty_history()
    return from_messages(record.message for record in agent.chat_history.raw_records)


def set_history(context: BeakerContext, document: Any) -> int:
    """Replace the context's chat history; returns the number of messages kept."""
    from .history import to_messages, validate_history

    history = validate_history(document)
    agent = context._agent
    if agent is None:
        _pending_history[context] = history
    else:
        # The kernel's AgentRunner refuses this while a run is under way.
        agent.chat_history.raw_records.clear()
        agent.chat_history.summaries.clear()
        for message in to_messages(history):
            agent.chat_history.add_message(message)
    return len(history["messages"])
