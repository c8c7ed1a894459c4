"""Front-end requests forwarded to the subkernel and not answered yet.

A kernel handles the requests of one channel one at a time, in order. So when the reply
to a request arrives, every request sent earlier on that channel has been handled: if it
got no reply, the kernel dropped it (ipykernel drops a request it cannot parse) and it
never will. Such entries are retired then, so a dropped request never holds up
post-execute work or waits for a crash to be answered.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PendingRequest:
    """A front-end request forwarded to the subkernel and not answered yet."""

    channel: str
    idents: list[bytes]
    header: dict[str, Any]
    #: For a history range request: the session it asked for (see relay).
    history_session: int | None = None
    sequence: int = field(default=0, compare=False)

    @property
    def msg_type(self) -> str:
        return str(self.header.get("msg_type", ""))


class PendingRequests:
    """msg_id → :class:`PendingRequest`, in the order the requests were sent."""

    def __init__(self) -> None:
        self._by_id: dict[str, PendingRequest] = {}
        self._counter = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[PendingRequest]:
        return iter(list(self._by_id.values()))

    def add(self, msg_id: str, request: PendingRequest) -> None:
        request.sequence = next(self._counter)
        self._by_id[msg_id] = request

    def answered(self, msg_id: Any) -> PendingRequest | None:
        """The request ``msg_id`` got its reply: forget it and the requests it overtook."""
        if not isinstance(msg_id, str):
            return None
        request = self._by_id.pop(msg_id, None)
        if request is not None and self._by_id:
            for other_id, other in list(self._by_id.items()):
                if other.channel == request.channel and other.sequence < request.sequence:
                    del self._by_id[other_id]
        return request

    def take_all(self) -> list[PendingRequest]:
        requests = list(self._by_id.values())
        self._by_id.clear()
        return requests
