"""What the service knows about Beaker kernels and their subkernels.

The Beaker kernel provisioner (:mod:`.provisioner`) runs inside the server process and
reads this state to give Beaker kernels the service's address and token, and to delete a
Beaker kernel's subkernels when it goes away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .prestart import Prestart, discard

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

log = logging.getLogger("beaker_kernel.service")

#: Names of the variables that hold the service's own token.
SERVICE_TOKEN_NAMES = ("JUPYTER_TOKEN", "BEAKER_TOKEN", "JPY_API_TOKEN")


@dataclass
class ServiceState:
    """The running service, its secrets and the parent → subkernel map."""

    serverapp: ServerApp
    #: Environment entries kept out of every kernel's environment except Beaker's own
    #: (LLM keys), removed from the server process's environment at start.
    beaker_only_env: dict[str, str] = field(default_factory=dict)
    #: Beaker kernel id → ids of the subkernels it claimed.
    children: dict[str, set[str]] = field(default_factory=dict)
    #: subkernel id → Beaker kernel id
    parents: dict[str, str] = field(default_factory=dict)
    #: Beaker kernel id → the subkernel started ahead for it, until claimed (prestart.py).
    prestarts: dict[str, Prestart] = field(default_factory=dict)
    #: Ids of the subkernels that were started ahead.
    started_ahead: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, kept referenced, its failure logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A background task of the service failed", exc_info=task.exception())

    @property
    def url(self) -> str:
        """The address a Beaker kernel on this machine uses to reach the service."""
        app = self.serverapp
        host = app.ip
        if host in ("", "0.0.0.0", "*", "localhost"):
            host = "127.0.0.1"
        elif host in ("::", "[::]"):
            host = "[::1]"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{app.port}{app.base_url.rstrip('/')}"

    @property
    def token(self) -> str:
        return str(self.serverapp.identity_provider.token)

    def pop_prestart(self, parent_id: str) -> Prestart | None:
        """The subkernel started ahead for ``parent_id``, no longer waiting to be claimed."""
        prestart = self.prestarts.pop(parent_id, None)
        if prestart is not None:
            prestart.settle()
        return prestart

    def claim(self, kernel_id: str, parent_id: str | None) -> None:
        if parent_id:
            self.children.setdefault(parent_id, set()).add(kernel_id)
            self.parents[kernel_id] = parent_id

    def forget(self, kernel_id: str) -> None:
        parent = self.parents.pop(kernel_id, None)
        if parent is not None:
            self.children.get(parent, set()).discard(kernel_id)
        self.started_ahead.discard(kernel_id)

    async def delete_children(self, parent_id: str) -> list[str]:
        """Shut down every subkernel of ``parent_id``; returns their ids."""
        manager = self.serverapp.kernel_manager
        prestart = self.pop_prestart(parent_id)
        if prestart is not None:
            # never claimed: deleted once its start is over
            await discard(prestart, manager)
        kernel_ids = sorted(self.children.pop(parent_id, set()))
        deleted = []
        for kernel_id in kernel_ids:
            self.parents.pop(kernel_id, None)
            self.started_ahead.discard(kernel_id)
            if kernel_id in manager:
                try:
                    await manager.shutdown_kernel(kernel_id, now=True)  # type: ignore[no-untyped-call]
                    deleted.append(kernel_id)
                except Exception:
                    log.exception("Could not shut down subkernel %s of %s", kernel_id, parent_id)
        return deleted


_state: ServiceState | None = None


def set_state(state: ServiceState | None) -> None:
    global _state
    _state = state


def get_state() -> ServiceState | None:
    """The running service's state, or ``None`` outside the service."""
    return _state
