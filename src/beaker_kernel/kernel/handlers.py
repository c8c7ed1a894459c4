"""The table from message type to the handler of a request Beaker answers itself.

Like ipykernel's ``shell_handlers``, but with one owner per entry and nobody else writing
to it: the kernel registers its built-in messages once under :data:`KERNEL`; a context
or the agent registers under its own owner name, and everything of an owner goes away
with :meth:`HandlerTable.unregister`. A registration that would shadow an entry of
another owner is refused, so a context can never replace (and later delete) a built-in
message. Work that must happen on an interrupt is added as an interrupt hook instead of
wrapping the interrupt handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from ..errors import HandlerConflictError
from ..interface import Handler

log = logging.getLogger(__name__)

#: The owner of the kernel's own messages.
KERNEL = "kernel"

CHANNELS = ("shell", "control")

InterruptHook = Callable[[], None]


class HandlerTable:
    """Who answers which message type, per channel."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[str, Handler]] = {}
        # (channel, msg_type) of handlers that answer without busy/idle status messages
        self._quiet: set[tuple[str, str]] = set()
        self._interrupt_hooks: list[tuple[str, InterruptHook]] = []

    def register(
        self,
        owner: str,
        msg_type: str,
        handler: Handler,
        *,
        channel: str = "shell",
        quiet: bool = False,
    ) -> None:
        """Make ``handler`` answer ``msg_type`` on ``channel`` for ``owner``.

        A ``quiet`` handler gets no ``busy``/``idle`` status messages around it (for
        messages that are answers themselves, like ``notebook_state_response``). Raises
        :class:`HandlerConflictError` when another owner already answers it.
        """
        self.register_many(owner, {msg_type: handler}, channel=channel)
        if quiet:
            self._quiet.add((channel, msg_type))

    def register_many(
        self, owner: str, handlers: Mapping[str, Handler], *, channel: str = "shell"
    ) -> None:
        """Register every entry of ``handlers``, or none of them when one conflicts."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
        for msg_type in handlers:
            existing = self._entries.get((channel, msg_type))
            if existing is not None and existing[0] != owner:
                who = "Beaker itself" if existing[0] == KERNEL else repr(existing[0])
                raise HandlerConflictError(
                    f"{owner!r} cannot answer {msg_type!r} on {channel}: {who} answers it "
                    "already. Choose another message or action name."
                )
        for msg_type, handler in handlers.items():
            self._entries[(channel, msg_type)] = (owner, handler)

    def unregister(self, owner: str) -> None:
        """Remove every handler and interrupt hook of ``owner``."""
        if owner == KERNEL:
            raise ValueError("The kernel's own handlers cannot be removed")
        removed = {key for key, entry in self._entries.items() if entry[0] == owner}
        self._entries = {key: entry for key, entry in self._entries.items() if key not in removed}
        self._quiet -= removed
        self._interrupt_hooks = [hook for hook in self._interrupt_hooks if hook[0] != owner]

    def get(self, channel: str, msg_type: str) -> Handler | None:
        entry = self._entries.get((channel, msg_type))
        return entry[1] if entry is not None else None

    def quiet(self, channel: str, msg_type: str) -> bool:
        return (channel, msg_type) in self._quiet

    def owner(self, channel: str, msg_type: str) -> str | None:
        entry = self._entries.get((channel, msg_type))
        return entry[0] if entry is not None else None

    def known(self, channel: str = "shell") -> list[str]:
        """The message types answered on ``channel``, sorted."""
        return sorted(msg_type for (chan, msg_type) in self._entries if chan == channel)

    def add_interrupt_hook(self, owner: str, hook: InterruptHook) -> None:
        """Call ``hook`` (quickly, without waiting) whenever the front end interrupts."""
        self._interrupt_hooks.append((owner, hook))

    def run_interrupt_hooks(self) -> None:
        for owner, hook in list(self._interrupt_hooks):
            try:
                hook()
            except Exception:
                log.exception("The interrupt hook of %r failed", owner)
