"""What the service knows about Beaker kernels and their subkernels.

The Beaker kernel provisioner (:mod:`.provisioner`) runs inside the server process and
reads this state to give Beaker kernels the service's address and token, and to delete a
Beaker kernel's subkernels when it goes away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

log = logging.getLogger("beaker_kernel.service")


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

    def claim(self, kernel_id: str, parent_id: str | None) -> None:
        if parent_id:
            self.children.setdefault(parent_id, set()).add(kernel_id)
            self.parents[kernel_id] = parent_id

    def forget(self, kernel_id: str) -> None:
        parent = self.parents.pop(kernel_id, None)
        if parent is not None:
            self.children.get(parent, set()).discard(kernel_id)

    async def delete_children(self, parent_id: str) -> list[str]:
        """Shut down every subkernel of ``parent_id``; returns their ids."""
        kernel_ids = sorted(self.children.pop(parent_id, set()))
        manager = self.serverapp.kernel_manager
        deleted = []
        for kernel_id in kernel_ids:
            self.parents.pop(kernel_id, None)
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
