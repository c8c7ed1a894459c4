"""``python -m benchmarks.floor -f CONNECTION_FILE``: the cheapest possible proxy kernel.

The benchmark's floor for any design that puts a process of its own between the server
and the subkernel, as Beaker does. It starts an ipykernel with the same key and relays
every channel with libzmq's own proxy (``zmq.proxy``: C loops in threads, no Python per
message, no decoding, no re-signing). Whatever this kernel costs over the plain ipykernel
is the price of the extra process and its ZMQ hops on this machine, which no amount of
work on Beaker's Python code can remove.

``BEAKER_BENCH_FLOOR_PYTHON`` (channel names, comma-separated, e.g. ``shell`` or
``shell,iopub``) relays those channels through the cheapest Python loop instead: Beaker's
own :class:`~beaker_kernel.kernel.pump.Pump` on an asyncio loop, each message received and
sent on unchanged (no decoding, no signature check, no re-signing). That is the floor of a
design that keeps those channels in Python, whatever its Python does with a message. The
benchmark measures two of these kernels: ``bench_floor`` (every channel in C) and
``bench_floor_python`` (shell, control and stdin in Python, iopub in C: the channels Beaker
itself relays in Python).

Not a Beaker kernel and not for use: it has no interrupts beyond SIGINT and no restarts.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from typing import Any

import zmq

from beaker_kernel.kernel.pump import Pump, send_frames
from beaker_kernel.transport import address

#: Its kernelspec's name in the benchmark's server.
NAME = "bench_floor"
#: The kernelspec relaying :data:`BEAKER_PYTHON_CHANNELS` in Python.
PYTHON_NAME = "bench_floor_python"

#: Names the channels relayed in Python instead of C (see the module's documentation).
PYTHON_VARIABLE = "BEAKER_BENCH_FLOOR_PYTHON"
#: The channels the Beaker kernel relays in Python (iopub it hands to C).
BEAKER_PYTHON_CHANNELS = "shell,control,stdin"

#: channel → (socket facing the server, socket facing the ipykernel)
CHANNELS = {
    "shell": (zmq.ROUTER, zmq.DEALER),
    "control": (zmq.ROUTER, zmq.DEALER),
    "stdin": (zmq.ROUTER, zmq.DEALER),
    "hb": (zmq.ROUTER, zmq.DEALER),
    "iopub": (zmq.XPUB, zmq.XSUB),
}


def kernelspec(python_channels: str = "") -> dict[str, Any]:
    """The kernelspec of this kernel, run by this Python with this checkout importable,
    relaying ``python_channels`` (comma-separated) in Python and the others in C."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    relay = f"a Python relay of {python_channels}" if python_channels else "a C ZMQ proxy"
    return {
        "argv": [sys.executable, "-m", "benchmarks.floor", "-f", "{connection_file}"],
        "display_name": f"ipykernel behind {relay} (benchmark floor)",
        "language": "python",
        "interrupt_mode": "signal",
        "env": {
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
            PYTHON_VARIABLE: python_channels,
        },
    }


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] != "-f":
        raise SystemExit("usage: python -m benchmarks.floor -f CONNECTION_FILE")
    with open(argv[1]) as f:
        front = json.load(f)
    folder = tempfile.mkdtemp(prefix="floor-")
    # The ipykernel behind: the same key (messages pass unchanged), IPC in a folder of its own.
    back = {
        **front,
        "transport": "ipc",
        "ip": os.path.join(folder, "k"),
        **{f"{channel}_port": n for n, channel in enumerate(CHANNELS, start=1)},
    }
    back_file = os.path.join(folder, "kernel.json")
    with open(back_file, "w") as f:
        json.dump(back, f)
    kernel = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", back_file])
    # The server interrupts with SIGINT (the kernelspec's interrupt_mode is "signal").
    signal.signal(signal.SIGINT, lambda *_: kernel.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: kernel.terminate())

    in_python = {c.strip() for c in os.environ.get(PYTHON_VARIABLE, "").split(",") if c.strip()}
    unknown = in_python - set(CHANNELS) - {"hb"}
    if unknown:
        raise SystemExit(f"{PYTHON_VARIABLE}: unknown channels {sorted(unknown)}")
    context = zmq.Context()
    identity = uuid.uuid4().bytes  # shell and stdin share it, as the ipykernel expects
    pairs = []
    for channel, (front_type, back_type) in CHANNELS.items():
        outer = context.socket(front_type)
        inner = context.socket(back_type)
        if channel in ("shell", "stdin"):
            inner.setsockopt(zmq.IDENTITY, identity)
        outer.bind(address(front, f"{channel}_port"))
        inner.connect(address(back, f"{channel}_port"))
        if channel in in_python:
            pairs.append((channel, outer, inner))
        else:
            threading.Thread(target=zmq.proxy, args=(outer, inner), daemon=True).start()
    code = asyncio.run(_relay_in_python(pairs, kernel)) if pairs else kernel.wait()
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(code)  # the proxy threads never return


async def _relay_in_python(
    pairs: list[tuple[str, zmq.Socket[bytes], zmq.Socket[bytes]]], kernel: subprocess.Popen[bytes]
) -> int:
    """Relay each pair's messages both ways with a pump per socket until the kernel exits."""
    pumps: dict[zmq.Socket[bytes], Pump] = {}

    def relay(to: zmq.Socket[bytes]) -> Any:
        def handle(raw: list[bytes]) -> None:
            send_frames(to, raw)
            peer = pumps.get(to)
            if peer is not None:
                peer.kick()  # a send may use up the edge of a message that arrived on ``to``

        return handle

    def on_error(error: BaseException) -> None:
        print(f"floor: relaying failed: {error!r}", file=sys.stderr)

    for channel, outer, inner in pairs:
        for source, to in ((outer, inner), (inner, outer)):
            pumps[source] = Pump(source, relay(to), name=channel, on_error=on_error)
    for pump in pumps.values():
        pump.start()
    return await asyncio.to_thread(kernel.wait)


if __name__ == "__main__":
    main(sys.argv[1:])
