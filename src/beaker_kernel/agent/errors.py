"""What can go wrong with an agent run, and how provider errors become short messages.

::

    AgentError (beaker_kernel.errors)
    ├── ModelNotConfiguredError   no provider configured
    ├── ModelAuthError            the provider refused the key (→ llm_auth_failure)
    ├── ModelUnreachableError     the provider could not be reached
    ├── ContextWindowError        the conversation no longer fits the model
    ├── AgentBusyError            another llm_request is still running
    ├── AgentInterruptedError     an interrupt stopped the run
    └── AgentFailedError          the agent gave up (archytas fail_task), or anything else

Provider SDKs raise their own exception types; :func:`explain` recognises them by
name along the exception's cause chain, so nothing here imports a provider.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import AgentError, ModelAuthError, ModelNotConfiguredError

__all__ = [
    "AgentBusyError",
    "AgentError",
    "AgentFailedError",
    "AgentInterruptedError",
    "ContextWindowError",
    "ModelAuthError",
    "ModelNotConfiguredError",
    "ModelUnreachableError",
    "explain",
]


class ModelUnreachableError(AgentError):
    """The LLM provider did not answer (network, address, or the service is down)."""


class ContextWindowError(AgentError):
    """The conversation is longer than the model's context window."""


class AgentBusyError(AgentError):
    """The agent is still working on an earlier request."""


class AgentInterruptedError(AgentError):
    """An interrupt stopped the agent."""


class AgentFailedError(AgentError):
    """The agent could not complete the request."""


_AUTH_NAMES = {"AuthenticationError", "PermissionDeniedError", "AuthenticationException"}
_CONTEXT_NAMES = {"ContextWindowExceededError"}
_UNREACHABLE_NAMES = {
    "APIConnectionError",
    "APITimeoutError",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "EndpointConnectionError",
}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(error: BaseException) -> set[str]:
    return {klass.__name__ for klass in type(error).__mro__}


def explain(error: BaseException) -> AgentError:
    """A short, actionable :class:`AgentError` for ``error`` raised during an agent run."""
    chain = list(_chain(error))
    for item in chain:
        if isinstance(item, AgentError):
            return item
    for item in chain:
        if _names(item) & _AUTH_NAMES:
            return ModelAuthError(
                f"The LLM provider refused the credentials ({_first_line(item)}). Check "
                "LLM_SERVICE_TOKEN (or the provider's own key variable), or send a "
                "set_agent_model_request with a valid token."
            )
    for item in chain:
        if _names(item) & _CONTEXT_NAMES:
            return ContextWindowError(
                "The conversation no longer fits in the model's context window. Clear the "
                "agent's history (set_agent_history_request with no messages) or choose a "
                "model with a larger context window."
            )
    for item in chain:
        if _names(item) & _UNREACHABLE_NAMES or isinstance(item, (OSError, TimeoutError)):
            return ModelUnreachableError(
                f"Could not reach the LLM provider ({_first_line(item)}). Check the network "
                "and the provider's address, then try again."
            )
    for item in chain:
        if "FailedTaskError" in _names(item):
            message = str(getattr(item, "message", "") or item).strip()
            return AgentFailedError(f"The agent could not complete the request: {message}")
    return AgentFailedError(
        f"The agent stopped with an error: {type(error).__name__}: {_first_line(error)}"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 200 else line[:197] + "..."
