"""Beaker's cell magics, answered by the kernel instead of the subkernel.

``%set_context <context> <language> <context_info JSON>``
    sets up a context from a cell: stdout ``Switching from context … to …...``, the
    set-up's messages, iopub ``context_info_update {}``, stdout ``Context switch
    complete.``
``%run_action <action> <payload JSON>``
    calls an action of the current context: stdout ``Running action `…`...``, the
    action's own messages, stdout ``Action `…` execution complete.``, and its return
    value as an ``execute_result`` (``text/plain`` and ``application/json``).

Either answers ``execute_reply``; a mistake (bad JSON, unknown action) is a
``status: error`` reply with an ``error`` message, as for any failing cell. Only cells
that contain one of the magic words are decoded to look for them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import BeakerError, MessageError
from ..lib.utils import LogMessageEncoder, parent_message_context
from ..wire import Request
from .context_switch import as_message

if TYPE_CHECKING:
    from .context_switch import ContextSwitcher
    from .frontend import FrontEnd

MARKERS = (b"%set_context", b"%run_action")


class Magics:
    def __init__(self, frontend: FrontEnd, contexts: ContextSwitcher) -> None:
        self._frontend = frontend
        self._contexts = contexts

    @staticmethod
    def may_contain(content: bytes) -> bool:
        """Whether a request's raw content may hold a magic (a byte search, no decoding)."""
        return any(marker in content for marker in MARKERS)

    async def run(self, request: Request) -> bool:
        """Answer ``request`` if its cell is a magic; returns whether it was one."""
        code = request.content.get("code")
        if not isinstance(code, str):
            return False
        parts = code.strip().split(maxsplit=1)
        if not parts or parts[0] not in ("%set_context", "%run_action"):
            return False
        frontend = self._frontend
        frontend.publish("status", {"execution_state": "busy"}, request.header)
        try:
            with parent_message_context(as_message(request)):
                if parts[0] == "%set_context":
                    await self._set_context(request, parts[1] if len(parts) > 1 else "")
                else:
                    await self._run_action(request, parts[1] if len(parts) > 1 else "")
        except BeakerError as e:
            frontend.answer_error_inside(request, e.reply_content())
        except Exception as e:
            content = {
                "status": "error",
                "ename": type(e).__name__,
                "evalue": str(e),
                "traceback": [f"{type(e).__name__}: {e}"],
            }
            frontend.answer_error_inside(request, content)
        else:
            frontend.reply(request, {"status": "ok", "execution_count": None, "return": None})
        finally:
            frontend.publish("status", {"execution_state": "idle"}, request.header)
        return True

    def _stdout(self, request: Request, text: str) -> None:
        self._frontend.publish("stream", {"name": "stdout", "text": text}, request.header)

    async def _set_context(self, request: Request, arguments: str) -> None:
        words = arguments.split(maxsplit=2)
        if len(words) < 2:
            raise MessageError("Usage: %set_context <context> <language> [<context_info JSON>]")
        slug, language = words[0], words[1]
        try:
            context_info = json.loads(words[2]) if len(words) > 2 else {}
        except ValueError as e:
            raise MessageError(f"%set_context: the context_info is not JSON: {e}") from e
        current = self._contexts.current
        self._stdout(
            request, f"Switching from context {current.slug if current else 'none'} to {slug}...\n"
        )
        await self._contexts.setup(slug, language, context_info, request)
        self._frontend.publish("context_info_update", {}, request.header)
        self._stdout(request, "Context switch complete.\n")

    async def _run_action(self, request: Request, arguments: str) -> None:
        words = arguments.split(maxsplit=1)
        if not words:
            raise MessageError("Usage: %run_action <action> [<payload JSON>]")
        name = words[0]
        try:
            payload: Any = json.loads(words[1]) if len(words) > 1 else {}
        except ValueError as e:
            raise MessageError(f"%run_action: the payload is not JSON: {e}") from e
        context = self._contexts.current
        method = None
        if context is not None:
            method = next(
                (
                    m
                    for t, m, stream in context.intercepts
                    if t == f"{name}_request" and stream == "shell"
                ),
                None,
            )
        if method is None:
            raise MessageError(f"Unable to find an action with name `{name}`.")
        self._stdout(request, f"Running action `{name}`...\n")
        action_request = Request("shell", request.idents, request.header, payload, request.metadata)
        value = await method(as_message(action_request))
        self._stdout(request, f"Action `{name}` execution complete.\n")
        data: dict[str, Any] = {}
        try:
            data["text/plain"] = json.dumps(value, cls=LogMessageEncoder, indent=2)
            data["application/json"] = json.loads(data["text/plain"])
        except (TypeError, ValueError):
            data["text/plain"] = str(value)
        self._frontend.publish(
            "execute_result",
            {"execution_count": None, "data": data, "metadata": {}},
            request.header,
        )
