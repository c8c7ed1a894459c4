"""Relaying what the subkernel sends: replies, stdin questions and iopub output.

This is the hot path. A message is checked with the subkernel's key, signed with the
front end's, and sent on with its frames unchanged; only its parent header is decoded
(to find the request it answers), and on iopub not even that unless an internal execution
is running. Messages nobody intercepts are never decoded further.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import zmq.asyncio
from jupyter_client.session import Session

from ..errors import MessageError
from ..interface import Direction
from ..settings import env_bool
from ..wire import Frames
from .executor import InternalExecutor
from .frontend import FrontEnd
from .interception import Interceptors
from .launchers import SubkernelHandle
from .link import SubkernelLink
from .notebook_items import NotebookItems
from .passthrough import IopubPassthrough
from .pending import PendingRequests
from .post_execute import PostExecuteScheduler
from .pump import ErrorHandler
from .tasks import Tasks

log = logging.getLogger("beaker_kernel")


class Relay:
    """Opens links to subkernels and relays what comes from them to the front end."""

    def __init__(
        self,
        zmq_context: zmq.asyncio.Context,
        tasks: Tasks,
        frontend: FrontEnd,
        executor: InternalExecutor,
        pending: PendingRequests,
        interceptors: Interceptors,
        post_execute: PostExecuteScheduler,
        watch: Callable[[SubkernelLink], Coroutine[Any, Any, None]],
    ) -> None:
        self._zmq = zmq_context
        self._tasks = tasks
        self._frontend = frontend
        self._executor = executor
        self._pending = pending
        self._interceptors = interceptors
        self._post_execute = post_execute
        self._watch = watch
        #: input_requests of the subkernel's own not answered yet (stdin routing).
        self.subkernel_asking = 0
        #: Shared with the router, which notes the requests that carry notebook items.
        self.notebook_items = NotebookItems()
        # The reply to the last user cell, decoded only when asked (execution_count).
        self._last_cell_reply: Frames | None = None
        self._links: set[SubkernelLink] = set()
        #: Whether a subkernel signing with the front end's key has its iopub relayed in C
        #: while Beaker need not see it (passthrough.py); environment
        #: ``BEAKER_IOPUB_PASSTHROUGH`` (default on).
        self.passthrough = env_bool("BEAKER_IOPUB_PASSTHROUGH", default=True)
        #: Whether such a subkernel gets the standard shell requests nothing in Beaker takes
        #: part in before Beaker reads them, and its replies go back the same way
        #: (``Router._pass_now``, :meth:`_pass_reply_now`); ``BEAKER_SEND_FIRST`` (default on).
        self.send_first = env_bool("BEAKER_SEND_FIRST", default=True)

    # ------------------------------------------------------------ links

    def open_link(self, handle: SubkernelHandle) -> SubkernelLink:
        link = SubkernelLink(self._zmq, handle)
        for channel in ("shell", "control"):
            link.listen(
                channel,
                partial(self.reply_now, link, channel),
                _log_error(f"a {channel} reply of the subkernel"),
            )
        link.listen("stdin", partial(self.stdin_now, link), _log_error("a stdin message"))
        iopub = link.listen("iopub", partial(self.iopub_now, link), _log_error("an iopub message"))
        link.tasks.add(self._tasks.spawn(self._watch(link), name="sub-watch"))
        self._links.add(link)
        link.same_signer = _same_signer(link.session, self._frontend.session)
        link.send_first = self.send_first and link.same_signer
        if self.passthrough and link.same_signer:
            if self._frontend.passthrough is not None:
                self._frontend.passthrough.stop()  # one proxy at a time onto the front end
            link.passthrough = self._frontend.passthrough = IopubPassthrough(
                self._zmq,
                link.iopub,
                iopub,
                self._frontend.iopub,
                self._frontend.iopub_pump,
                allowed=partial(self._passthrough_allowed, link),
                greet=self._frontend.greet,
            )
        return link

    def resume_passthrough(self) -> None:
        """Hand iopub back to the C proxy once Beaker's own work is done (a handler, the
        post-execute actions), if nothing else needs Python: else only the subkernel's
        next message would, and that is the busy of a user's next cell, which then pays
        for Python's relaying and for the hand-over."""
        passthrough = self._frontend.passthrough
        if passthrough is not None:
            passthrough.maybe_start()

    def _passthrough_allowed(self, link: SubkernelLink) -> bool:
        """Whether nothing needs to see ``link``'s iopub in Python now."""
        return (
            not self._executor.active
            and not self.notebook_items.active
            and self._links == {link}
            and self._frontend.passthrough is link.passthrough
            and not self._interceptors.types("iopub", Direction.TO_FRONTEND)
        )

    async def close_link(self, link: SubkernelLink, error: Exception) -> None:
        current = asyncio.current_task()
        tasks = [task for task in link.tasks if task is not current]
        tasks += [
            busy
            for pump in link.pumps.values()
            if (busy := pump.busy) is not None and busy is not current
        ]
        self._links.discard(link)
        if link.passthrough is not None and self._frontend.passthrough is link.passthrough:
            self._frontend.passthrough = None
        link.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._executor.fail_link(link, error)

    async def probe(self, link: SubkernelLink, timeout: float) -> None:
        result = await self._executor.request("kernel_info_request", {}, timeout=timeout, link=link)
        link.kernel_info = result.reply

    # ------------------------------------------------------------ loops

    def _intercepted_type(self, channel: str, frames: Frames) -> str | None:
        """The type of ``frames`` when an interceptor towards the front end wants it."""
        types = self._interceptors.types(channel, Direction.TO_FRONTEND)
        if not types:
            return None
        msg_type = frames.header().get("msg_type")
        return msg_type if msg_type in types else None

    async def _forward_intercepted(
        self, channel: str, frames: Frames, msg_type: str, after: Callable[[], None] | None = None
    ) -> None:
        forwarded = await self._interceptors.apply(channel, Direction.TO_FRONTEND, frames, msg_type)
        if forwarded is not None:
            self._frontend.forward(channel, forwarded)
        if after is not None:
            after()

    # ------------------------------------------------------------ one message
    #
    # Each ``*_now`` method does all it can at once and returns ``None``, or what is left to
    # wait for (an interceptor); its channel reads nothing more until that is done.

    def reply_now(
        self, link: SubkernelLink, channel: str, raw: list[bytes]
    ) -> Awaitable[None] | None:
        """A shell or control reply from the subkernel."""
        try:
            frames = Frames.split(raw)
        except MessageError as e:
            log.warning("Dropped a reply from the subkernel: %s", e.message)
            return None
        passed = self._pass_reply_now(link, channel, frames)
        try:
            frames.verify(link.session)
            parent = frames.parent_header()
        except MessageError as e:
            if passed:  # the front end checks it with the same key, and drops it too
                log.warning("A reply from the subkernel was not valid: %s", e.message)
            else:
                log.warning("Dropped a reply from the subkernel: %s", e.message)
            return None
        msg_id = parent.get("msg_id")
        if not passed and self._executor.take_reply(msg_id, frames):
            return None
        pending = self._pending.answered(msg_id)
        if pending is not None and pending.history_session is not None:
            frames = history_in_session(frames, pending.history_session)

        def after() -> None:
            if pending is not None and pending.msg_type == "execute_request":
                self._last_cell_reply = frames
                self.notebook_items.forget(msg_id)
                self._post_execute.user_cell_done(pending.header, frames)

        if not passed:
            msg_type = self._intercepted_type(channel, frames)
            if msg_type is not None:
                return self._forward_intercepted(channel, frames, msg_type, after)
            self._frontend.forward(channel, frames, same_key=link.same_signer)
        after()
        if link.passthrough is not None:
            link.passthrough.maybe_start()
        return None

    def _pass_reply_now(self, link: SubkernelLink, channel: str, frames: Frames) -> bool:
        """Send a reply on to the front end before reading it, when nothing in Beaker takes
        part in it: it answers a front end's request (it has the front end's identity
        frames; Beaker's own requests have none or wait in the executor), nothing
        intercepts it, and it is no history reply (renumbered, see
        :func:`history_in_session`). The front end checks its signature, made with the
        same key. Returns whether it was sent; it is read afterwards all the same.
        """
        if (
            not link.send_first
            or not frames.idents
            or self._executor.active
            or self._interceptors.types(channel, Direction.TO_FRONTEND)
            or b"history_reply" in frames.parts[1]
        ):
            return False
        self._frontend.send_now(self._frontend.socket(channel), frames.unchanged())
        return True

    async def on_reply(self, link: SubkernelLink, channel: str, raw: list[bytes]) -> None:
        await _finish(self.reply_now(link, channel, raw))

    def execution_count(self) -> int:
        """The subkernel's execution count, as its last reply to a user cell gave it (0 before
        the first)."""
        if self._last_cell_reply is None:
            return 0
        try:
            count = self._last_cell_reply.content().get("execution_count")
        except MessageError:
            return 0
        return count if type(count) is int else 0

    def stdin_now(self, link: SubkernelLink, raw: list[bytes]) -> Awaitable[None] | None:
        """A question of the subkernel's (``input_request``) for the front end."""
        try:
            frames = Frames.split(raw)
            frames.verify(link.session)
        except MessageError as e:
            log.warning("Dropped a stdin message from the subkernel: %s", e.message)
            return None
        msg_type = self._intercepted_type("stdin", frames)
        if msg_type is not None:
            return self._stdin_intercepted(frames, msg_type)
        self.subkernel_asking += 1
        self._frontend.forward("stdin", frames, same_key=link.same_signer)
        return None

    async def _stdin_intercepted(self, frames: Frames, msg_type: str) -> None:
        forwarded = await self._interceptors.apply("stdin", Direction.TO_FRONTEND, frames, msg_type)
        if forwarded is None:
            return
        self.subkernel_asking += 1
        self._frontend.forward("stdin", forwarded)

    async def on_stdin(self, link: SubkernelLink, raw: list[bytes]) -> None:
        await _finish(self.stdin_now(link, raw))

    def iopub_now(self, link: SubkernelLink, raw: list[bytes]) -> Awaitable[None] | None:
        """An iopub message of the subkernel."""
        try:
            frames = Frames.split(raw)
            frames.verify(link.session)
        except MessageError as e:
            log.warning("Dropped an iopub message from the subkernel: %s", e.message)
            return None
        if not frames.idents and frames.header().get("msg_type") == "iopub_welcome":
            return None  # the subkernel greeting Beaker's own subscription
        if link.passthrough is not None:
            link.passthrough.maybe_start()
        executor = self._executor
        if executor.active and executor.take_iopub(frames.parent_header().get("msg_id"), frames):
            return None
        if self.notebook_items.active:
            frames = self.notebook_items.apply(frames)
        msg_type = self._intercepted_type("iopub", frames)
        if msg_type is not None:
            return self._forward_intercepted("iopub", frames, msg_type)
        self._frontend.forward("iopub", frames, same_key=link.same_signer)
        return None

    async def on_iopub(self, link: SubkernelLink, raw: list[bytes]) -> None:
        await _finish(self.iopub_now(link, raw))


def _same_signer(ours: Session, theirs: Session) -> bool:
    """Whether messages signed by ``ours`` pass ``theirs``'s check unchanged."""
    return ours.key == theirs.key and ours.signature_scheme == theirs.signature_scheme


async def _finish(pending: Awaitable[None] | None) -> None:
    if pending is not None:
        await pending


def _log_error(what: str) -> ErrorHandler:
    def on_error(error: BaseException) -> None:
        log.error("Error while relaying %s", what, exc_info=error)

    return on_error


def history_in_session(frames: Frames, session: int) -> Frames:
    """The history reply with its entries numbered ``session`` where the subkernel said 0.

    IPython numbers the current session 0 in its answer even when the request named the
    session by its number (taken from a ``tail`` reply); front ends then cannot match
    the entries to the session they asked for.
    """
    try:
        content = frames.content()
    except MessageError:
        return frames
    history = content.get("history")
    if not isinstance(history, list):
        return frames
    changed = False
    for entry in history:
        if isinstance(entry, list) and entry and type(entry[0]) is int and entry[0] == 0:
            entry[0] = session
            changed = True
    if not changed:
        return frames
    parts = [*frames.parts[:4], json.dumps(content).encode(), *frames.parts[5:]]
    return Frames(frames.idents, parts)


def requested_session(frames: Frames) -> int | None:
    """The session number a history range request names, when it names one (> 0)."""
    try:
        content = frames.content()
    except MessageError:
        return None
    session = content.get("session")
    if content.get("hist_access_type") != "range" or type(session) is not int or session <= 0:
        return None
    return session
