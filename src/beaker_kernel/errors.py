"""Errors raised by Beaker.

Every error that can reach a front end is a :class:`BeakerError`, which knows how to
turn itself into the ``status: error`` content of a Jupyter reply::

    BeakerError
    ├── MessageError                 a request that is not a valid Jupyter message
    ├── SubkernelError
    │   ├── UnknownLanguageError     no subkernel definition for that language name
    │   ├── SubkernelUnavailableError the language is known but no kernel is installed
    │   ├── SubkernelStartError      the subkernel did not start or never answered
    │   └── SubkernelDiedError       the subkernel process went away
    ├── ContextError
    │   ├── UnknownContextError
    │   ├── UnsupportedLanguageError the context has no procedures for that language
    │   ├── ContextInfoError         context_info is missing or has a wrong field
    │   └── HandlerConflictError     a message type is already answered by someone else
    ├── ProcedureError
    │   ├── ProcedureNotFoundError
    │   ├── ProcedureRenderError     the template needs a variable that was not given
    │   └── ProcedureFailedError     the code raised inside the subkernel
    ├── AgentError
    │   ├── ModelNotConfiguredError
    │   └── ModelAuthError
    └── ServiceError                 the Beaker service refused or failed a request
"""

from __future__ import annotations

from typing import Any


class BeakerError(Exception):
    """Base class of every error Beaker reports to a front end."""

    def __init__(self, message: str, *, traceback: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.traceback = traceback or []

    @property
    def ename(self) -> str:
        return type(self).__name__

    def reply_content(self) -> dict[str, Any]:
        """The content of a ``status: error`` reply describing this error."""
        return {
            "status": "error",
            "ename": self.ename,
            "evalue": self.message,
            "traceback": self.traceback or [f"{self.ename}: {self.message}"],
        }


class MessageError(BeakerError):
    """A request that is not a valid Jupyter message or misses required content."""


class SubkernelError(BeakerError):
    """Something went wrong with the language subkernel."""


class UnknownLanguageError(SubkernelError):
    """No subkernel definition answers to the requested language name."""


class SubkernelUnavailableError(SubkernelError):
    """The language is known but no kernel for it is installed here."""


class SubkernelStartError(SubkernelError):
    """The subkernel could not be started or never answered ``kernel_info``."""


class SubkernelDiedError(SubkernelError):
    """The subkernel process went away while Beaker was using it."""


class ContextError(BeakerError):
    """A context could not be found, set up or used."""


class UnknownContextError(ContextError):
    """No context is registered under the requested slug."""


class UnsupportedLanguageError(ContextError):
    """The context does not support the requested language."""


class ContextInfoError(ContextError):
    """``context_info`` is missing a field the context needs, or has a wrong value."""


class HandlerConflictError(ContextError):
    """A context or plugin declares a handler for a message type someone else answers."""


class ProcedureError(BeakerError):
    """A procedure could not be rendered or failed when it ran."""


class ProcedureNotFoundError(ProcedureError, ValueError):
    """The context has no procedure of that name for the current language."""


class ProcedureRenderError(ProcedureError):
    """The procedure template could not be rendered (for example a missing variable)."""


class ProcedureFailedError(ProcedureError):
    """The procedure's code raised an error inside the subkernel.

    ``subkernel_ename``/``subkernel_evalue`` hold the error as the subkernel reported it.
    """

    def __init__(
        self,
        message: str,
        *,
        subkernel_ename: str = "",
        subkernel_evalue: str = "",
        traceback: list[str] | None = None,
    ) -> None:
        super().__init__(message, traceback=traceback)
        self.subkernel_ename = subkernel_ename
        self.subkernel_evalue = subkernel_evalue


class AgentError(BeakerError):
    """The LLM agent could not answer."""


class ModelNotConfiguredError(AgentError):
    """No LLM provider is configured."""

    #: What every part of Beaker that needs a model says when there is none.
    MESSAGE = (
        "No LLM is configured. Set LLM_PROVIDER_IMPORT_PATH (an archytas model class, "
        "e.g. archytas.models.openai.OpenAIModel), LLM_SERVICE_MODEL and LLM_SERVICE_TOKEN "
        "in the service's environment (see docs/agent.md)."
    )

    def __init__(self, message: str = MESSAGE, *, traceback: list[str] | None = None) -> None:
        super().__init__(message, traceback=traceback)


class ModelAuthError(AgentError):
    """The LLM provider refused the configured credentials."""


class ServiceError(BeakerError):
    """The Beaker service refused or failed a request made by the kernel."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ServiceUnreachableError(ServiceError):
    """The Beaker service did not take the connection (it is stopping, or gone)."""
