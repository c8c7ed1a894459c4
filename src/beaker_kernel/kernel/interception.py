"""Interception: contexts modify, replace or drop standard messages on the fly.

An interceptor is registered for one message type on one channel in one direction
(:class:`~beaker_kernel.interface.Direction`). It receives the decoded
:class:`~beaker_kernel.interface.Message` and returns ``None`` (pass it on unchanged), the
message (changed in place or a new one: it is sent instead) or
:data:`~beaker_kernel.interface.DROP`. Interceptors of the same message run in the order
they were added; a drop ends the chain.

Only messages someone intercepts are decoded. The relay asks :meth:`Interceptors.types`
for its channel and direction, which is an empty set (no work at all) unless a context
registered something there; otherwise it decodes the header alone to learn the type.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections import defaultdict
from typing import Any

from ..errors import MessageError
from ..interface import DROP, Direction, Interceptor, Message
from ..wire import DELIM, Frames

log = logging.getLogger(__name__)

_Key = tuple[str, Direction]
_EMPTY: frozenset[str] = frozenset()


class Interceptors:
    """The interceptors of every channel and direction, with their owners."""

    def __init__(self) -> None:
        self._by_key: dict[_Key, list[tuple[str, str, Interceptor]]] = defaultdict(list)
        self._types: dict[_Key, frozenset[str]] = {}

    def add(
        self,
        owner: str,
        channel: str,
        direction: Direction,
        msg_type: str,
        interceptor: Interceptor,
    ) -> None:
        if channel not in ("shell", "control", "stdin", "iopub"):
            raise ValueError(f"Unknown channel {channel!r}")
        key = (channel, Direction(direction))
        self._by_key[key].append((owner, msg_type, interceptor))
        self._refresh(key)

    def remove(self, owner: str) -> None:
        """Remove every interceptor of ``owner``."""
        for key in list(self._by_key):
            self._by_key[key] = [entry for entry in self._by_key[key] if entry[0] != owner]
            self._refresh(key)

    def types(self, channel: str, direction: Direction) -> frozenset[str]:
        """Message types intercepted on ``channel`` going ``direction`` (usually none)."""
        return self._types.get((channel, direction), _EMPTY)

    def _refresh(self, key: _Key) -> None:
        types = frozenset(msg_type for _, msg_type, _ in self._by_key[key])
        if types:
            self._types[key] = types
        else:
            self._types.pop(key, None)
            self._by_key.pop(key, None)

    async def apply(
        self,
        channel: str,
        direction: Direction,
        frames: Frames,
        msg_type: str,
    ) -> Frames | None:
        """Run the interceptors of ``msg_type`` on ``frames``.

        Returns the frames to send on (the same object when nothing changed) or ``None``
        when the message was dropped. Frames of a changed message are signed when they
        are sent, like every forwarded message.
        """
        message = Message(
            channel=channel,
            direction=direction,
            idents=list(frames.idents),
            header=frames.header(),
            parent_header=frames.parent_header(),
            metadata=frames.metadata(),
            content=frames.content(),
            buffers=list(frames.parts[5:]),
        )
        changed = False
        for owner, intercepted, interceptor in list(self._by_key.get((channel, direction), ())):
            if intercepted != msg_type:
                continue
            try:
                result = await interceptor(message)
            except Exception:
                # A broken interceptor must not lose the user's message.
                log.exception(
                    "Interceptor of %r for %s (%s, %s) failed; the message goes on unchanged",
                    owner,
                    msg_type,
                    channel,
                    direction.value,
                )
                continue
            if result is DROP:
                return None
            if isinstance(result, Message):
                message = result
                changed = True
        if not changed:
            return frames
        return encode_message(message)


def raw_interceptor(func: Any) -> Interceptor:
    """An interceptor calling upstream Beaker's raw form ``func(server, stream, frames)``,
    which returns the frames to send on, or ``None`` to drop the message."""

    async def intercept(message: Message) -> Message | Any:
        frames = encode_message(message)
        parts = [*frames.idents, DELIM, b"", *frames.parts[1:]]
        result = func(None, None, parts)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return DROP
        replaced = Frames.split(list(result))
        return Message(
            channel=message.channel,
            direction=message.direction,
            idents=replaced.idents,
            header=replaced.header(),
            parent_header=replaced.parent_header(),
            metadata=replaced.metadata(),
            content=replaced.content(),
            buffers=list(replaced.parts[5:]),
        )

    return intercept


def encode_message(message: Message) -> Frames:
    """Frames for ``message`` (unsigned: the sender signs them for its destination)."""
    try:
        parts = [
            b"",
            json.dumps(message.header).encode(),
            json.dumps(message.parent_header).encode(),
            json.dumps(message.metadata).encode(),
            json.dumps(message.content).encode(),
            *message.buffers,
        ]
    except (TypeError, ValueError) as e:
        raise MessageError(f"An intercepted message cannot be encoded as JSON: {e}") from e
    return Frames(list(message.idents), parts)


__all__ = ["DROP", "Interceptors", "encode_message"]
