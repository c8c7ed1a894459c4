"""The kernel websocket connection of the Beaker service.

Jupyter Server leaves Nagle's algorithm on for kernel websockets, so a small message sent
right after another (``busy``, then the reply) waits for the client's delayed ACK: about
40 ms added to every round trip a browser sees. Turning it off costs nothing for the
bulk output that follows, which tornado writes in large frames anyway.
"""

from __future__ import annotations

import asyncio

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection


class NoDelayWebsocketConnection(ZMQChannelsWebsocketConnection):
    def connect(self) -> asyncio.Future[None] | None:  # type: ignore[override]
        self.websocket_handler.set_nodelay(True)
        return super().connect()
