"""``execute_request.metadata.notebook_item`` copied onto the matching ``execute_input``.

Terarium groups a cell's outputs by the notebook item it sent with the request and reads
it back from the subkernel's ``execute_input``. Nothing is decoded for requests without
one (a byte search of the small metadata frame), and iopub headers are decoded only
while such a request awaits its ``execute_input``.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import MessageError
from ..wire import Frames

_MARKER = b"notebook_item"
#: Requests remembered at most (those never answered are forgotten first).
_LIMIT = 1000


class NotebookItems:
    def __init__(self) -> None:
        self._items: dict[str, Any] = {}

    @property
    def active(self) -> bool:
        return bool(self._items)

    @staticmethod
    def may_name(metadata: bytes) -> bool:
        """Whether a request's raw metadata may name a notebook item (a byte search)."""
        return _MARKER in metadata

    def note_request(self, frames: Frames, msg_id: str) -> None:
        """Remember the notebook item of the execute_request ``frames``, if it has one."""
        if not self.may_name(frames.parts[3]):
            return
        try:
            item = frames.metadata().get(_MARKER.decode())
        except MessageError:
            return
        if item is None:
            return
        if len(self._items) >= _LIMIT:
            self._items.pop(next(iter(self._items)))
        self._items[msg_id] = item

    def forget(self, msg_id: Any) -> None:
        if isinstance(msg_id, str):
            self._items.pop(msg_id, None)

    def apply(self, frames: Frames) -> Frames:
        """``frames`` with the notebook item put into an ``execute_input``'s metadata."""
        try:
            if frames.header().get("msg_type") != "execute_input":
                return frames
            parent_id = frames.parent_header().get("msg_id")
            if not isinstance(parent_id, str) or parent_id not in self._items:
                return frames
            metadata = frames.metadata()
        except MessageError:
            return frames
        metadata[_MARKER.decode()] = self._items.pop(parent_id)
        parts = [*frames.parts[:3], json.dumps(metadata).encode(), *frames.parts[4:]]
        return Frames(frames.idents, parts)
