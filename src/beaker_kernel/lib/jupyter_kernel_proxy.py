"""Jupyter messages as upstream Beaker's context API hands them to handlers.

Handlers of actions and intercepts receive a :class:`JupyterMessage`: a named tuple of
``identities, signature, header, parent_header, metadata, content, buffers`` with the
JSON parts decoded.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from ..errors import MessageError
from ..wire import DELIM


class JupyterMessage(NamedTuple):
    identities: list[bytes]
    signature: bytes
    header: dict[str, Any]
    parent_header: dict[str, Any]
    metadata: dict[str, Any]
    content: Any
    buffers: list[bytes]

    @classmethod
    def parse(cls, parts: list[bytes], verify_using: Any = None) -> JupyterMessage:
        try:
            index = parts.index(DELIM)
        except ValueError:
            raise MessageError("Not a Jupyter message: no <IDS|MSG> delimiter") from None
        if len(parts) < index + 6:
            raise MessageError("Malformed Jupyter message: too few frames")
        decoded = []
        for raw in parts[index + 2 : index + 6]:
            try:
                decoded.append(json.loads(raw))
            except ValueError as e:
                raise MessageError(f"Malformed Jupyter message: {e}") from e
        header, parent_header, metadata, content = decoded
        return cls(
            list(parts[:index]),
            parts[index + 1],
            header,
            parent_header,
            metadata,
            content,
            list(parts[index + 6 :]),
        )

    @property
    def json_field_names(self) -> tuple[str, ...]:
        return ("header", "parent_header", "metadata", "content")

    @property
    def json_fields(self) -> tuple[Any, ...]:
        return (self.header, self.parent_header, self.metadata, self.content)

    def to_dict(self) -> dict[str, Any]:
        """``{header, parent_header, metadata, content}`` (as front ends receive a message)."""
        return {name: getattr(self, name) for name in self.json_field_names}


#: The frame between identities and the message (upstream: ``JupyterMessage.DELIMITER``).
DELIMITER = DELIM

__all__ = ["DELIMITER", "JupyterMessage"]
