"""The kernel's parts without processes or sockets, for fast routing tests.

:func:`build` makes a :class:`BeakerKernelApp` whose front-end sends are recorded and
whose subkernel is a :class:`FakeLink` recording what Beaker sends it. Messages are made
and checked with real :class:`jupyter_client.session.Session` objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.session import Session

from beaker_kernel.kernel import BeakerKernelApp
from beaker_kernel.kernel.link import SubkernelLink
from beaker_kernel.lib.subkernel import discover_subkernels
from beaker_kernel.wire import Frames

FRONT_KEY = b"front-end-key"
SUB_KEY = b"subkernel-key"


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []


class FakeHandle:
    kernel_name = "python3"
    kernel_id = None

    def __init__(self) -> None:
        self.interrupted = 0

    async def interrupt(self) -> None:
        self.interrupted += 1

    async def is_alive(self) -> bool:
        return True

    async def shutdown(self) -> None:
        return None


@dataclass
class FakeLink:
    session: Session = field(default_factory=lambda: Session(key=SUB_KEY, username="sub"))
    shell: FakeSocket = field(default_factory=FakeSocket)
    control: FakeSocket = field(default_factory=FakeSocket)
    stdin: FakeSocket = field(default_factory=FakeSocket)
    handle: FakeHandle = field(default_factory=FakeHandle)
    tasks: set[Any] = field(default_factory=set)
    passthrough: Any = None
    same_signer: bool = False
    send_first: bool = False
    kernel_info: dict[str, Any] | None = None

    @property
    def kernel_name(self) -> str:
        return "python3"

    def socket(self, channel: str) -> FakeSocket:
        return self.control if channel == "control" else self.shell

    def send(self, channel: str, frames: list[bytes]) -> None:
        sock = self.stdin if channel == "stdin" else self.socket(channel)
        sock.sent.append(list(frames))

    forward = SubkernelLink.forward

    def received(self, channel: str = "shell") -> list[dict[str, Any]]:
        """What Beaker sent on ``channel``, checked with the subkernel's key and decoded."""
        return [decode(raw, self.session) for raw in self.socket(channel).sent]


@dataclass
class Sent:
    channel: str
    msg: dict[str, Any]


class Harness:
    def __init__(self, app: BeakerKernelApp, link: FakeLink) -> None:
        self.app = app
        self.link = link
        self.client = Session(key=FRONT_KEY, username="client")
        self.sent: list[Sent] = []

    def message(
        self, msg_type: str, content: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        return self.client.msg(msg_type, content or {}, **kw)

    async def send(self, channel: str, msg: dict[str, Any], ident: bytes = b"client-1") -> None:
        raw = self.client.serialize(msg, ident=[ident])
        await self.app.router.dispatch(channel, raw)

    def from_subkernel(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any],
        idents: list[bytes] | None = None,
    ) -> list[bytes]:
        msg = self.link.session.msg(msg_type, content, parent=parent)
        return self.link.session.serialize(msg, ident=idents or [])

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [s.msg for s in self.sent if s.msg["msg_type"] == msg_type]

    def types(self) -> list[str]:
        return [s.msg["msg_type"] for s in self.sent]


def decode(raw: list[bytes], session: Session) -> dict[str, Any]:
    frames = Frames.split(raw)
    frames.verify(session)
    return {
        "idents": frames.idents,
        "header": frames.header(),
        "msg_type": frames.header()["msg_type"],
        "parent_header": frames.parent_header(),
        "metadata": frames.metadata(),
        "content": frames.content(),
    }


def build(tmp_path: Path, *, shared_key: bool = False) -> Harness:
    """A Beaker kernel app with a fake subkernel link. ``shared_key``: the subkernel signs
    with the front end's key, as a local subkernel does (messages pass unchanged, and the
    standard requests and their replies are sent on before Beaker reads them)."""
    connection = tmp_path / "kernel.json"
    connection.write_text(
        json.dumps({"key": FRONT_KEY.decode(), "signature_scheme": "hmac-sha256"})
    )
    app = BeakerKernelApp(connection_file=str(connection))
    app.build()
    link = FakeLink()
    if shared_key:
        link.session = Session(key=FRONT_KEY, username="sub")
        link.same_signer = link.send_first = True
    harness = Harness(app, link)
    names = {}
    for channel in ("shell", "control", "stdin", "iopub"):
        sock = object()
        names[id(sock)] = channel
        setattr(app.frontend, channel, sock)

    def send_now(sock: object, frames: list[bytes]) -> None:
        harness.sent.append(Sent(names[id(sock)], decode(frames, app.frontend.session)))

    app.frontend.send_now = send_now  # type: ignore[method-assign, assignment]
    subkernels = discover_subkernels()
    app.supervisor.subkernels = subkernels
    app.supervisor.adopt(link, subkernels["python3"])  # type: ignore[arg-type]
    return harness
