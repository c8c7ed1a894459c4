"""Executions of Beaker's own in the subkernel.

Procedures, previews, the agent's tools and the start-up ``kernel_info`` probe send
requests of Beaker's own to the subkernel. Their replies and iopub output are recognised
by the request's ``msg_id`` (the parent of everything the subkernel sends about it) and
collected here. Output of an *internal* execution never reaches the front end; a
*visible* one (the agent's ``run_code``) is collected and also forwarded, exactly as the
subkernel sent it, so the front end's child cell fills.

For internal executions run while Beaker handles a request, copies of ``execute_input``,
``error`` and ``execute_reply`` go to the front end as ``beaker__<type>``, parented to
that request and labelled with ``execution_type`` and ``execution_item_name`` (upstream
Beaker's carbon copies; a setting turns them off).

While a new subkernel is prepared (a context's setup during a language change), the code
must run in that subkernel and not in the one still current: :func:`targeting` sets the
link for everything run from inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProcedureFailedError
from ..interface import ExecutionResult
from ..lib.utils import current_parent_header, get_execution_context
from ..wire import Frames, encode
from .link import SubkernelLink

_target: contextvars.ContextVar[SubkernelLink | None] = contextvars.ContextVar(
    "beaker_target_link", default=None
)

#: How many given-up requests to remember before forgetting them all.
_RETIRED_LIMIT = 1000

#: Publishes a carbon copy: (header of the original, content, parent header).
CopySender = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], None]


@contextlib.contextmanager
def targeting(link: SubkernelLink) -> Iterator[None]:
    """Run executions started inside this block in ``link``'s subkernel."""
    token = _target.set(link)
    try:
        yield
    finally:
        _target.reset(token)


@dataclass
class CarbonCopy:
    """Where the ``beaker__`` copies of an internal execution go, and their labels."""

    parent: dict[str, Any]
    execution_type: str
    execution_item_name: str | None

    def label(self, content: dict[str, Any]) -> dict[str, Any]:
        labelled = {**content, "execution_type": self.execution_type}
        if self.execution_item_name:
            labelled["execution_item_name"] = self.execution_item_name
        return labelled


@dataclass
class _Execution:
    future: asyncio.Future[ExecutionResult]
    link: SubkernelLink
    visible: bool = False
    copy: CarbonCopy | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    displays: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None
    idle: bool = False

    def finish_if_done(self) -> None:
        if self.reply is not None and self.idle and not self.future.done():
            self.future.set_result(
                ExecutionResult(
                    stdout="".join(self.stdout),
                    stderr="".join(self.stderr),
                    displays=self.displays,
                    error=self.error,
                    reply=self.reply,
                    stdout_chunks=list(self.stdout),
                    stderr_chunks=list(self.stderr),
                )
            )


class InternalExecutor:
    """Sends Beaker's own requests to the subkernel and collects what comes back."""

    def __init__(
        self,
        running_link: Callable[[], Awaitable[SubkernelLink]],
        on_execute: Callable[[], None] = lambda: None,
        send_copy: CopySender | None = None,
    ) -> None:
        self._running_link = running_link
        self._on_execute = on_execute
        self._send_copy = send_copy
        self.carbon_copies = True
        self._executions: dict[str, _Execution] = {}
        # Requests given up on (timeout): msg_id → how many of (reply, idle) are still to
        # come. Their late output is dropped, not shown to the front end; forgotten when
        # both came, so the iopub relay goes back to not decoding parent headers.
        self._retired: dict[str, int] = {}

    @property
    def active(self) -> bool:
        """Whether iopub messages may belong to an execution of Beaker's (else: none do)."""
        return bool(self._executions or self._retired)

    def running(self) -> set[str]:
        """msg_ids of the executions under way."""
        return set(self._executions)

    # ------------------------------------------------------------ fed by the relay

    def take_reply(self, msg_id: Any, frames: Frames) -> bool:
        """Whether the shell reply ``frames`` (to ``msg_id``) stays with Beaker."""
        if not isinstance(msg_id, str):
            return False
        execution = self._executions.get(msg_id)
        if execution is not None:
            execution.reply = frames.content()
            self._copy(execution, frames, "execute_reply")
            execution.finish_if_done()
            return not execution.visible
        if msg_id in self._retired:
            self._retired_seen(msg_id)
            return True
        return False

    def take_iopub(self, parent_id: Any, frames: Frames) -> bool:
        """Whether the iopub message ``frames`` (parented to ``parent_id``) stays with Beaker."""
        if not isinstance(parent_id, str):
            return False
        execution = self._executions.get(parent_id)
        if execution is not None:
            self._collect(execution, frames)
            return not execution.visible
        if parent_id in self._retired:
            header = frames.header()
            if header.get("msg_type") == "status" and (
                frames.content().get("execution_state") == "idle"
            ):
                self._retired_seen(parent_id)
            return True
        return False

    def _collect(self, execution: _Execution, frames: Frames) -> None:
        msg_type = frames.header().get("msg_type")
        if msg_type == "status":
            if frames.content().get("execution_state") == "idle":
                execution.idle = True
                execution.finish_if_done()
        elif msg_type == "stream":
            content = frames.content()
            target = execution.stdout if content.get("name") == "stdout" else execution.stderr
            target.append(str(content.get("text", "")))
        elif msg_type in ("display_data", "execute_result"):
            execution.displays.append(frames.content())
        elif msg_type == "error":
            execution.error = frames.content()
            self._copy(execution, frames, "error")
        elif msg_type == "execute_input":
            self._copy(execution, frames, "execute_input")

    def _copy(self, execution: _Execution, frames: Frames, msg_type: str) -> None:
        copy = execution.copy
        if copy is None or self._send_copy is None or not self.carbon_copies:
            return
        header = {**frames.header(), "msg_type": f"beaker__{msg_type}"}
        self._send_copy(header, copy.label(frames.content()), copy.parent)

    def fail_link(self, link: SubkernelLink, error: Exception) -> None:
        """Fail every execution waiting for ``link``'s subkernel with ``error``."""
        for msg_id, execution in list(self._executions.items()):
            if execution.link is link:
                del self._executions[msg_id]
                if not execution.future.done():
                    execution.future.set_exception(error)

    def _retired_seen(self, msg_id: str) -> None:
        remaining = self._retired.get(msg_id, 0) - 1
        if remaining > 0:
            self._retired[msg_id] = remaining
        else:
            self._retired.pop(msg_id, None)

    # ------------------------------------------------------------ running code

    async def request(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        timeout: float | None = None,
        link: SubkernelLink | None = None,
        msg: dict[str, Any] | None = None,
        idents: list[bytes] | None = None,
        visible: bool = False,
        carbon_copy: bool = False,
    ) -> ExecutionResult:
        """Send a shell request of Beaker's own and wait for its reply and ``idle``.

        ``msg`` is the message to send when the caller made it already (to announce it
        first); ``idents`` route a visible execution's reply to a front end.
        """
        link = link or _target.get() or await self._running_link()
        if msg is None:
            msg = link.session.msg(msg_type, content)
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        msg_id = msg["header"]["msg_id"]
        self._executions[msg_id] = _Execution(
            future, link, visible=visible, copy=self._carbon_copy() if carbon_copy else None
        )
        try:
            sending = link.send("shell", encode(link.session, msg, idents))
            if sending is not None:
                await sending
            return await asyncio.wait_for(future, timeout)
        finally:
            execution = self._executions.pop(msg_id, None)
            if execution is not None and not future.done() and not execution.visible:
                if len(self._retired) > _RETIRED_LIMIT:
                    self._retired.clear()
                remaining = 2 - (execution.reply is not None) - execution.idle
                if remaining > 0:
                    self._retired[msg_id] = remaining

    def _carbon_copy(self) -> CarbonCopy | None:
        parent = current_parent_header()
        if not parent:
            return None
        labels = get_execution_context() or {}
        return CarbonCopy(
            parent=parent,
            execution_type=str(labels.get("type") or "unknown"),
            execution_item_name=labels.get("name"),
        )

    async def execute(
        self,
        code: str,
        *,
        timeout: float | None = None,
        link: SubkernelLink | None = None,
        msg: dict[str, Any] | None = None,
        idents: list[bytes] | None = None,
        visible: bool = False,
        store_history: bool = False,
        carbon_copy: bool = True,
    ) -> ExecutionResult:
        """Run ``code`` in the subkernel (out of the user's sight unless ``visible``)."""
        self._on_execute()
        return await self.request(
            "execute_request",
            execute_content(code, store_history=store_history, allow_stdin=visible),
            timeout=timeout,
            link=link,
            msg=msg,
            idents=idents,
            visible=visible,
            carbon_copy=carbon_copy and not visible,
        )

    async def evaluate(
        self, code: str, *, timeout: float | None = None, link: SubkernelLink | None = None
    ) -> Any:
        """Run ``code`` and decode what it printed to stdout as one JSON document.

        Procedures report values this way in every language. Raises
        :class:`ProcedureFailedError` when the code raised.
        """
        result = await self.execute(code, timeout=timeout, link=link)
        if result.failed:
            error = result.error or result.reply or {}
            ename = str(error.get("ename", "Error"))
            evalue = str(error.get("evalue", ""))
            raise ProcedureFailedError(
                f"The code raised {ename} in the subkernel: {evalue}",
                subkernel_ename=ename,
                subkernel_evalue=evalue,
                traceback=[str(line) for line in error.get("traceback", [])],
            )
        text = result.stdout.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise ProcedureFailedError(
                f"The code did not print a single JSON document: {e}; it printed {text[:200]!r}"
            ) from e


def execute_content(
    code: str, *, store_history: bool = False, allow_stdin: bool = False
) -> dict[str, Any]:
    return {
        "silent": False,
        "store_history": store_history,
        "user_expressions": {},
        "allow_stdin": allow_stdin,
        "stop_on_error": False,
        "code": code,
    }


__all__ = ["CarbonCopy", "InternalExecutor", "execute_content", "targeting"]
