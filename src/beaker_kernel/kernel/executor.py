"""Internal executions: code Beaker runs in the subkernel for itself.

Procedures, previews, the agent's tools and the start-up ``kernel_info`` probe send
requests of Beaker's own to the subkernel. Their replies and iopub output are recognised
by the request's ``msg_id`` (the parent of everything the subkernel sends about it),
collected here and never forwarded to the front end.

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

from ..errors import ProcedureFailedError, SubkernelDiedError
from ..interface import ExecutionResult
from ..wire import Frames, encode
from .link import SubkernelLink

_target: contextvars.ContextVar[SubkernelLink | None] = contextvars.ContextVar(
    "beaker_target_link", default=None
)

#: How many given-up requests to remember before forgetting them all.
_RETIRED_LIMIT = 1000


@contextlib.contextmanager
def targeting(link: SubkernelLink) -> Iterator[None]:
    """Run internal executions started inside this block in ``link``'s subkernel."""
    token = _target.set(link)
    try:
        yield
    finally:
        _target.reset(token)


@dataclass
class _Execution:
    future: asyncio.Future[ExecutionResult]
    link: SubkernelLink
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
                )
            )

    def collect(self, frames: Frames) -> None:
        msg_type = frames.header().get("msg_type")
        if msg_type == "status":
            if frames.content().get("execution_state") == "idle":
                self.idle = True
                self.finish_if_done()
        elif msg_type == "stream":
            content = frames.content()
            target = self.stdout if content.get("name") == "stdout" else self.stderr
            target.append(str(content.get("text", "")))
        elif msg_type in ("display_data", "execute_result"):
            self.displays.append(frames.content())
        elif msg_type == "error":
            self.error = frames.content()


class InternalExecutor:
    """Sends Beaker's own requests to the subkernel and collects what comes back."""

    def __init__(
        self,
        running_link: Callable[[], Awaitable[SubkernelLink]],
        on_execute: Callable[[], None] = lambda: None,
    ) -> None:
        self._running_link = running_link
        self._on_execute = on_execute
        self._executions: dict[str, _Execution] = {}
        # Requests given up on (timeout): msg_id → how many of (reply, idle) are still to
        # come. Their late output is dropped, not shown to the front end; forgotten when
        # both came, so the iopub relay goes back to not decoding parent headers.
        self._retired: dict[str, int] = {}

    @property
    def active(self) -> bool:
        """Whether iopub messages may belong to an internal execution (else: none do)."""
        return bool(self._executions or self._retired)

    # ------------------------------------------------------------ fed by the relay

    def take_reply(self, msg_id: Any, frames: Frames) -> bool:
        """Whether the shell reply ``frames`` (to ``msg_id``) was Beaker's own."""
        if not isinstance(msg_id, str):
            return False
        execution = self._executions.get(msg_id)
        if execution is not None:
            execution.reply = frames.content()
            execution.finish_if_done()
            return True
        if msg_id in self._retired:
            self._retired_seen(msg_id)
            return True
        return False

    def take_iopub(self, parent_id: Any, frames: Frames) -> bool:
        """Whether the iopub message ``frames`` (parented to ``parent_id``) was Beaker's own."""
        if not isinstance(parent_id, str):
            return False
        execution = self._executions.get(parent_id)
        if execution is not None:
            execution.collect(frames)
            return True
        if parent_id in self._retired:
            header = frames.header()
            if header.get("msg_type") == "status" and (
                frames.content().get("execution_state") == "idle"
            ):
                self._retired_seen(parent_id)
            return True
        return False

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
    ) -> ExecutionResult:
        """Send a shell request of Beaker's own and wait for its reply and ``idle``."""
        link = link or _target.get() or await self._running_link()
        msg = link.session.msg(msg_type, content)
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        msg_id = msg["header"]["msg_id"]
        self._executions[msg_id] = _Execution(future, link)
        try:
            await link.shell.send_multipart(encode(link.session, msg))
            return await asyncio.wait_for(future, timeout)
        finally:
            execution = self._executions.pop(msg_id, None)
            if execution is not None and not future.done():
                if len(self._retired) > _RETIRED_LIMIT:
                    self._retired.clear()
                remaining = 2 - (execution.reply is not None) - execution.idle
                if remaining > 0:
                    self._retired[msg_id] = remaining

    async def execute(
        self, code: str, *, timeout: float | None = None, link: SubkernelLink | None = None
    ) -> ExecutionResult:
        """Run ``code`` in the subkernel without it showing up as a user cell."""
        self._on_execute()
        return await self.request(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": False,
            },
            timeout=timeout,
            link=link,
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


__all__ = ["InternalExecutor", "SubkernelDiedError", "targeting"]
