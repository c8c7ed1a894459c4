"""Jupyter wire frames as Beaker relays them.

Beaker forwards most messages without decoding their content: it checks the signature
with the sender's :class:`jupyter_client.session.Session`, signs the same frames with the
receiver's session, and keeps the ZMQ identity frames so that replies route back by
themselves. Only the header (and, for replies, the parent header) is decoded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from hmac import compare_digest
from typing import Any

from jupyter_client.session import Session

from .errors import MessageError

DELIM = b"<IDS|MSG>"

#: Shell message types of the Jupyter protocol, always forwarded to the subkernel.
STANDARD_SHELL_TYPES = frozenset(
    {
        "execute_request",
        "inspect_request",
        "complete_request",
        "history_request",
        "is_complete_request",
        "comm_info_request",
        "kernel_info_request",
        "comm_open",
        "comm_msg",
        "comm_close",
    }
)


_MSG_TYPE_KEY = b'"msg_type"'
_MSG_TYPE = re.compile(rb'"msg_type"\s*:\s*"([A-Za-z0-9_]+)"')


def peek_msg_type(header: bytes) -> str | None:
    """The ``msg_type`` of a header frame, read without decoding its JSON; ``None`` when it
    cannot be read that way for certain (then decode the header).

    A JSON string cannot hold an unescaped quote, so ``"msg_type"`` followed by a colon is
    a key. A header naming ``"msg_type"`` more than once (a nested object, a repeated key),
    or whose type is not a plain name (an escape), is left to the decoder.
    """
    if header.count(_MSG_TYPE_KEY) != 1:
        return None
    found = _MSG_TYPE.search(header)
    return found.group(1).decode() if found is not None else None


class InvalidSignature(MessageError):
    """A message whose HMAC signature does not match the session key."""


@dataclass
class Frames:
    """One multipart message split at the delimiter.

    ``parts`` is ``[signature, header, parent_header, metadata, content, *buffers]``.
    """

    idents: list[bytes]
    parts: list[bytes]
    #: Whether :meth:`verify` found the signature good (frames made or changed here start
    #: unchecked: they must be signed again before they go anywhere).
    checked: bool = field(default=False, compare=False)

    @classmethod
    def split(cls, frames: list[bytes]) -> Frames:
        try:
            index = frames.index(DELIM)
        except ValueError:
            raise MessageError("Not a Jupyter message: no <IDS|MSG> delimiter") from None
        parts = frames[index + 1 :]
        if len(parts) < 5:
            raise MessageError(f"Malformed Jupyter message: {len(parts)} frames after delimiter")
        return cls(frames[:index], parts)

    def verify(self, session: Session) -> None:
        """Raise :class:`InvalidSignature` unless ``session``'s key signed these frames."""
        if session.auth is not None and not compare_digest(
            self.parts[0], session.sign(self.parts[1:5])
        ):
            raise InvalidSignature("Message signature does not match the session key")
        self.checked = True

    def resigned(self, session: Session, idents: list[bytes] | None = None) -> list[bytes]:
        """The frames to send, signed by ``session``, with ``idents`` (default: the same)."""
        return [
            *(self.idents if idents is None else idents),
            DELIM,
            session.sign(self.parts[1:5]),
            *self.parts[1:],
        ]

    def unchanged(self) -> list[bytes]:
        """The frames as they came (to send on where the same key checks them)."""
        return [*self.idents, DELIM, *self.parts]

    def header(self) -> dict[str, Any]:
        return _decode(self.parts[1], "header")

    def parent_header(self) -> dict[str, Any]:
        return _decode(self.parts[2], "parent header")

    def metadata(self) -> dict[str, Any]:
        return _decode(self.parts[3], "metadata")

    def content(self) -> dict[str, Any]:
        return _decode(self.parts[4], "content")

    def content_any(self) -> Any:
        """The content, which some of upstream Beaker's requests send as a JSON list."""
        try:
            return json.loads(self.parts[4])
        except ValueError as e:
            raise MessageError(f"Message content is not valid JSON: {e}") from e


def _decode(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise MessageError(f"Message {what} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise MessageError(f"Message {what} must be a JSON object")
    return value


@dataclass
class Request:
    """A request from the front end that Beaker answers itself."""

    channel: str
    idents: list[bytes]
    header: dict[str, Any]
    #: A JSON object, except for requests of upstream Beaker that send a list
    #: (``set_agent_history_request``); Beaker's own handlers refuse anything but an object.
    content: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    buffers: list[bytes] = field(default_factory=list)
    parent_header: dict[str, Any] = field(default_factory=dict)

    @property
    def msg_type(self) -> str:
        return str(self.header.get("msg_type", ""))

    @property
    def msg_id(self) -> str:
        return str(self.header.get("msg_id", ""))

    @property
    def reply_type(self) -> str:
        return reply_type(self.msg_type)

    @classmethod
    def from_frames(cls, channel: str, frames: Frames) -> Request:
        header = frames.header()
        if not isinstance(header.get("msg_type"), str) or not header.get("msg_id"):
            raise MessageError("Message header needs a string msg_type and a msg_id")
        return cls(
            channel=channel,
            idents=frames.idents,
            header=header,
            content=frames.content_any(),
            metadata=frames.metadata(),
            buffers=frames.parts[5:],
            parent_header=frames.parent_header(),
        )


def reply_type(msg_type: object) -> str:
    """The type of the reply to a request of type ``msg_type`` (``x_request`` → ``x_reply``)."""
    return str(msg_type or "unknown_request").removesuffix("_request") + "_reply"


def encode(session: Session, msg: dict[str, Any], idents: list[bytes] | None = None) -> list[bytes]:
    """Serialise ``msg`` (from ``session.msg``) to signed frames."""
    frames: list[bytes] = session.serialize(msg, ident=idents)
    return frames
