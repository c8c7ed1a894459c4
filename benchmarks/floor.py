"""``python -m benchmarks.floor -f CONNECTION_FILE``: the cheapest possible proxy kernel.

The benchmark's floor for any design that puts a process of its own between the server
and the subkernel, as Beaker does. It starts an ipykernel with the same key and relays
every channel with libzmq's own proxy (``zmq.proxy``: C loops in threads, no Python per
message, no decoding, no re-signing). Whatever this kernel costs over the plain ipykernel
is the price of the extra process and its ZMQ hops on this machine, which no amount of
work on Beaker's Python code can remove.

Not a Beaker kernel and not for use: it has no interrupts beyond SIGINT and no restarts.
"""

from __future__ import annotations

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

from beaker_kernel.transport import address

#: Its kernelspec's name in the benchmark's server.
NAME = "bench_floor"

#: channel → (socket facing the server, socket facing the ipykernel)
CHANNELS = {
    "shell": (zmq.ROUTER, zmq.DEALER),
    "control": (zmq.ROUTER, zmq.DEALER),
    "stdin": (zmq.ROUTER, zmq.DEALER),
    "hb": (zmq.ROUTER, zmq.DEALER),
    "iopub": (zmq.XPUB, zmq.XSUB),
}


def kernelspec() -> dict[str, Any]:
    """The kernelspec of this kernel, run by this Python with this checkout importable."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {
        "argv": [sys.executable, "-m", "benchmarks.floor", "-f", "{connection_file}"],
        "display_name": "ipykernel behind a C ZMQ proxy (benchmark floor)",
        "language": "python",
        "interrupt_mode": "signal",
        "env": {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))},
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

    context = zmq.Context()
    identity = uuid.uuid4().bytes  # shell and stdin share it, as the ipykernel expects
    for channel, (front_type, back_type) in CHANNELS.items():
        outer = context.socket(front_type)
        inner = context.socket(back_type)
        if channel in ("shell", "stdin"):
            inner.setsockopt(zmq.IDENTITY, identity)
        outer.bind(address(front, f"{channel}_port"))
        inner.connect(address(back, f"{channel}_port"))
        threading.Thread(target=zmq.proxy, args=(outer, inner), daemon=True).start()
    code = kernel.wait()
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(code)  # the proxy threads never return


if __name__ == "__main__":
    main(sys.argv[1:])
