"""Decorators and helpers for context authors (``beaker_kernel.lib.utils``).

The names are those of upstream Beaker, so contexts written for it import them from
here unchanged:

* :func:`action` — a method answering ``<name>_request`` with ``<name>_reply`` whose
  ``return`` is the method's result;
* :func:`intercept` — a method answering a message type of its own (by default the
  method's name), or changing a standard message on its way (see :mod:`.context`);
* :class:`execution_context` / :class:`parent_message_context` — labels that travel with
  code Beaker runs in the subkernel, so front ends can tell whose code it was;
* :class:`ExecutionError`, :class:`ExecutionTask`, :class:`ForwardMessage` and small
  helpers.

Nothing here imports the LLM stack.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import os
import re
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from functools import wraps
from importlib import import_module
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import ProcedureFailedError

if TYPE_CHECKING:
    from .jupyter_kernel_proxy import JupyterMessage

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: ``{"type": ..., "name": ..., ...}`` of the code being run (see :class:`execution_context`).
execution_context_var: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "execution_context", default=None
)
#: ``{"parent_message": <request>}`` of the request being handled.
parent_message_var: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "parent_message_var",
    default={},  # noqa: B039 - read only, never changed in place
)

Scope = Literal["internal", "external", "global"]


class ForwardMessage:
    """Returned by an intercept handler: send the original message on to the subkernel."""


class ExecutionError(ProcedureFailedError, RuntimeError):
    """Code run for a context raised an error in the subkernel."""

    def __init__(self, ename: str, evalue: str, traceback: list[str] | None = None) -> None:
        super().__init__(
            f"The code raised {ename} in the subkernel: {evalue}",
            subkernel_ename=ename,
            subkernel_evalue=evalue,
            traceback=list(traceback or []),
        )
        self.ename_ = ename
        self.evalue = evalue


class ExecutionTask(asyncio.Task[Any]):
    """The task of one execution, with the request it sends (``execute_request_msg``).

    The request exists as soon as the task does, so a caller can announce it (the
    agent's ``add_child_codecell``) before any of its output arrives.
    """

    execute_request_msg: JupyterMessage | None

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        execute_request_msg: JupyterMessage | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(coro, **kwargs)
        self.execute_request_msg = execute_request_msg


# ---------------------------------------------------------------------------- labels


class execution_context(AbstractContextManager["execution_context"]):
    """Label code run inside this block: ``type`` (tool, action, setup, preview, …) and ``name``."""

    def __init__(self, type: str | None = None, name: str | None = None, **extra: Any) -> None:
        self.type = type
        self.name = name
        self.extra = extra
        self._token: contextvars.Token[dict[str, Any] | None] | None = None

    def __enter__(self) -> execution_context:
        self._token = execution_context_var.set(
            {"type": self.type, "name": self.name, **self.extra}
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            execution_context_var.reset(self._token)


def get_execution_context() -> dict[str, Any] | None:
    return execution_context_var.get()


class parent_message_context(AbstractContextManager["parent_message_context"]):
    """Make ``parent_message`` the request that messages sent inside this block answer."""

    def __init__(self, parent_message: Any = None, **extra: Any) -> None:
        self.parent_message = parent_message
        self.extra = extra
        self._token: contextvars.Token[dict[str, Any]] | None = None

    def __enter__(self) -> parent_message_context:
        self._token = parent_message_var.set({"parent_message": self.parent_message, **self.extra})
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            parent_message_var.reset(self._token)


def get_parent_message() -> dict[str, Any]:
    return parent_message_var.get()


def current_parent_header() -> dict[str, Any]:
    """The header of the request being handled, or ``{}``."""
    message = parent_message_var.get().get("parent_message")
    header = getattr(message, "header", None)
    return header if isinstance(header, dict) else {}


# ---------------------------------------------------------------------------- decorators

INTERCEPT_ATTR = "_intercept"
ACTION_ATTR = "_action"


def intercept(
    msg_type: str | None = None,
    stream: str = "shell",
    docs: str | None = None,
    default_payload: Any = None,
) -> Callable[[F], F]:
    """Mark a context method as the handler of ``msg_type`` (default: the method's name).

    On ``shell``, a message type nobody else answers becomes a custom message: the
    method receives the request (``message.content``, ``.header``, ``.identities``…) and
    its return value travels back as ``return`` in ``<type>_reply``, inside ``busy`` /
    ``idle``. For a *standard* Jupyter message type, or another stream, the method sees
    the message on its way: returning a :class:`~.jupyter_kernel_proxy.JupyterMessage`
    sends that instead, returning :class:`ForwardMessage` sends the original on, and
    anything else answers it here (as ``<type>_reply`` for a request) instead of
    forwarding it.
    """

    def mark(fn: F) -> F:
        setattr(fn, INTERCEPT_ATTR, (msg_type or fn.__name__, stream))
        fn_docs = docs if docs is not None else getattr(fn, "__doc__", None)
        fn._docs = fn_docs.strip() if isinstance(fn_docs, str) else fn_docs  # type: ignore[attr-defined]
        if default_payload is not None:
            fn._default_payload = default_payload  # type: ignore[attr-defined]
        return fn

    return mark


def action(
    action_name: str | None = None,
    docs: str | None = None,
    default_payload: Any = None,
    enabled: Callable[[], bool] | Callable[[Any], bool] | None = None,
    scope: Scope = "global",
) -> Callable[[F], F]:
    """Mark a context method as the action ``action_name`` (default: the method's name).

    A front end calls it with ``<name>_request``; the method receives the request and its
    return value travels back as ``return`` in ``<name>_reply``. Code it runs in the
    subkernel is labelled as this action. ``enabled`` (called with no argument, or with the
    object the action belongs to) is asked when a context is set up;
    a disabled action is not offered. ``scope="internal"`` keeps it out of the context's
    list of actions.
    """

    def mark(fn: F) -> F:
        name = action_name or fn.__name__
        if name.lower().endswith("request"):
            log.warning("Action %r: action names should not end with _request", name)

        @wraps(fn)
        async def with_context(self: Any, message: Any) -> Any:
            with execution_context("action", name):
                return await ensure_async(fn(self, message))

        with_context._action = name  # type: ignore[attr-defined]
        with_context._scope = scope  # type: ignore[attr-defined]
        with_context._enabled = enabled  # type: ignore[attr-defined]
        marked = intercept(f"{name}_request", "shell", docs, default_payload)(with_context)
        return marked  # type: ignore[return-value]

    return mark


def message_handler(
    func: F | None = None, /, *, send_status_updates: bool = True, send_reply: bool = True
) -> Any:
    """Accepted for contexts written for upstream Beaker: handlers are wrapped by Beaker
    itself when they are registered, so this returns ``func`` unchanged."""

    def decorator(fn: F) -> F:
        return fn

    return decorator(func) if func is not None else decorator


def magic(magic_word: str | None) -> Callable[[F], F]:
    """Mark a method as the handler of the cell magic ``%<magic_word>``."""

    def mark(fn: F) -> F:
        fn._magic_prefix = "%" + (magic_word or fn.__name__)  # type: ignore[attr-defined]
        return fn

    return mark


def togglable_tool(env_var: str, *, name: str | None = None) -> Callable[[F], F]:
    """Deprecated (tools are switched with ``TOOL_ENABLED_<NAME>``); returns the tool."""
    warnings.warn(
        "togglable_tool is deprecated: use TOOL_ENABLED_<NAME>", DeprecationWarning, stacklevel=2
    )

    def noop(fn: F) -> F:
        return fn

    return noop


# ---------------------------------------------------------------------------- helpers


async def ensure_async(value: Any) -> Any:
    """``await value`` if it is awaitable (or call-and-await a coroutine function)."""
    if inspect.iscoroutinefunction(value):
        return await value()
    if inspect.isawaitable(value):
        return await value
    return value


def env_enabled(env_var: str) -> bool:
    return os.environ.get(env_var, "false").strip().lower() == "true"


def slugify(name: str) -> str:
    return "_".join(re.split(r"\W", name.lower().strip()))


def import_dotted_class(import_string: str) -> Any:
    module_name, class_name = import_string.rsplit(".", 1)
    return getattr(import_module(module_name), class_name, None)


def find_file_along_path(filename: str, start_path: Path | str | None = None) -> Path | None:
    path = Path.cwd() if start_path is None else Path(start_path)
    for search_path in [path, *path.parents]:
        candidate = search_path / filename
        if candidate.is_file():
            return candidate
    return None


class LogMessageEncoder(json.JSONEncoder):
    """JSON for anything: objects JSON cannot encode become their ``str()``."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


SubkernelStateEncoder = LogMessageEncoder


def __getattr__(name: str) -> Any:
    # DefaultModel needs archytas; it is made only when asked for.
    if name == "DefaultModel":
        from .agent import NoModel

        return NoModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


AsyncCallable = Callable[..., Awaitable[Any]]
