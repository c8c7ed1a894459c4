"""The kernel websocket connection of the Beaker service.

Two changes to Jupyter Server's connection:

* **No Nagle delay.** Jupyter Server leaves Nagle's algorithm on for kernel websockets, so
  a small message sent right after another (``busy``, then the reply) waits for the
  client's delayed ACK: about 40 ms added to every round trip a browser sees. Turning it
  off costs nothing for the bulk output that follows, which tornado writes in large
  frames anyway.
* **Output before the reply.** Jupyter Server reads the kernel's iopub and shell sockets
  as two streams, one message per stream per turn of the event loop. When iopub has a
  backlog (an agent's thoughts, the carbon copies of a procedure, a burst of output), a
  reply on shell overtakes iopub messages the kernel sent before it. A front end then
  gets the reply to a request it has not been told about yet: beaker-ts drops the reply
  to the agent's child cell when it comes before that cell's ``add_child_codecell``,
  and the cell stays busy for good. Here, before a message of another channel is
  passed on, every iopub message already waiting is passed on first.
* **A bad frame gets an answer, not a closed socket.** Jupyter Server closes the
  websocket (losing every reply still in flight) and logs a traceback when a frame is not
  JSON, is JSON but not an object, lacks a header field, is nested too deeply for the
  JSON parser, or names a channel that does not exist. Here such a frame is answered on
  its channel with a ``status: error`` message, ``<type>_reply`` when the frame's header
  names a ``<type>_request`` (``error`` otherwise), parented to whatever header could be
  read; the socket stays open and later requests work as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import zmq
from jupyter_client.jsonutil import json_default
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    serialize_msg_to_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado.websocket import WebSocketClosedError

from ..errors import MessageError

log = logging.getLogger("beaker_kernel.service")

V1 = "v1.kernel.websocket.jupyter.org"

#: Channels a client sends on (iopub only goes from the kernel to the client).
REQUEST_CHANNELS = ("shell", "control", "stdin")

#: Header fields copied into the parent header of an error answer (strings only).
_HEADER_FIELDS = ("msg_id", "msg_type", "session", "username", "date", "version")

#: The parts every message has besides its header.
_OBJECT_PARTS = ("parent_header", "metadata", "content")


class InvalidFrame(MessageError):
    """A websocket frame that is not a Jupyter message the service can pass on."""

    def __init__(self, message: str, *, channel: Any = None, header: Any = None) -> None:
        super().__init__(message)
        self.channel = channel
        self.header = header


def _json_object(raw: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise InvalidFrame(
            f"The {what} is nested too deeply to be read; send at most a few hundred levels"
        ) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidFrame(f"The {what} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise InvalidFrame(
            f"The {what} must be a JSON object, not {type(value).__name__}: a Jupyter message "
            "is {header, parent_header, metadata, content, channel}"
        )
    return value


def _check_header(header: Any, channel: Any) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise InvalidFrame(
            "The message has no header object (it needs at least msg_id and msg_type)",
            channel=channel,
        )
    for field in ("msg_id", "msg_type"):
        value = header.get(field)
        if not isinstance(value, str) or not value:
            raise InvalidFrame(
                f"The message header needs {field} as a non-empty string, not {value!r}",
                channel=channel,
                header=header,
            )
    return header


def _check_channel(channel: Any, header: Any) -> str:
    if channel is None:
        return "shell"
    if channel not in REQUEST_CHANNELS:
        raise InvalidFrame(
            f"No channel {channel!r} to send on: use one of {', '.join(REQUEST_CHANNELS)}",
            channel=channel,
            header=header,
        )
    return str(channel)


def parse_legacy(frame: str | bytes) -> tuple[str, dict[str, Any]]:
    """Channel and message of a frame in Jupyter's JSON websocket protocol.

    Raises :class:`InvalidFrame` for anything that is not a complete message.
    """
    if isinstance(frame, bytes):
        # Jupyter Server's reader believes the count at the start of the frame and builds
        # a struct format of that many fields: a few bytes could stall the server.
        count = int.from_bytes(frame[:4], "big", signed=True) if len(frame) >= 4 else -1
        if count < 1 or 4 * (count + 1) > len(frame):
            raise InvalidFrame(
                "The binary message is malformed: its buffer count does not fit its length"
            )
        try:
            msg = deserialize_binary_message(frame)  # type: ignore[no-untyped-call]
        except RecursionError:
            raise InvalidFrame("The binary message is nested too deeply to be read") from None
        except Exception as e:
            raise InvalidFrame(f"The binary message cannot be read ({e})") from None
        if not isinstance(msg, dict):
            raise InvalidFrame("The binary message must hold a JSON object")
    else:
        msg = _json_object(frame, "message")
    channel = msg.pop("channel", None)
    header = msg.get("header")
    _check_header(header, channel)
    channel = _check_channel(channel, header)
    for part in _OBJECT_PARTS:
        if not isinstance(msg.get(part), dict):
            raise InvalidFrame(
                f"The message needs {part} as a JSON object, not {msg.get(part)!r:.80}",
                channel=channel,
                header=header,
            )
    return channel, msg


def split_v1(frame: bytes) -> tuple[str, list[bytes]]:
    """Channel and parts of a v1 frame, every offset checked against the frame's length.

    (Jupyter Server's reader believes the offset count at the start of the frame and
    builds a list that long: a few bytes could stall the server.)
    """
    size = len(frame)
    count = int.from_bytes(frame[:8], "little") if size >= 8 else 0
    if count < 2 or 8 * (count + 1) > size:
        raise InvalidFrame(
            f"The binary frame is not a {V1} message: its offset count does not fit its length"
        )
    offsets = [int.from_bytes(frame[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    if offsets[0] < 8 * (count + 1) or offsets != sorted(offsets) or offsets[-1] > size:
        raise InvalidFrame(
            f"The binary frame is not a {V1} message: its offsets are out of order or past its end"
        )
    try:
        channel = frame[offsets[0] : offsets[1]].decode()
    except UnicodeDecodeError:
        raise InvalidFrame("The channel name of the binary frame is not UTF-8") from None
    parts = [frame[offsets[i] : offsets[i + 1]] for i in range(1, count - 1)]
    return channel, parts


def parse_v1(frame: str | bytes) -> tuple[str, list[bytes], dict[str, Any]]:
    """Channel, wire parts and header of a frame in the v1 binary websocket protocol."""
    if not isinstance(frame, bytes):
        raise InvalidFrame(
            f"This websocket speaks {V1}: send binary frames, not text",
        )
    channel, parts = split_v1(frame)
    if len(parts) < 4:
        raise InvalidFrame(
            f"The frame has {len(parts)} message parts; a message has at least 4 "
            "(header, parent_header, metadata, content)",
            channel=channel,
        )
    header = _json_object(parts[0], "message header")
    _check_header(header, channel)
    channel = _check_channel(channel, header)
    for part, raw in zip(_OBJECT_PARTS, parts[1:4], strict=True):
        try:
            _json_object(raw, part.replace("_", " "))
        except InvalidFrame as e:
            e.channel, e.header = channel, header
            raise
    return channel, parts, header


#: The most iopub messages passed on ahead of one message of another channel (the rest
#: follow in the stream's own turns).
IOPUB_AHEAD_LIMIT = 1000


class NoDelayWebsocketConnection(ZMQChannelsWebsocketConnection):
    def connect(self) -> asyncio.Future[None] | None:  # type: ignore[override]
        self.websocket_handler.set_nodelay(True)
        return super().connect()

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        """Pass a kernel's message on; iopub messages that wait go first (module doc)."""
        if getattr(stream, "channel", stream) != "iopub":
            self._pass_waiting_iopub()
        super().handle_outgoing_message(stream, outgoing_msg)

    def _pass_waiting_iopub(self) -> None:
        iopub = self.channels.get("iopub")
        if iopub is None or iopub.closed() or not iopub.receiving():
            return
        passed = 0
        try:
            while passed < IOPUB_AHEAD_LIMIT:
                try:
                    message = iopub.socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                passed += 1
                super().handle_outgoing_message(iopub, message)
        finally:
            if passed:
                # Reading the socket here may have used up the signal its stream waits
                # for: let the stream look at the socket again.
                iopub.io_loop.add_callback(iopub._handle_events, iopub.socket, 0)

    def handle_incoming_message(self, incoming_msg: str | bytes) -> None:
        """Pass a client's frame to the kernel, or answer it with an error."""
        if not self.channels:
            # already closed, ignore the message
            log.debug("Message on the closed websocket of kernel %s", self.kernel_id)
            return
        try:
            self._forward(incoming_msg)
        except InvalidFrame as e:
            log.warning("Refused a websocket message for kernel %s: %s", self.kernel_id, e)
            self._answer_error(e)
        except Exception as e:
            log.exception("Could not pass a websocket message to kernel %s", self.kernel_id)
            self._answer_error(
                InvalidFrame(f"The service could not pass the message to the kernel: {e}")
            )

    def _forward(self, frame: str | bytes) -> None:
        v1 = self.subprotocol == V1
        if v1:
            channel, parts, header = parse_v1(frame)
        else:
            channel, msg = parse_legacy(frame)
            header = msg["header"]
        allowed = self.multi_kernel_manager.allowed_message_types
        if allowed and header["msg_type"] not in allowed:
            raise InvalidFrame(
                f"Messages of type {header['msg_type']!r} are not allowed by this service",
                channel=channel,
                header=header,
            )
        stream = self.channels.get(channel)
        if stream is None:
            raise InvalidFrame(
                f"The connection to the kernel's {channel} channel is closed",
                channel=channel,
                header=header,
            )
        try:
            if v1:
                self.session.send_raw(stream, parts)
            else:
                self.session.send(stream, msg)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
            # jupyter_client could not serialize (or adapt the version of) the message
            raise InvalidFrame(
                f"The message cannot be sent to the kernel ({e})", channel=channel, header=header
            ) from None

    def _answer_error(self, error: InvalidFrame) -> None:
        header = error.header if isinstance(error.header, dict) else {}
        # Only the fields a client routes by: the rest of a bad header is not echoed.
        parent = {k: header[k] for k in _HEADER_FIELDS if isinstance(header.get(k), str)}
        channel = error.channel if error.channel in REQUEST_CHANNELS else "shell"
        msg_type = parent.get("msg_type")
        if isinstance(msg_type, str) and msg_type.endswith("_request"):
            reply_type = msg_type[: -len("_request")] + "_reply"
        else:
            reply_type = "error"
        reply = self.session.msg(reply_type, content=error.reply_content())
        reply["parent_header"] = parent
        try:
            if self.subprotocol == V1:
                packed = serialize_msg_to_ws_v1(  # type: ignore[no-untyped-call]
                    reply, channel, self.session.pack
                )
                self.write_message(packed, binary=True)
            else:
                reply["channel"] = channel
                self.write_message(json.dumps(reply, default=json_default))
        except WebSocketClosedError:
            log.debug("Websocket of kernel %s closed before an error reply", self.kernel_id)
