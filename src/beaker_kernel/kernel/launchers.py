"""Starting, watching and stopping subkernels.

A :class:`SubkernelLauncher` starts a subkernel for a kernelspec name and hands back a
:class:`SubkernelHandle`. Two implementations exist:

* :class:`LocalLauncher` starts the subkernel itself with jupyter_client's
  ``AsyncKernelManager`` (and so through the kernel provisioner named in the kernelspec).
  Used when Beaker runs outside the Beaker service (``jupyter console``, tests).
* :class:`ServiceLauncher` asks the Beaker service to start it (``POST /api/kernels``), so
  the server lists both kernels and its provisioners (local or container) apply. The
  connection info comes from the service's authenticated ``/beaker/subkernels`` endpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import quote

from ..environment import subkernel_environment
from ..errors import ServiceError, ServiceUnreachableError, SubkernelStartError
from ..lib.subkernel import runs_locally
from ..transport import chosen_transport, new_connection_file

log = logging.getLogger(__name__)

ConnectionInfo = dict[str, Any]


class SubkernelHandle(ABC):
    """A running subkernel, as seen by the Beaker kernel."""

    def __init__(self, kernel_name: str, connection_info: ConnectionInfo) -> None:
        self.kernel_name = kernel_name
        self.connection_info = connection_info
        #: Whether the subkernel runs on this machine as this user (its files are visible
        #: here), as opposed to in a container; set by the supervisor from the kernelspec.
        self.local = False

    @property
    @abstractmethod
    def kernel_id(self) -> str | None:
        """The server's kernel id, when the service started it."""

    @abstractmethod
    async def is_alive(self) -> bool:
        """Whether the subkernel process is still running."""

    @abstractmethod
    async def interrupt(self) -> None:
        """Interrupt the code the subkernel runs (signal or message, per its kernelspec)."""

    @abstractmethod
    async def restart(self) -> None:
        """Replace the subkernel process by a fresh one; ``connection_info`` is updated."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Stop the subkernel and release everything it holds. Safe to call twice."""

    async def connected(self) -> None:  # noqa: B027 - optional hook
        """The subkernel answered: it has read whatever it needed to start."""


class SubkernelLauncher(ABC):
    """Starts subkernels. One launcher lives as long as the Beaker kernel."""

    @abstractmethod
    async def kernelspecs(self) -> dict[str, dict[str, Any]]:
        """Installed kernelspecs: name → kernel.json content."""

    @abstractmethod
    async def start(self, kernel_name: str) -> SubkernelHandle:
        """Start a subkernel from the kernelspec ``kernel_name``."""

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources held by the launcher itself."""


# --------------------------------------------------------------------------- local


class LocalHandle(SubkernelHandle):
    def __init__(self, kernel_name: str, manager: Any) -> None:
        super().__init__(kernel_name, manager.get_connection_info())
        self._manager = manager

    @property
    def kernel_id(self) -> str | None:
        return None

    async def is_alive(self) -> bool:
        return bool(await self._manager.is_alive())

    async def interrupt(self) -> None:
        await self._manager.interrupt_kernel()

    async def restart(self) -> None:
        # now=True: the old process is dead or must go at once; the new one gets the
        # same ports so sockets connected to it reconnect by themselves.
        await self._manager.restart_kernel(now=True)
        self.connection_info = self._manager.get_connection_info()

    async def shutdown(self) -> None:
        if self._manager.has_kernel:
            await self._manager.shutdown_kernel(now=False)

    async def connected(self) -> None:
        # The subkernel read its connection file (with the key) when it started. Removed
        # now, it cannot be left behind when this kernel is killed outright (a restart
        # writes it again).
        path = getattr(self._manager, "connection_file", "")
        if path:
            await asyncio.to_thread(_remove, path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("Could not remove the subkernel's connection file %s: %s", path, e)


def _die_with_parent() -> None:
    """Runs in the forked child before exec: ask Linux to kill it when Beaker dies.

    Without this an R or Julia subkernel would outlive a Beaker kernel killed with SIGKILL
    (ipykernel watches its parent itself; other kernels do not).
    """
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


class LocalLauncher(SubkernelLauncher):
    """Starts subkernels as local processes with jupyter_client.

    ``signer`` (a key and a signature scheme), when given, is what a subkernel that runs
    locally (:func:`runs_locally`) signs its messages with: the front end's own, so that
    its iopub can be relayed without re-signing (see passthrough.py). Such a subkernel
    runs as the same user as Beaker, who can read Beaker's connection file anyway; a
    subkernel in a container keeps a key of its own.
    """

    def __init__(
        self, shutdown_wait_time: float = 2.0, signer: tuple[bytes, str] | None = None
    ) -> None:
        self._shutdown_wait_time = shutdown_wait_time
        self._signer = signer

    async def kernelspecs(self) -> dict[str, dict[str, Any]]:
        from jupyter_client.kernelspec import KernelSpecManager

        def read() -> dict[str, dict[str, Any]]:
            specs = KernelSpecManager().get_all_specs()
            return {name: model["spec"] for name, model in specs.items()}

        return await asyncio.to_thread(read)

    async def start(self, kernel_name: str) -> SubkernelHandle:
        from jupyter_client.manager import AsyncKernelManager

        try:
            # TCP unless chosen: a kernelspec may run its kernel where this machine's
            # Unix sockets are out of reach (a container started by its argv).
            transport = chosen_transport() or "tcp"
            manager = AsyncKernelManager(
                kernel_name=kernel_name,
                shutdown_wait_time=self._shutdown_wait_time,
                transport=transport,
                # with IPC, the sockets go beside the connection file in the runtime
                # directory, not in the working directory
                connection_file=new_connection_file() if transport == "ipc" else "",
            )
            spec = manager.kernel_spec
            if self._signer is not None and spec is not None and runs_locally(spec.to_dict()):
                manager.session.key, manager.session.signature_scheme = self._signer
            await manager.start_kernel(env=subkernel_environment(), preexec_fn=_die_with_parent)
        except Exception as e:
            raise SubkernelStartError(f"Could not start the {kernel_name!r} kernel: {e}") from e
        return LocalHandle(kernel_name, manager)


# --------------------------------------------------------------------------- service


class ServiceHandle(SubkernelHandle):
    def __init__(
        self,
        launcher: ServiceLauncher,
        kernel_name: str,
        kernel_id: str,
        connection_info: ConnectionInfo,
    ) -> None:
        super().__init__(kernel_name, connection_info)
        self._launcher = launcher
        self._kernel_id = kernel_id
        self._closed = False

    @property
    def kernel_id(self) -> str:
        return self._kernel_id

    async def is_alive(self) -> bool:
        try:
            state = await self._launcher.request("GET", f"/beaker/subkernels/{self._kernel_id}")
        except ServiceError as e:
            if e.status_code == 404:
                return False
            raise
        return bool(state.get("alive"))

    async def interrupt(self) -> None:
        await self._launcher.request("POST", f"/api/kernels/{self._kernel_id}/interrupt", {})

    async def restart(self) -> None:
        await self._launcher.request("POST", f"/api/kernels/{self._kernel_id}/restart", {})
        state = await self._launcher.request("GET", f"/beaker/subkernels/{self._kernel_id}")
        self.connection_info = state["connection"]

    async def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._launcher.request("DELETE", f"/api/kernels/{self._kernel_id}")
        except ServiceUnreachableError as e:
            # The service stops every kernel itself when it stops (Ctrl-C, SIGTERM), and
            # closes its port first: nothing is lost, and nothing to report as an error.
            log.info("Subkernel %s is left to the service, which is gone: %s", self._kernel_id, e)
        except ServiceError as e:
            if e.status_code != 404:
                raise


class ServiceLauncher(SubkernelLauncher):
    """Starts subkernels through the Beaker service's REST API."""

    def __init__(
        self,
        base_url: str,
        token: str,
        parent_kernel_id: str | None,
        prestarted: str = "",
    ) -> None:
        from tornado.httpclient import AsyncHTTPClient

        self.base_url = base_url.rstrip("/")
        self._token = token
        self._parent_kernel_id = parent_kernel_id
        self._client = AsyncHTTPClient()
        #: The kernelspec of the subkernel the service started along with this kernel,
        #: until claimed or released.
        self.prestarted = prestarted if parent_kernel_id else ""

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Call the service; returns the decoded JSON body (``None`` when empty)."""
        from tornado.httpclient import HTTPClientError

        headers = {"Authorization": f"token {self._token}"}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.fetch(
                self.base_url + path,
                method=method,
                headers=headers,
                body=payload,
                request_timeout=120,
                allow_nonstandard_methods=True,
            )
        except HTTPClientError as e:
            detail = ""
            if e.response is not None and e.response.body:
                detail = e.response.body.decode(errors="replace")[:500]
            raise ServiceError(
                f"The Beaker service answered {e.code} to {method} {path}: {detail or e}",
                status_code=e.code,
            ) from e
        except OSError as e:
            raise ServiceUnreachableError(
                f"Cannot reach the Beaker service at {self.base_url}: {e}"
            ) from e
        if not response.body:
            return None
        return json.loads(response.body)

    async def kernelspecs(self) -> dict[str, dict[str, Any]]:
        models = await self.request("GET", "/api/kernelspecs")
        return {name: model["spec"] for name, model in models["kernelspecs"].items()}

    async def start(self, kernel_name: str) -> SubkernelHandle:
        if self.prestarted:
            handle = await self._claim_prestarted(kernel_name)
            if handle is not None:
                return handle
        try:
            model = await self.request("POST", "/api/kernels", {"name": kernel_name})
        except ServiceError as e:
            raise SubkernelStartError(f"The service could not start {kernel_name!r}: {e}") from e
        kernel_id = model["id"]
        try:
            claim = await self.request(
                "POST",
                "/beaker/subkernels",
                {"kernel_id": kernel_id, "parent_id": self._parent_kernel_id},
            )
        except BaseException:
            # Never leave a subkernel behind that nobody will use.
            await self.request("DELETE", f"/api/kernels/{quote(kernel_id)}")
            raise
        return ServiceHandle(self, kernel_name, kernel_id, claim["connection"])

    async def _claim_prestarted(self, kernel_name: str) -> SubkernelHandle | None:
        """The subkernel the service started ahead, if it runs ``kernel_name`` (the
        service deletes it otherwise); ``None`` when it cannot be had."""
        self.prestarted = ""
        try:
            claim = await self.request(
                "POST",
                "/beaker/subkernels/prestarted",
                {"parent_id": self._parent_kernel_id, "kernel_name": kernel_name},
            )
        except ServiceError as e:
            log.info("Starting a subkernel: %s", e.message)
            return None
        return ServiceHandle(self, kernel_name, claim["kernel_id"], claim["connection"])

    async def release_prestarted(self) -> None:
        """Let the service delete the subkernel started ahead, if it was not claimed."""
        if not self.prestarted:
            return
        self.prestarted = ""
        try:
            await self.request(
                "POST",
                "/beaker/subkernels/prestarted",
                {"parent_id": self._parent_kernel_id, "kernel_name": ""},
            )
        except ServiceError as e:
            if e.status_code != 404:
                log.warning("Could not release the subkernel started ahead: %s", e.message)

    async def close(self) -> None:
        self._client.close()
