"""The context base class (``beaker_kernel.lib.context.BeakerContext``, alias ``BaseContext``).

A context gives a Beaker kernel a purpose. Its class names the agent (``agent_cls``), the
languages it works in (its ``procedures/<language slug>/`` folders, or
``compatible_subkernels``), and declares actions and message handlers with
:func:`~.utils.action` and :func:`~.utils.intercept`. The kernel creates it as
``cls(beaker_kernel=<kernel>, config={"language": ..., "context_info": ...})`` and then
calls ``await context.setup(context_info=..., parent_header=...)`` with the new
subkernel already running. After each user cell it calls ``post_execute(message)`` (if
defined), then publishes :meth:`generate_preview` as ``preview`` and
:meth:`send_kernel_state` as ``kernel_state_info``.

This is upstream Beaker's context API, so contexts written for it run unmodified. See
``docs/contexts.md`` for a complete example.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ContextError, ProcedureError, ProcedureFailedError
from ..settings import parse_bool
from .procedures import ProcedureSet, languages_in, shared_folder
from .utils import (
    ACTION_ATTR,
    INTERCEPT_ATTR,
    LogMessageEncoder,
    action,
    ensure_async,
    execution_context,
)

if TYPE_CHECKING:
    from .subkernel import BeakerSubkernel
    from .utils import ExecutionTask

log = logging.getLogger(__name__)

TOOL_TOGGLE_PREFIX = "TOOL_ENABLED_"
_DEFAULT_AGENT = "beaker_kernel.lib.agent:BeakerAgent"


class BeakerContext:
    """Base class of every context."""

    #: The name front ends use in ``context_setup_request.context`` (default: the name of
    #: the package the context's module is in).
    SLUG: ClassVar[str]
    #: Sort order in front ends' lists and of ``GET /contexts`` (lower first).
    WEIGHT: ClassVar[int] = 50
    #: Subkernel slugs the context supports, in order; ``None``: the languages it has
    #: procedures for.
    compatible_subkernels: ClassVar[list[str] | None] = None
    #: The agent class, or ``"module:Class"`` (imported only when the agent is first
    #: needed, so a context without agent use never loads the LLM stack).
    agent_cls: ClassVar[Any] = None
    preview_function_name: ClassVar[str] = "generate_preview"
    kernel_state_function_name: ClassVar[str] = "send_kernel_state"

    beaker_kernel: Any
    subkernel: BeakerSubkernel
    config: dict[str, Any]

    def __init__(
        self,
        beaker_kernel: Any,
        agent_cls: Any = None,
        config: dict[str, Any] | None = None,
        integrations: list[Any] | None = None,
    ) -> None:
        self.beaker_kernel = beaker_kernel
        self.config = config if config is not None else {"language": "python3", "context_info": {}}
        self.integrations = integrations if integrations is not None else []
        self.intercepts: list[tuple[str, Any, str]] = []
        self.workflows: dict[str, Any] = {}
        self.current_workflow_state: Any = None
        self.current_llm_query: str | None = None
        self.notebook_state: dict[str, Any] | None = None
        self._agent_cls = agent_cls if agent_cls is not None else type(self).agent_cls
        self._agent: Any = None
        self.subkernel = self.get_subkernel()
        self.procedures = ProcedureSet(self.subkernel.SLUG, self.procedure_folders())
        self.jinja_env = self.procedures.environment
        self.intercepts = self._collect_intercepts()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass's auto_context gives the context-specific part of the agent's
        # context; the base method adds the kernel and notebook state around it.
        own = cls.__dict__.get("auto_context")
        if own is not None and own is not BeakerContext.__dict__["auto_context"]:
            cls._auto_context = own  # type: ignore[attr-defined]
            cls.auto_context = BeakerContext.__dict__["auto_context"]  # type: ignore[method-assign]

    # ------------------------------------------------------------ class-level facts

    @classmethod
    def context_folder(cls) -> Path:
        return Path(inspect.getfile(cls)).resolve().parent

    @classmethod
    def procedure_folders(cls) -> list[Path]:
        """``procedures`` folders searched, the most specific first, then the shared one."""
        folders: list[Path] = []
        for klass in cls.__mro__:
            if (
                isinstance(klass, type)
                and issubclass(klass, BeakerContext)
                and klass is not BeakerContext
            ):
                folder = klass.context_folder() / "procedures"
                if folder not in folders:
                    folders.append(folder)
        folders.append(shared_folder())
        return folders

    @classmethod
    def available_subkernels(cls) -> list[str]:
        """The subkernel slugs this context supports, in the order front ends list them."""
        from .subkernel import discover_subkernels

        subkernels = discover_subkernels()
        if cls.compatible_subkernels:
            return [slug for slug in cls.compatible_subkernels if slug in subkernels]
        own: set[str] = set()
        for folder in cls.procedure_folders()[:-1]:
            own |= languages_in(folder)
        ordered = sorted(subkernels.values(), key=lambda s: (s.WEIGHT, s.SLUG))
        return [s.SLUG for s in ordered if s.SLUG in own]

    @classmethod
    def default_payload(cls) -> str:
        """The ``context_info`` front ends offer by default, as a JSON string
        (``default_payload.json`` next to the context's module, or ``"{}"``)."""
        path = cls.context_folder() / "default_payload.json"
        if path.is_file():
            return path.read_text().strip()
        return "{}"

    @property
    def slug(self) -> str:
        """The context's slug (``SLUG``, else the name of its package)."""
        declared = getattr(type(self), "SLUG", None)
        if isinstance(declared, str) and declared:
            return declared
        package = inspect.getmodule(self) or inspect.getmodule(type(self))
        name = getattr(package, "__package__", None) or ""
        return name.rsplit(".", 1)[-1]

    @property
    def lang(self) -> str:
        return self.subkernel.KERNEL_NAME

    @property
    def metadata(self) -> dict[str, Any]:
        """The ``metadata`` procedure as JSON (``{}`` when there is none)."""
        try:
            value = json.loads(self.get_code("metadata"))
        except (ValueError, ProcedureError):
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def templates(self) -> dict[str, str]:
        """Procedure names of the current language (upstream kept template objects here)."""
        return {name: name for name in self.procedures.names()}

    def get_subkernel(self) -> BeakerSubkernel:
        """The subkernel for ``config["language"]`` (created by the kernel)."""
        subkernel: BeakerSubkernel = self.beaker_kernel.subkernel_for(
            self.config.get("language") or "python3", self
        )
        return subkernel

    # ------------------------------------------------------------ the agent

    @property
    def agent(self) -> Any:
        """The agent, created on first use (which is when archytas is imported)."""
        if self._agent is None:
            self._agent = self._create_agent()
        return self._agent

    @agent.setter
    def agent(self, value: Any) -> None:
        self._agent = value

    @agent.deleter
    def agent(self) -> None:
        self._agent = None

    @property
    def has_agent(self) -> bool:
        """Whether the agent exists already (asking never creates it)."""
        return self._agent is not None

    def agent_class(self) -> type[Any]:
        from .agent import BeakerAgent, resolve_agent_class

        return resolve_agent_class(self._agent_cls) if self._agent_cls else BeakerAgent

    def _create_agent(self) -> Any:
        agent = self.agent_class()(context=self, tools=self.subkernel.tools)
        self._agent = agent
        self.disable_tools()
        agent.set_auto_context("Default context", self.auto_context)
        return agent

    @classmethod
    def tool_enabled(cls, tool_name: str) -> bool:
        """Whether the agent tool ``tool_name`` is enabled in this context.

        A class attribute ``TOOL_ENABLED_<NAME>`` wins over the environment variable of
        the same name; either is ``true``/``false`` in any case; without both, enabled.
        """
        key = f"{TOOL_TOGGLE_PREFIX}{tool_name.upper()}"
        for attribute in dir(cls):
            if attribute.upper() == key:
                value = parse_bool(getattr(cls, attribute))
                break
        else:
            value = parse_bool(os.environ.get(key))
        return True if value is None else value

    def disable_tools(self) -> None:
        """Take the tools ``TOOL_ENABLED_<NAME>=false`` names away from the model."""
        agent = self._agent
        if agent is None:
            return
        disabled = [
            name for name in list(agent.tools) if not self.tool_enabled(name.rsplit(".", 1)[-1])
        ]
        if not disabled:
            return
        for name in disabled:
            del agent.tools[name]
        agent.model.lc_tools = None
        agent.model.set_tools(agent.tools)
        agent.update_system_prompt()

    async def default_preamble(self) -> str | None:
        return None

    async def auto_context(self) -> str:
        """What the agent is told about the notebook before every model call."""
        from .config import config

        parts: list[str] = []
        own = getattr(self, "_auto_context", None)
        if own is not None:
            text = await ensure_async(own())
            if text:
                parts.append(str(text))
        if config.send_kernel_state:
            state = await self._state_for_agent()
            if state:
                parts.append(state)
        if config.send_notebook_state and self.notebook_state:
            parts.append(
                "## Current notebook\n```application/x-ipynb+json\n"
                + json.dumps(self.notebook_state, cls=LogMessageEncoder)
                + "\n```"
            )
        return "\n\n".join(parts)

    async def _state_for_agent(self) -> str:
        import asyncio

        timeout = self.beaker_kernel.agent_settings.state_timeout
        limit = self.beaker_kernel.agent_settings.output_limit
        language = self.subkernel.DISPLAY_NAME
        heading = "## Kernel state\n"
        try:
            state = await asyncio.wait_for(self.get_subkernel_state(), timeout)
        except TimeoutError:
            return f"{heading}The user's {language} session is busy; its variables are unknown."
        except Exception as e:
            return f"{heading}The variables of the user's {language} session could not be read: {e}"
        text = json.dumps(state, cls=LogMessageEncoder)
        if len(text) > limit:
            text = text[: limit * 2 // 3] + " …[shortened]… " + text[-limit // 3 :]
        return f"## Kernel state\n```application/json\n{text}\n```"

    # ------------------------------------------------------------ life cycle

    async def setup(
        self,
        context_info: dict[str, Any] | None = None,
        parent_header: dict[str, Any] | None = None,
    ) -> None:
        """Prepare the subkernel for this context. Contexts override this."""
        if context_info:
            self.config["context_info"] = context_info
        agent_class = self._agent_cls if isinstance(self._agent_cls, type) else None
        if agent_class is not None and callable(getattr(agent_class, "setup", None)):
            await self.agent.setup(self.config.get("context_info"), parent_header=parent_header)
        preamble = await self.default_preamble()
        if preamble:
            self.agent.chat_history.set_user_preamble_text(preamble)

    def cleanup(self) -> None:
        """The context is being replaced (or the kernel stops)."""
        self.subkernel.cleanup()
        agent = self._agent
        if agent is not None and hasattr(agent, "interrupt"):
            agent.interrupt()

    # ------------------------------------------------------------ running code

    def get_code(
        self, name: str, render_dict: dict[str, Any] | None = None, /, **variables: Any
    ) -> str:
        """Procedure ``name`` of the current language, rendered with ``render_dict`` and
        ``variables``. Raises :class:`~beaker_kernel.errors.ProcedureNotFoundError` (also a
        ``ValueError``) when there is none."""
        values = dict(render_dict or {})
        values.update(variables)
        return self.procedures.render(name, **values)

    def execute(
        self,
        command: str,
        response_handler: Any = None,
        parent_header: dict[str, Any] | None = None,
        store_history: bool = False,
        surpress_messages: bool = True,
        identities: list[bytes] | None = None,
        cc_messages: bool = True,
        raise_on_error: bool = True,
    ) -> ExecutionTask:
        """Run ``command`` in the subkernel; returns the task of its execution.

        Awaiting the task gives ``{id, command, stdout_list, stderr_list,
        display_data_list, return, error, done, result, parent}``. With
        ``surpress_messages=False`` the front end sees the execution like a cell (its
        ``execute_request`` is ``task.execute_request_msg``; pass ``identities`` to route
        its reply). A failing command does not raise (as in upstream Beaker): its
        ``error`` is set, logged, and shown to front ends as ``beaker__error``.
        """
        task: ExecutionTask = self.beaker_kernel.execute_task(
            command,
            parent_header=parent_header,
            store_history=store_history,
            visible=not surpress_messages,
            identities=identities,
            carbon_copy=cc_messages,
            response_handler=response_handler,
        )
        return task

    async def evaluate(
        self, expression: str, parent_header: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """:meth:`execute` ``expression``; ``result["return"]`` is then its decoded value
        (see :meth:`BeakerSubkernel.parse_subkernel_return`)."""
        result: dict[str, Any] = await self.execute(expression, parent_header=parent_header)
        try:
            result["return"] = self.subkernel.parse_subkernel_return(result)
        except Exception:
            log.warning(
                "Could not decode what %s returned", self.subkernel.DISPLAY_NAME, exc_info=True
            )
        return result

    async def run_procedure(self, name: str, /, **variables: Any) -> Any:
        """Render procedure ``name``, run it, and return the JSON document it printed.

        Raises :class:`~beaker_kernel.errors.ProcedureFailedError` when the code raised.
        """
        code = self.get_code(name, **variables)
        result: dict[str, Any] = await self.execute(code)
        error = result.get("error") or (
            result.get("result") if (result.get("result") or {}).get("status") == "error" else None
        )
        if error:
            ename, evalue = str(error.get("ename", "Error")), str(error.get("evalue", ""))
            raise ProcedureFailedError(
                f"Procedure {name!r} failed: the code raised {ename} in the subkernel: {evalue}",
                subkernel_ename=ename,
                subkernel_evalue=evalue,
                traceback=[str(line) for line in error.get("traceback", [])],
            )
        text = "".join(result.get("stdout_list") or []).strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise ProcedureFailedError(
                f"Procedure {name!r} did not print a single JSON document: {e}; "
                f"it printed {text[:200]!r}"
            ) from e

    # ------------------------------------------------------------ previews and state

    @property
    def preview(self) -> Any:
        """The preview coroutine function (``generate_preview``), if the context has one."""
        function = getattr(self, self.preview_function_name, None)
        return function if inspect.iscoroutinefunction(function) else None

    @property
    def kernel_state(self) -> Any:
        function = getattr(self, self.kernel_state_function_name, None)
        return function if inspect.iscoroutinefunction(function) else None

    async def get_subkernel_state(self) -> Any:
        """The user's variables, as :attr:`BeakerSubkernel.FETCH_STATE_CODE` reports them."""
        with execution_context("kernel_state_info", self.slug):
            result = await self.evaluate(self.subkernel.FETCH_STATE_CODE)
        for warning in result.get("stderr_list") or []:
            log.warning("%s", warning)
        if result.get("error"):
            raise ProcedureFailedError(
                f"Reading the variables failed: {result['error'].get('ename')}: "
                f"{result['error'].get('evalue')}"
            )
        return result.get("return")

    async def send_kernel_state(self) -> dict[str, Any]:
        """The ``kernel_state_info`` payload: the user's variables, formatted for display."""
        state = await self.get_subkernel_state()
        return {
            "x-application/beaker-subkernel-state": {
                "application/json": self.subkernel.format_kernel_state(state or {})
            }
        }

    # ------------------------------------------------------------ messages

    def send_response(
        self,
        stream: str,
        msg_or_type: str,
        content: Any = None,
        channel: Any = None,
        parent_header: dict[str, Any] | None = None,
        parent_identities: list[bytes] | None = None,
    ) -> Any:
        """Send a message of the context's own to the front ends (usually on ``iopub``)."""
        return self.beaker_kernel.send_response(
            stream, msg_or_type, content, channel, parent_header or {}, parent_identities
        )

    def _collect_intercepts(self) -> list[tuple[str, Any, str]]:
        """``(msg_type, bound method, stream)`` of every handler of the context and subkernel."""
        found: list[tuple[str, Any, str]] = []
        for target in (self, self.subkernel):
            klass = type(target)
            for name in dir(klass):
                raw = inspect.getattr_static(klass, name, None)
                function = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
                marker = getattr(function, INTERCEPT_ATTR, None)
                if not marker:
                    continue
                enabled = getattr(function, "_enabled", None)
                if callable(enabled) and not _call_enabled(enabled, target):
                    continue
                msg_type, stream = marker
                found.append((msg_type, getattr(target, name), stream))
        return found

    async def get_info(self) -> dict[str, Any]:
        """What front ends learn about the context (``context_setup_response``)."""
        custom_messages: dict[str, Any] = {}
        actions: dict[str, Any] = {}
        for msg_type, method, _stream in self.intercepts:
            function = getattr(method, "__func__", method)
            described = {
                "func": f"{function.__module__}.{type(self).__name__}.{function.__name__}",
                "docs": getattr(function, "_docs", None),
                "default_payload": getattr(function, "_default_payload", None),
            }
            action_name = getattr(function, ACTION_ATTR, None)
            if action_name is None:
                custom_messages[msg_type] = described
            elif getattr(function, "_scope", "global") in ("external", "global"):
                actions[action_name] = {"intercept": msg_type, **described}
        agent_info = await self._agent_info()
        return {
            "language": self.subkernel.DISPLAY_NAME,
            "subkernel": self.subkernel.KERNEL_NAME,
            "actions": actions,
            "custom_messages": custom_messages,
            "procedures": self.procedures.names(),
            "workflow_info": {"state": self.current_workflow_state, "workflows": {}},
            "agent": agent_info,
            "debug": bool(self.beaker_kernel.debug_enabled),
            "verbose": bool(self.beaker_kernel.verbose),
        }

    async def _agent_info(self) -> dict[str, Any] | None:
        """The agent's info, without creating the agent, and without importing the LLM
        stack while the agent's module is not imported yet (see :mod:`.agent_info`)."""
        import asyncio

        from .agent_info import describe_imported, describe_without_import

        if self._agent is not None:
            info: dict[str, Any] = self._agent.get_info()
            return info
        try:
            static = describe_without_import(self._agent_cls or _DEFAULT_AGENT, self.tool_enabled)
            if static is not None:
                return static
            cls = await asyncio.to_thread(self.agent_class)
            return describe_imported(cls, self.subkernel.tools, self.tool_enabled)
        except Exception as e:
            log.warning("Cannot describe the agent of context %r: %s", self.slug, e)
            return None

    # ------------------------------------------------------------ built-in actions

    @action(action_name="get_subkernel_state", default_payload="{}")
    async def get_subkernel_state_action(self, message: Any) -> Any:
        """The variables, functions, classes and modules of the user's session."""
        state = await self.get_subkernel_state()
        self.send_response(
            "iopub", "get_subkernel_state_response", state, parent_header=message.header
        )
        return state

    @action(default_payload="{}")
    async def get_preview(self, message: Any) -> Any:
        """The context's current preview, if it has one."""
        if self.preview is None:
            return None
        with execution_context("preview", self.slug):
            return await self.preview()

    @action(default_payload="{}")
    async def get_agent_history(self, message: Any) -> Any:
        """The agent's conversation: a list of serialised messages, the system message first."""
        from ..agent.history import dump_history

        return dump_history(self.agent)

    @action(default_payload="[]")
    async def set_agent_history(self, message: Any) -> Any:
        """Replace the agent's conversation by the list :meth:`get_agent_history` returns."""
        from ..agent.history import load_history

        self.beaker_kernel.ensure_agent_idle("replacing its history")
        count = load_history(self.agent, message.content)
        await self.beaker_kernel.send_chat_history(message.header)
        return {"messages": count}

    @action(default_payload='{"message_text": ""}')
    async def set_user_preamble(self, message: Any) -> Any:
        """Put a message of the user's before the conversation (kept across requests)."""
        text = str((message.content or {}).get("message_text", "")).strip()
        self.agent.chat_history.set_user_preamble_text(text)
        self.send_response(
            "iopub",
            "stream",
            {"name": "stdout", "text": f"Message added to chat history: {text}"},
            parent_header=message.header,
        )
        await self.beaker_kernel.send_chat_history(message.header)
        return {"success": True, "message": "Message added to chat history"}


def _call_enabled(enabled: Any, target: Any) -> bool:
    """Ask an action's ``enabled`` (upstream's takes nothing; Beaker's may take the object)."""
    try:
        takes_target = len(inspect.signature(enabled).parameters) >= 1
    except (TypeError, ValueError):
        takes_target = False
    return bool(enabled(target) if takes_target else enabled())


#: Upstream Beaker's older name.
BaseContext = BeakerContext


__all__ = ["BaseContext", "BeakerContext", "ContextError"]
