"""The context base class and the decorators that mark actions and message handlers.

A context is created by a ``context_setup_request`` for one language and lives until the
next one. It renders its procedures (:mod:`.procedures`) and runs them in the subkernel,
answers its actions (``<name>_request`` → ``<name>_reply`` with ``return``) and custom
messages, may publish a preview after each user cell, and owns the LLM agent.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import ContextInfoError, MessageError, ProcedureError
from ..interface import ExecutionResult, KernelServices
from ..settings import parse_bool
from .procedures import SHARED_PROCEDURES, ProcedureSet, languages_in

if TYPE_CHECKING:
    from ..subkernels import Subkernel
    from ..wire import Request

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

ACTION_ATTR = "_beaker_action"
HANDLER_ATTR = "_beaker_message"


def action(name: str | None = None) -> Callable[[F], F]:
    """Mark a context coroutine method as an action.

    A front end calls it with ``<name>_request`` whose content holds the keyword
    arguments; the result travels back as ``return`` in ``<name>_reply``. The docstring is
    shown to front ends as the action's documentation.
    """

    def mark(method: F) -> F:
        setattr(method, ACTION_ATTR, name or method.__name__)
        return method

    return mark


def message_handler(msg_type: str) -> Callable[[F], F]:
    """Mark a context coroutine method as the handler of the shell message ``msg_type``.

    The method receives the :class:`~beaker_kernel.wire.Request`. For a ``*_request``
    type, what it returns (a dict) is the content of the ``*_reply``; ``status: ok`` is
    added when missing.
    """

    def mark(method: F) -> F:
        setattr(method, HANDLER_ATTR, msg_type)
        return method

    return mark


class BeakerContext:
    """Base class of every context.

    Subclasses set :attr:`slug` and usually :attr:`display_name`, :attr:`required_info`,
    :attr:`setup_procedure` and :attr:`agent_class`, and add actions and handlers.
    """

    #: The name front ends use in ``context_setup_request.context``.
    slug: ClassVar[str]
    display_name: ClassVar[str] = ""
    #: Fields ``context_info`` must have.
    required_info: ClassVar[tuple[str, ...]] = ()
    #: Shown to front ends as the default ``context_info`` (``defaultPayload``).
    default_payload: ClassVar[dict[str, Any]] = {}
    #: Procedure run when the context is set up (skipped when the language has none).
    setup_procedure: ClassVar[str] = "setup"
    #: Procedure whose JSON result is published as ``preview`` after user cells
    #: (skipped when the language has none).
    preview_procedure: ClassVar[str | None] = None
    #: The agent class, as ``module:Class`` so that importing a context never imports
    #: the LLM stack.
    agent_class: ClassVar[str] = "beaker_kernel.agent:BeakerAgent"
    #: Extra prompt text describing what the context is for.
    agent_prompt: ClassVar[str] = ""
    #: Where the context's own ``procedures/`` folder is; default: next to its module.
    folder: ClassVar[Path | None] = None

    def __init__(
        self,
        kernel: KernelServices,
        subkernel: Subkernel,
        context_info: dict[str, Any],
        *,
        debug: bool = False,
        verbose: bool = False,
    ) -> None:
        self.kernel = kernel
        self.subkernel = subkernel
        self.context_info = self.validate_info(context_info)
        self.debug = debug
        self.verbose = verbose
        self.procedures = ProcedureSet(subkernel.slug, self.procedure_folders())
        self._agent: Any = None

    # ------------------------------------------------------------ class-level facts

    @classmethod
    def context_folder(cls) -> Path:
        if cls.folder is not None:
            return cls.folder
        return Path(inspect.getfile(cls)).resolve().parent

    @classmethod
    def procedure_folders(cls) -> list[Path]:
        """Folders searched for procedures, most specific first (subclass before base)."""
        folders: list[Path] = []
        for klass in cls.__mro__:
            if (
                isinstance(klass, type)
                and issubclass(klass, BeakerContext)
                and klass is not (BeakerContext)
            ):
                folder = klass.context_folder() / "procedures"
                if folder not in folders:
                    folders.append(folder)
        folders.append(SHARED_PROCEDURES)
        return folders

    @classmethod
    def languages(cls) -> set[str] | None:
        """Languages this context supports, or ``None`` for all.

        A context that has procedures of its own for some language supports only those.
        """
        own: set[str] = set()
        for folder in cls.procedure_folders()[:-1]:
            own |= languages_in(folder)
        return own or None

    @classmethod
    def supports(cls, language: str) -> bool:
        languages = cls.languages()
        return languages is None or language in languages

    @classmethod
    def validate_info(cls, context_info: Any) -> dict[str, Any]:
        """Check ``context_info`` before anything changes; subclasses may add checks."""
        if context_info is None:
            context_info = {}
        if not isinstance(context_info, dict):
            raise ContextInfoError(
                f"context_info must be a JSON object, got {type(context_info).__name__}"
            )
        missing = [name for name in cls.required_info if name not in context_info]
        if missing:
            raise ContextInfoError(
                f"Context {cls.slug!r} needs context_info field(s) {', '.join(missing)}; "
                f"for example {cls.default_payload or {name: '...' for name in missing}}"
            )
        return dict(context_info)

    @classmethod
    def tool_enabled(cls, tool_name: str) -> bool:
        """Whether the agent tool ``tool_name`` is enabled in this context.

        A class attribute ``TOOL_ENABLED_<NAME>`` wins over the environment variable of
        the same name; either is ``true``/``false`` in any case; without both, enabled.
        Reading only (never setting) the environment keeps contexts from leaking into
        each other.
        """
        key = f"TOOL_ENABLED_{tool_name.upper()}"
        if hasattr(cls, key):
            value = parse_bool(getattr(cls, key))
        else:
            value = parse_bool(os.environ.get(key))
        return True if value is None else value

    @classmethod
    def actions(cls) -> dict[str, str]:
        """Action name → method name."""
        found: dict[str, str] = {}
        for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction):
            action_name = getattr(member, ACTION_ATTR, None)
            if action_name:
                found[action_name] = name
        return found

    @classmethod
    def custom_messages(cls) -> dict[str, str]:
        """Message type → method name."""
        found: dict[str, str] = {}
        for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction):
            msg_type = getattr(member, HANDLER_ATTR, None)
            if msg_type:
                found[msg_type] = name
        return found

    # ------------------------------------------------------------ running code

    def get_code(self, name: str, /, **variables: Any) -> str:
        """Render procedure ``name`` for the current language.

        ``context_info`` fields are available to templates, and ``variables`` override them.
        """
        return self.procedures.render(name, **{**self.context_info, **variables})

    async def execute(self, code: str) -> ExecutionResult:
        """Run ``code`` in the subkernel, out of the user's sight; returns what it produced."""
        return await self.kernel.execute(code)

    async def evaluate(self, code: str) -> Any:
        """Run ``code`` and return the JSON document it printed, decoded."""
        return await self.kernel.evaluate(code)

    async def run_procedure(self, name: str, /, **variables: Any) -> Any:
        """Render and evaluate procedure ``name``; returns its JSON result."""
        code = self.get_code(name, **variables)
        try:
            return await self.evaluate(code)
        except ProcedureError as e:
            e.message = f"Procedure {name!r} failed: {e.message}"
            e.args = (e.message,)
            raise

    # ------------------------------------------------------------ life cycle

    def prepare(self) -> None:
        """Render everything setup needs, so template errors surface before any change."""
        if self.procedures.has(self.setup_procedure):
            self.get_code(self.setup_procedure)

    async def setup(self) -> Any:
        """Run the setup procedure in the (possibly new) subkernel; returns its result."""
        if self.procedures.has(self.setup_procedure):
            return await self.run_procedure(self.setup_procedure)
        return None

    async def on_subkernel_restart(self) -> None:
        """The subkernel crashed and was replaced: set the new one up again."""
        await self.setup()

    def has_post_execute(self) -> bool:
        return self.preview_procedure is not None and self.procedures.has(self.preview_procedure)

    async def post_execute(self, parent: dict[str, Any]) -> None:
        """Runs after a user cell, once the subkernel is idle: publish the preview."""
        preview = await self.preview()
        if preview is not None:
            self.kernel.publish("preview", preview, parent)

    async def preview(self) -> dict[str, Any] | None:
        """The preview of the context's state, or ``None``."""
        if not self.has_post_execute():
            return None
        assert self.preview_procedure is not None
        result = await self.run_procedure(self.preview_procedure)
        return result if isinstance(result, dict) else {"preview": result}

    def interrupt(self) -> None:
        """Stop the agent, if it runs."""
        if self._agent is not None:
            self._agent.interrupt()

    async def close(self) -> None:
        """The context is being replaced."""
        self.interrupt()

    # ------------------------------------------------------------ agent

    @property
    def agent(self) -> Any:
        """The agent, created (and the LLM stack imported) on first use."""
        if self._agent is None:
            from ..agent.loading import create_agent

            self._agent = create_agent(self)
        return self._agent

    def agent_info(self) -> dict[str, Any]:
        from ..agent.loading import describe_agent

        return describe_agent(self)

    # ------------------------------------------------------------ messages

    def info(self) -> dict[str, Any]:
        """The context info front ends receive (``context_setup_response``)."""
        kernel_name = self.kernel.subkernel_name
        actions = {}
        for action_name, method_name in self.actions().items():
            method = getattr(self, method_name)
            signature = inspect.signature(method)
            actions[action_name] = {
                "docs": inspect.getdoc(method) or "",
                "args": [p for p in signature.parameters if p != "self"],
            }
        return {
            "slug": self.slug,
            "config": self.context_info,
            "language": self.subkernel.info(kernel_name),
            "subkernel": kernel_name,
            "actions": actions,
            "custom_messages": sorted(self.custom_messages()),
            "procedures": self.procedures.names(),
            "agent": self.agent_info(),
            "debug": self.debug,
            "verbose": self.verbose,
        }

    def handlers(self) -> dict[str, Callable[[Request], Awaitable[None]]]:
        """Shell handlers this context adds to the kernel's table."""
        table: dict[str, Callable[[Request], Awaitable[None]]] = {}
        for action_name, method_name in self.actions().items():
            table[f"{action_name}_request"] = self._action_handler(getattr(self, method_name))
        for msg_type, method_name in self.custom_messages().items():
            table[msg_type] = self._message_handler(msg_type, getattr(self, method_name))
        return table

    def _action_handler(
        self, method: Callable[..., Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[None]]:
        signature = inspect.signature(method)

        async def handle(request: Request) -> None:
            try:
                bound = signature.bind(**request.content)
            except TypeError as e:
                raise MessageError(
                    f"Bad arguments for {request.msg_type}: {e}. Expected: "
                    f"{', '.join(signature.parameters) or 'none'}"
                ) from e
            value = await method(*bound.args, **bound.kwargs)
            await self.kernel.reply(request, {"status": "ok", "return": value})

        return handle

    def _message_handler(
        self, msg_type: str, method: Callable[[Request], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[None]]:
        async def handle(request: Request) -> None:
            content = await method(request)
            if msg_type.endswith("_request"):
                reply = dict(content or {})
                reply.setdefault("status", "ok")
                await self.kernel.reply(request, reply)

        return handle
