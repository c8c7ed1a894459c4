"""Post-execute work (previews, state updates) off the critical path.

After a user cell the current context may have work to do in the subkernel. It runs
only once the subkernel has been idle for ``delay`` seconds and no front-end request is
pending, so it never delays the reply to the user's request nor queues in front of the
next one. A new request or internal execution cancels a scheduled run; the run is then
scheduled again after the new work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import BeakerError, SubkernelDiedError
from .tasks import Tasks

log = logging.getLogger("beaker_kernel")

#: The work: called with the user's execute_request header and its reply's frames.
Work = Callable[[dict[str, Any], Any], Awaitable[None]]


class PostExecuteScheduler:
    """Runs ``work(parent)`` once the subkernel has settled after a user cell."""

    def __init__(
        self,
        tasks: Tasks,
        *,
        delay: Callable[[], float],
        busy: Callable[[], bool],
        work: Work,
        wanted: Callable[[], bool],
    ) -> None:
        self._tasks = tasks
        self._delay = delay
        self._busy = busy
        self._work = work
        self._wanted = wanted
        self._handle: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    def user_cell_done(self, parent: dict[str, Any], reply: Any = None) -> None:
        """A user's execute_request (header ``parent``) was answered with ``reply``."""
        if self._wanted():
            self.schedule(parent, reply)

    def schedule(self, parent: dict[str, Any], reply: Any = None) -> None:
        self.cancel()
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._delay(), self._start, parent, reply)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _start(self, parent: dict[str, Any], reply: Any) -> None:
        self._handle = None
        if not self._wanted():
            return
        if self._busy():
            # The user sent more work: run after that instead.
            self.schedule(parent, reply)
            return
        self.task = self._tasks.spawn(self._run(parent, reply), name="post-execute")

    async def _run(self, parent: dict[str, Any], reply: Any) -> None:
        try:
            await self._work(parent, reply)
        except SubkernelDiedError as e:
            # The subkernel was stopped or replaced meanwhile (a crash is reported on its own).
            log.debug("Post-execute actions stopped: %s", e.message)
        except BeakerError as e:
            log.warning("Post-execute actions failed: %s", e.message)
