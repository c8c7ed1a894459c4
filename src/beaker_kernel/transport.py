"""Which ZMQ transport local kernels use.

IPC (Unix sockets in the user's private Jupyter runtime directory) is faster than loopback
TCP and reachable only by this user. A Unix socket path has at most ~107 bytes, so TCP is
used when the runtime directory's path is too long for the socket paths under it, and
when that directory cannot be written.
``BEAKER_TRANSPORT`` (``ipc`` or ``tcp``) chooses explicitly. Kernels in containers always
use TCP (their provisioner sets it).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

#: Longest runtime directory for which IPC socket paths (``<dir>/kernel-<uuid>-ipc-<n>``)
#: stay under the ~107 bytes a Unix socket path may have.
IPC_DIR_LIMIT = 50

#: The variable that chooses the transport.
TRANSPORT_VARIABLE = "BEAKER_TRANSPORT"


def local_transport() -> str:
    """``ipc`` or ``tcp``: the transport for kernels started as local processes."""
    from jupyter_core.paths import jupyter_runtime_dir

    chosen = chosen_transport()
    if chosen:
        return chosen
    runtime = jupyter_runtime_dir()
    if len(runtime) > IPC_DIR_LIMIT or not _writable(runtime):
        return "tcp"
    return "ipc"


def _writable(folder: str) -> bool:
    """Whether ``folder`` exists (it is made if not, private) and this user can write in it."""
    from jupyter_core.utils import ensure_dir_exists

    try:
        ensure_dir_exists(folder, mode=0o700)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def chosen_transport() -> str:
    """``BEAKER_TRANSPORT`` when set (``ipc`` or ``tcp``), else ``""``."""
    chosen = os.environ.get(TRANSPORT_VARIABLE, "")
    if chosen and chosen not in ("ipc", "tcp"):
        raise ValueError(f"{TRANSPORT_VARIABLE} must be ipc or tcp, not {chosen!r}")
    return chosen


def new_connection_file() -> str:
    """A connection-file path of its own in the runtime directory (created, private).

    With IPC, jupyter_client puts the kernel's sockets beside it (``<file>-ipc-<n>``)
    instead of in the working directory.
    """
    from jupyter_core.paths import jupyter_runtime_dir
    from jupyter_core.utils import ensure_dir_exists

    runtime = jupyter_runtime_dir()
    ensure_dir_exists(runtime, mode=0o700)
    return os.path.join(runtime, f"kernel-{uuid.uuid4()}.json")


def address(info: dict[str, Any], port_name: str) -> str:
    """The ZMQ address of one channel in a connection file's ``info``."""
    transport = info.get("transport", "tcp")
    ip = info.get("ip", "127.0.0.1")
    if transport == "ipc":
        return f"ipc://{ip}-{info[port_name]}"
    return f"{transport}://{ip}:{info[port_name]}"
