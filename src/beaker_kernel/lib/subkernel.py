"""Subkernels: the languages Beaker runs user code in (``beaker_kernel.lib.subkernel``).

A :class:`BeakerSubkernel` subclass describes one language the way upstream Beaker does
(``SLUG``, ``KERNEL_NAME``, ``DISPLAY_NAME``, ``WEIGHT``, ``FETCH_STATE_CODE``,
:meth:`~BeakerSubkernel.parse_subkernel_return`, :meth:`~BeakerSubkernel.format_kernel_state`)
and also knows which installed kernelspecs run it. The class is what the kernel resolves
a front end's ``language`` to; a context gets an *instance*, bound to the running
subkernel, as ``context.subkernel``.

Subkernels are plugins: entry points in the group ``beaker.subkernels`` and upstream's
``share/beaker/subkernels/<slug>.json`` mappings. The built-in ones are registered the
same way as third-party ones.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import MessageError, SubkernelUnavailableError, UnknownLanguageError
from .utils import action

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "beaker.subkernels"

#: A checkpoint as upstream describes it: variable name → file holding its value.
Checkpoint = dict[str, str]

_STATE_SECTIONS = ("modules", "variables", "functions", "classes")
_SHORT_VALUE = 10


class BeakerSubkernel:
    """One subkernel language. Subclasses set the class attributes."""

    #: Human-readable language name (``get_info()["language"]``).
    DISPLAY_NAME: ClassVar[str]
    #: The language name front ends use (``context_setup_request.language``).
    SLUG: ClassVar[str]
    #: The kernelspec name usually running this language; on an instance, the one running.
    KERNEL_NAME: str
    #: Sort order in front ends' lists (lower first).
    WEIGHT: ClassVar[int] = 50
    #: Code whose evaluation returns the user's variables (see :meth:`format_kernel_state`).
    FETCH_STATE_CODE: str = ""
    #: Kernelspec names tried first, in order.
    kernelspec_names: ClassVar[tuple[str, ...]] = ()
    #: Kernelspec ``language`` values (lower case) that also identify this language.
    kernelspec_languages: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        jupyter_id: str | None = None,
        subkernel_configuration: dict[str, Any] | None = None,
        context: Any = None,
    ) -> None:
        self.jupyter_id = jupyter_id
        self.subkernel_configuration = subkernel_configuration or {}
        self.context = context
        # Upstream's proxy client; Beaker owns the sockets, so there is none.
        self.connected_kernel: Any = None
        if not isinstance(self.__dict__.get("KERNEL_NAME"), str):
            self.KERNEL_NAME = type(self).default_kernel_name()

    @classmethod
    def default_kernel_name(cls) -> str:
        name = getattr(cls, "KERNEL_NAME", None)
        if isinstance(name, str) and name:
            return name
        return cls.kernelspec_names[0] if cls.kernelspec_names else cls.SLUG

    def bind(self, kernel_name: str, jupyter_id: str | None) -> None:
        """Record which kernel runs this language now (called by the kernel)."""
        self.KERNEL_NAME = kernel_name
        self.jupyter_id = jupyter_id

    # ------------------------------------------------------------ finding the kernelspec

    @classmethod
    def matches_kernelspec(cls, name: str, spec: Mapping[str, Any]) -> bool:
        """Whether the kernelspec ``name`` (``spec`` = its kernel.json) runs this language."""
        language = str(spec.get("language", "")).lower()
        return name in cls.kernelspec_names or language in cls.kernelspec_languages

    @classmethod
    def answers_to(cls, name: str) -> bool:
        """Whether a front end's language ``name`` means this subkernel.

        Front ends send the slug or a kernelspec name (``python3``, ``ir``,
        ``julia-1.10``, a container kernelspec such as ``ir-docker``) — Terarium stores the
        ``subkernel`` of a reply and sends it back as the language.
        """
        if name in (cls.SLUG, cls.default_kernel_name()) or name in cls.kernelspec_names:
            return True
        return any(
            name.startswith(f"{prefix}-")
            for prefix in (*cls.kernelspec_languages, *cls.kernelspec_names, cls.SLUG)
        )

    @classmethod
    def choose_kernelspec(cls, specs: Mapping[str, Mapping[str, Any]], wanted: str = "") -> str:
        """The kernelspec that runs this language among ``specs`` (name → kernel.json).

        ``wanted`` (a kernelspec name a front end sent as its language) wins when it is
        installed. Raises :class:`SubkernelUnavailableError` when none runs it.
        """
        if wanted and wanted in specs and cls.matches_kernelspec(wanted, specs[wanted]):
            return wanted
        for name in cls.kernelspec_names:
            if name in specs:
                return name
        for name in sorted(specs):
            if cls.matches_kernelspec(name, specs[name]):
                return name
        raise SubkernelUnavailableError(
            f"No kernel for {cls.DISPLAY_NAME} is installed (looked for kernelspecs "
            f"{', '.join(cls.kernelspec_names) or '-'} or language "
            f"{', '.join(cls.kernelspec_languages)}). Installed kernels: "
            f"{', '.join(sorted(specs)) or 'none'}."
        )

    # ------------------------------------------------------------ results and state

    @classmethod
    def parse_subkernel_return(cls, execution_result: Mapping[str, Any]) -> Any:
        """The value an evaluation produced, decoded (see :meth:`BeakerContext.evaluate`).

        The default reads, in order: the ``execute_result`` text as a Python literal
        (what a kernel shows for the last expression), then the JSON document the code
        printed to stdout.
        """
        value = execution_result.get("return")
        if isinstance(value, str) and value:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
        return parse_printed_json(execution_result)

    def format_kernel_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The user's variables as the trees front ends show (``kernel_state_info``).

        ``state`` is what :attr:`FETCH_STATE_CODE` returns: ``{modules, variables,
        functions, classes}``, each ``{name: details}``.
        """
        formatted: dict[str, Any] = {section: {} for section in _STATE_SECTIONS}
        for name, details in dict(state.get("modules") or {}).items():
            full_name = str(details.get("full_name", name))
            label = name if full_name == name else f"{name}: {full_name}"
            formatted["modules"][name] = {
                "label": label,
                "children": [{"label": f"import path: {details.get('path', '(built in)')}"}],
            }
        for name, details in dict(state.get("variables") or {}).items():
            size = str(details.get("size", ""))
            contents = str(details.get("value", ""))
            short = contents if len(contents) <= _SHORT_VALUE else contents[:_SHORT_VALUE] + "..."
            suffix = f"[{size}]" if size else ""
            text = f"(truncated)\n{contents}" if details.get("truncated") else contents
            formatted["variables"][name] = {
                "label": f"{name} ({details.get('type', '?')}{suffix}): {short}",
                "children": [{"label": text}],
            }
        for name, details in dict(state.get("functions") or {}).items():
            entry: dict[str, Any] = {"label": f"{name} {details.get('signature', '')}".strip()}
            if details.get("docstring"):
                entry["children"] = [{"label": str(details["docstring"])}]
            formatted["functions"][name] = entry
        for name, details in dict(state.get("classes") or {}).items():
            entry = {"label": name}
            if details.get("docstring"):
                entry["children"] = [{"label": str(details["docstring"])}]
            formatted["classes"][name] = entry
        return formatted

    # ------------------------------------------------------------ life cycle

    async def setup(self) -> None:
        """Runs in the subkernel after the context's own setup (nothing by default)."""

    def cleanup(self) -> None:
        """The context using this subkernel goes away. Beaker itself stops processes."""

    @property
    def tools(self) -> list[Any]:
        """The agent tools this language offers (upstream: ``run_code``)."""
        from ..agent.tools import run_code

        return [run_code]

    def get_treesitter_language(self) -> Any:
        raise NotImplementedError(f"No code analysis for {self.DISPLAY_NAME}")


def parse_printed_json(execution_result: Mapping[str, Any]) -> Any:
    """The JSON document the code printed to stdout, or ``None`` when it printed nothing."""
    text = "".join(str(chunk) for chunk in execution_result.get("stdout_list") or []).strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _checkpoints_on(subkernel: Any) -> bool:
    kernel = getattr(getattr(subkernel, "context", None), "beaker_kernel", None)
    return bool(getattr(kernel, "checkpoints_enabled", False))


class CheckpointableBeakerSubkernel(BeakerSubkernel):
    """A subkernel whose variables can be saved and restored (see ``docs/checkpoints.md``).

    Offers the actions ``add_checkpoint`` (returns the new index) and ``rollback
    {checkpoint_index}`` while checkpoints are on (``ENABLE_CHECKPOINTS``).
    """

    SERIALIZATION_EXTENSION: str = "storage"

    @property
    def checkpoints_enabled(self) -> bool:
        return _checkpoints_on(self)

    async def _store(self) -> Any:
        kernel = getattr(self.context, "beaker_kernel", None)
        store = await kernel.checkpoint_store() if kernel is not None else None
        if store is None:
            raise RuntimeError("Checkpoints are not enabled (ENABLE_CHECKPOINTS=false)")
        return store

    async def add_checkpoint(self) -> int:
        """Save the user's variables; returns the checkpoint's index."""
        checkpoint = await (await self._store()).add()
        return int(checkpoint.index)

    async def rollback(self, checkpoint_index: int) -> Any:
        """Restore the variables of checkpoint ``checkpoint_index``; returns what was done."""
        return await (await self._store()).rollback(checkpoint_index)

    async def checkpoint_and_execute(
        self,
        code: str,
        surpress_messages: bool = False,
        parent_header: dict[str, Any] | None = None,
        identities: list[bytes] | None = None,
    ) -> tuple[int | None, Any]:
        """Save a checkpoint, then start running ``code``; returns ``(index, task)``."""
        index = await self.add_checkpoint() if self.checkpoints_enabled else None
        assert self.context is not None
        task = self.context.execute(
            code,
            store_history=True,
            surpress_messages=surpress_messages,
            parent_header=parent_header or {},
            identities=identities,
        )
        return index, task

    @action(
        action_name="rollback", default_payload='{"checkpoint_index": 1}', enabled=_checkpoints_on
    )
    async def rollback_action(self, message: Any) -> Any:
        """Bring the variables back to how they were at a checkpoint (the agent makes one
        before each run_code); later checkpoints are dropped."""
        index = (message.content or {}).get("checkpoint_index")
        if type(index) is not int:
            raise MessageError(
                "rollback needs checkpoint_index: the integer add_child_codecell carried, "
                f"got {index!r}"
            )
        report = await self.rollback(index)
        return report.summary()

    @action(action_name="add_checkpoint", default_payload="{}", enabled=_checkpoints_on)
    async def add_checkpoint_action(self, message: Any) -> Any:
        """Save the user's variables now; returns the checkpoint's index."""
        return await self.add_checkpoint()


# Names of upstream Beaker's older releases.
BaseSubkernel = BeakerSubkernel
BaseCheckpointableSubkernel = CheckpointableBeakerSubkernel


def get_subkernel(
    name: str, subkernels: Mapping[str, type[BeakerSubkernel]]
) -> type[BeakerSubkernel]:
    """The subkernel class that answers to the front end's language ``name``."""
    if name in subkernels:
        return subkernels[name]
    for subkernel in sorted(subkernels.values(), key=lambda cls: (cls.WEIGHT, cls.SLUG)):
        if subkernel.answers_to(name):
            return subkernel
    raise UnknownLanguageError(
        f"Unknown language {name!r}. Known languages: {', '.join(sorted(subkernels))} "
        "(or the name of a kernel that runs one of them)."
    )


def discover_subkernels() -> dict[str, type[BeakerSubkernel]]:
    """Every installed subkernel class, by slug (its ``SLUG``): entry points in the group
    ``beaker.subkernels``, then upstream's ``share/beaker/subkernels`` mappings."""
    from .plugins import discover

    found = discover("subkernels", ENTRY_POINT_GROUP, BeakerSubkernel)
    return {getattr(cls, "SLUG", slug): cls for slug, cls in found.classes.items()}


#: Upstream Beaker's name.
autodiscover_subkernels = discover_subkernels


def runs_locally(spec: Any) -> bool:
    """Whether a kernelspec's kernel sees this machine's files (it is not in a container).

    Kernels of the local provisioner do, unless the kernelspec says otherwise with
    ``"metadata": {"beaker": {"local_files": false}}`` (a kernelspec that starts a
    container itself, say).
    """
    metadata = spec.get("metadata", {}) if isinstance(spec, dict) else {}
    declared = (metadata.get("beaker") or {}).get("local_files")
    if isinstance(declared, bool):
        return declared
    provisioner = (metadata.get("kernel_provisioner") or {}).get("provisioner_name", "")
    return provisioner in ("", "local-provisioner")
