"""A kernel provisioner that runs each kernel in its own Docker container.

Life of a kernel container (every Docker call runs in a worker thread, never on the event loop):

* :meth:`DockerProvisioner.pre_launch` builds the command from the kernelspec's ``argv`` (with
  ``{connection_file}`` pointing inside the container) and the container's environment: the
  kernelspec's ``env`` plus the few names in ``env_allowlist``, never a secret.
* :meth:`~DockerProvisioner.launch_kernel` creates the container on the private network
  ``network`` with memory, CPU and process limits, no capabilities, ``no-new-privileges``, a
  non-root user and the shared workspace volume; copies the connection file in (so no host
  path needs to be shared with the engine), starts it, and returns the connection info with
  the container's address on that network. The kernel listens on fixed ports inside its own
  network namespace. With ``network_access = "outbound"`` the container also joins
  ``outbound_network``, an ordinary bridge network, which gives it a route out.
* Interrupts and signals go through ``docker kill --signal``; the container runs an init
  process that passes them on to the kernel.
* :meth:`~DockerProvisioner.cleanup` removes the container, after a shutdown and before a
  restart alike (a restart starts a new container). Containers carry labels, so the ones a
  killed service could not remove are found and removed when it starts again
  (:func:`~beaker_kernel.provisioning.remove_orphaned_containers`).

The process that runs this provisioner (the Beaker service) must reach the containers'
addresses on ``network``: on the Docker host itself, or in a container attached to that
network (``compose.yaml`` does this).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import tarfile
import time
from typing import Any, cast

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Enum, Float, Int, List, Unicode, default, validate

from ..environment import is_secret
from .docker_client import LABEL_INSTANCE, LABEL_KERNEL_ID, default_instance, docker_client
from .errors import ContainerStartError

#: Where the connection file is written inside the container (the directory is created).
CONNECTION_DIR = "/tmp/beaker-kernel"
CONNECTION_FILE = f"{CONNECTION_DIR}/connection.json"

#: The ports the kernel binds inside its container: it has the network namespace to itself.
CONTAINER_PORTS = {
    "shell_port": 50051,
    "iopub_port": 50052,
    "stdin_port": 50053,
    "control_port": 50054,
    "hb_port": 50055,
}

#: Container states in which the kernel process still exists.
_LIVE_STATES = frozenset({"created", "running", "restarting", "paused"})


def _env(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


class DockerProvisioner(KernelProvisionerBase):
    """Runs a kernel in a Docker container of the kernelspec's ``image``.

    Configure limits and placement with traitlets (``c.DockerProvisioner.mem_limit = "4g"``) or
    the environment variables named in each setting's help; the kernelspec's
    ``kernel_provisioner.config`` sets ``image`` (and may set any other setting for that
    kernel only).
    """

    image = Unicode(
        help="The image the kernel runs in; it must contain the program of the kernelspec's argv."
    ).tag(config=True)

    network = Unicode(
        help="The Docker network kernel containers join; the service must reach it. Created "
        "(internal: no route out) when missing. Environment: BEAKER_DOCKER_NETWORK."
    ).tag(config=True)

    @default("network")
    def _default_network(self) -> str:
        return _env("BEAKER_DOCKER_NETWORK", "beaker-kernels")

    network_access = Enum(
        ["internal", "outbound"],
        help="What kernels reach over the network. internal: the service and each other only, "
        "on `network` (no route out; compose.yaml's network also keeps them from the Docker "
        "host). outbound: also the host, its network and the internet, through "
        "`outbound_network`. Environment: BEAKER_KERNEL_NETWORK_ACCESS.",
    ).tag(config=True)

    @default("network_access")
    def _default_network_access(self) -> str:
        value = _env("BEAKER_KERNEL_NETWORK_ACCESS", "internal")
        if value not in ("internal", "outbound"):
            raise ValueError(
                f"BEAKER_KERNEL_NETWORK_ACCESS must be internal or outbound, not {value!r}"
            )
        return value

    outbound_network = Unicode(
        help="The bridge network (with a route out) kernel containers also join when "
        "network_access is outbound. Created when missing. Default: `network` + '-outbound'.",
    ).tag(config=True)

    @default("outbound_network")
    def _default_outbound_network(self) -> str:
        return f"{self.network}-outbound"

    workspace_volume = Unicode(
        help="Named Docker volume mounted read-write at workspace_path in every kernel "
        "container ('' for none). Environment: BEAKER_WORKSPACE_VOLUME."
    ).tag(config=True)

    @default("workspace_volume")
    def _default_workspace_volume(self) -> str:
        return os.environ.get("BEAKER_WORKSPACE_VOLUME", "beaker-workspace")

    workspace_path = Unicode(
        "/home/beaker/work",
        help="Where the workspace volume is mounted in the container (the kernel's working "
        "directory).",
    ).tag(config=True)

    user = Unicode(
        "1000:1000",
        help="The numeric uid:gid the kernel runs as (never root). The images create uid 1000.",
    ).tag(config=True)

    @validate("user")
    def _validate_user(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        uid, _, gid = value.partition(":")
        if not (uid.isdigit() and gid.isdigit()):
            raise ValueError(f"DockerProvisioner.user must be numeric 'uid:gid', got {value!r}")
        if int(uid) == 0:
            raise ValueError("DockerProvisioner.user must not be root (uid 0)")
        return value

    mem_limit = Unicode(
        help="Memory limit of a kernel container, swap included (Docker syntax: '2g', '512m'). "
        "Environment: BEAKER_KERNEL_MEMORY."
    ).tag(config=True)

    @default("mem_limit")
    def _default_mem_limit(self) -> str:
        return _env("BEAKER_KERNEL_MEMORY", "2g")

    cpus = Float(
        help="CPUs a kernel container may use (fractions allowed). Environment: BEAKER_KERNEL_CPUS."
    ).tag(config=True)

    @default("cpus")
    def _default_cpus(self) -> float:
        return float(_env("BEAKER_KERNEL_CPUS", "1"))

    pids_limit = Int(
        help="Most processes and threads a kernel container may run. "
        "Environment: BEAKER_KERNEL_PIDS."
    ).tag(config=True)

    @default("pids_limit")
    def _default_pids_limit(self) -> int:
        return int(_env("BEAKER_KERNEL_PIDS", "256"))

    instance = Unicode(
        help="Name of the service instance owning the containers (a label): at start-up a "
        "service removes the containers of its own instance only. Environment: "
        "BEAKER_DOCKER_INSTANCE."
    ).tag(config=True)

    @default("instance")
    def _default_instance(self) -> str:
        return default_instance()

    env_allowlist = List(
        Unicode(),
        default_value=["JPY_SESSION_NAME", "LANG", "LC_ALL", "TZ"],
        help="Variables of the launch environment passed into the container (besides the "
        "kernelspec's env). Secrets (tokens, keys, LLM settings) are dropped even when listed.",
    ).tag(config=True)

    start_timeout = Float(
        30.0, help="Seconds to wait for the container to reach the running state."
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: Any = None
        self.container_id: str | None = None
        self.container_ip: str | None = None
        self._exit_code: int | None = None
        self._container_env: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers

    async def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a blocking Docker call in a worker thread."""
        return await asyncio.to_thread(function, *args, **kwargs)

    def _docker(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def _container(self) -> Any:
        """The container object (blocking), or ``None`` when it no longer exists."""
        import docker.errors

        if self.container_id is None:
            return None
        try:
            return self._docker().containers.get(self.container_id)
        except docker.errors.NotFound:
            return None

    @property
    def container_name(self) -> str:
        return f"beaker-kernel-{self.kernel_id}"

    # ------------------------------------------------------------------ launch

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Prepare the command and environment of the container (called by the kernel manager).

        Ports and the HMAC key are the kernel manager's; the address is known only once the
        container runs (:meth:`launch_kernel`).
        """
        if not self.image:
            raise ContainerStartError(
                f"The kernelspec {self._spec_name()!r} names no image: set "
                "metadata.kernel_provisioner.config.image",
                image="",
            )
        try:
            self.log.debug("Kernel network access: %s", self.network_access)
        except ValueError as e:
            raise ContainerStartError(str(e), image=self.image) from e
        km = self.parent
        extra_arguments: list[str] = kwargs.pop("extra_arguments", None) or []
        kwargs = await super().pre_launch(**kwargs)
        launch_env: dict[str, str] = kwargs.pop("env")
        spec_env = dict(self.kernel_spec.env or {})
        names = [*spec_env, *(name for name in self.env_allowlist if name in launch_env)]
        self._container_env = {
            name: launch_env[name] for name in names if name in launch_env and not is_secret(name)
        }
        cmd = [arg.replace("{connection_file}", CONNECTION_FILE) for arg in self.kernel_spec.argv]
        if km is not None:
            session = km.session
            key = session.key
            info: dict[str, Any] = {
                **CONTAINER_PORTS,
                "ip": "",
                # bytes, as in the kernel manager's own connection info, which
                # jupyter_client compares with this one after the launch.
                "key": key if isinstance(key, bytes) else str(key).encode(),
                "transport": "tcp",
                "signature_scheme": session.signature_scheme,
                "kernel_name": km.kernel_name,
            }
            self.connection_info = cast(KernelConnectionInfo, info)
        # The kernel manager passes Popen-style options (cwd, env); a container takes none.
        return {"cmd": [*cmd, *extra_arguments]}

    def _spec_name(self) -> str:
        km = self.parent
        return str(getattr(km, "kernel_name", "") or getattr(self.kernel_spec, "display_name", ""))

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Create and start the container; return the connection info to reach it."""
        if not self.connection_info:
            raise ContainerStartError(
                "DockerProvisioner needs a kernel manager as its parent", image=self.image
            )
        self._exit_code = None
        container_id, ip = await self._call(self._start_container, cmd)
        self.container_id = container_id
        self.container_ip = ip
        self.connection_info = {**self.connection_info, "ip": ip}
        self.log.info(
            "Kernel %s runs in container %s (%s) at %s",
            self.kernel_id,
            container_id[:12],
            self.image,
            ip,
        )
        return self.connection_info

    def _connection_archive(self) -> bytes:
        """A tar with the connection file, owned by the kernel's user and readable by it only."""
        uid, gid = (int(part) for part in self.user.split(":"))
        key = self.connection_info["key"]
        info = {
            **self.connection_info,
            "ip": "0.0.0.0",  # listen on the container's own interface
            "key": key.decode() if isinstance(key, bytes) else key,
        }
        data = json.dumps(info, indent=1).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            folder = tarfile.TarInfo(os.path.basename(CONNECTION_DIR))
            folder.type = tarfile.DIRTYPE
            folder.mode = 0o700
            folder.uid, folder.gid = uid, gid
            folder.mtime = int(time.time())
            tar.addfile(folder)
            entry = tarfile.TarInfo(f"{folder.name}/connection.json")
            entry.size = len(data)
            entry.mode = 0o600
            entry.uid, entry.gid = uid, gid
            entry.mtime = folder.mtime
            tar.addfile(entry, io.BytesIO(data))
        return buffer.getvalue()

    def _ensure_network(self, client: Any, name: str, *, internal: bool) -> Any:
        """The network ``name``, created when missing (blocking).

        An internal network made here keeps its bridge address on the host, because a service
        running on the host itself reaches its kernels through it (and kernels can then reach
        the host's services). compose.yaml creates the network without one instead: there the
        service is a container on it.
        """
        import docker.errors

        try:
            return client.networks.get(name)
        except docker.errors.NotFound:
            pass
        kind = "internal" if internal else "outbound"
        self.log.info("Creating the %s Docker network %s for kernels", kind, name)
        try:
            return client.networks.create(
                name,
                driver="bridge",
                internal=internal,
                labels={LABEL_INSTANCE: self.instance},
            )
        except docker.errors.APIError as e:
            # Another kernel starting at the same time may have created it.
            if e.status_code != 409:
                raise
        return client.networks.get(name)

    def _start_container(self, cmd: list[str]) -> tuple[str, str]:
        """Create, fill and start the container (blocking); returns its id and address."""
        import docker.errors
        from docker.types import Mount

        client = self._docker()
        self._ensure_network(client, self.network, internal=True)
        outbound = None
        if self.network_access == "outbound":
            outbound = self._ensure_network(client, self.outbound_network, internal=False)
        mounts = []
        if self.workspace_volume:
            mounts.append(
                Mount(target=self.workspace_path, source=self.workspace_volume, type="volume")
            )
        memory = self.mem_limit or None
        try:
            container = client.containers.create(
                self.image,
                command=cmd,
                name=self.container_name,
                hostname="kernel",
                user=self.user,
                working_dir=self.workspace_path,
                environment=self._container_env,
                labels={LABEL_KERNEL_ID: str(self.kernel_id), LABEL_INSTANCE: self.instance},
                network=self.network,
                mounts=mounts,
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=int(self.cpus * 1e9) if self.cpus > 0 else None,
                pids_limit=self.pids_limit if self.pids_limit > 0 else None,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges:true"],
                init=True,
                detach=True,
            )
        except docker.errors.ImageNotFound as e:
            raise ContainerStartError(
                f"The kernel image {self.image!r} does not exist on this Docker engine: build it "
                "first (scripts/build-images)",
                image=self.image,
            ) from e
        except docker.errors.APIError as e:
            raise ContainerStartError(
                f"Docker could not create a kernel container from {self.image!r}: "
                f"{e.explanation or e}",
                image=self.image,
            ) from e
        try:
            if outbound is not None:
                outbound.connect(container)
            container.put_archive(os.path.dirname(CONNECTION_DIR), self._connection_archive())
            container.start()
            return container.id, self._wait_for_address(container)
        except BaseException:
            container.remove(force=True)
            raise

    def _wait_for_address(self, container: Any) -> str:
        deadline = time.monotonic() + self.start_timeout
        while True:
            container.reload()
            state = container.attrs["State"]
            if state["Status"] == "running":
                network = container.attrs["NetworkSettings"]["Networks"].get(self.network) or {}
                address = network.get("IPAddress")
                if address:
                    return str(address)
            elif state["Status"] not in _LIVE_STATES:
                logs = container.logs(tail=30).decode(errors="replace")
                raise ContainerStartError(
                    f"The kernel container from {self.image!r} exited at once with code "
                    f"{state.get('ExitCode')}: {logs.strip()[-2000:]}",
                    image=self.image,
                    logs=logs,
                )
            if time.monotonic() > deadline:
                raise ContainerStartError(
                    f"The kernel container from {self.image!r} did not run within "
                    f"{self.start_timeout:.0f} s (state {state['Status']})",
                    image=self.image,
                )
            time.sleep(0.1)

    # ------------------------------------------------------------------ process API

    @property
    def has_process(self) -> bool:
        """Whether a container was started and not yet cleaned up."""
        return self.container_id is not None

    def _poll(self) -> int | None:
        if self._exit_code is not None:
            return self._exit_code
        container = self._container()
        if container is None:
            self._exit_code = -1
            return self._exit_code
        state = container.attrs["State"]
        if state["Status"] in _LIVE_STATES:
            return None
        self._exit_code = int(state.get("ExitCode", -1))
        return self._exit_code

    async def poll(self) -> int | None:
        """``None`` while the container runs, else the kernel's exit code (-1 if it is gone)."""
        if self.container_id is None:
            return 0
        result: int | None = await self._call(self._poll)
        return result

    async def wait(self) -> int | None:
        """Wait until the container has stopped; return the exit code."""
        while True:
            code = await self.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.2)

    def _kill(self, signum: int) -> None:
        import docker.errors

        container = self._container()
        if container is None:
            return
        try:
            container.kill(signal=int(signum))
        except docker.errors.APIError as e:
            # 409: the container is not running any more, which is what was wanted.
            if e.status_code != 409:
                raise

    async def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the kernel (through the container's init process)."""
        if signum == 0:
            return
        await self._call(self._kill, signum)

    async def kill(self, restart: bool = False) -> None:
        """Stop the kernel at once (SIGKILL)."""
        await self._call(self._kill, signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        """Ask the kernel to stop (SIGTERM)."""
        await self._call(self._kill, signal.SIGTERM)

    def _remove(self) -> None:
        import docker.errors

        container = self._container()
        if container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the container; a restart starts a new one. Called by the kernel manager."""
        if self.container_id is not None:
            await self._call(self._remove)
            self.log.debug("Removed the container of kernel %s", self.kernel_id)
        self.container_id = None
        self.container_ip = None
        if not restart and self._client is not None:
            client, self._client = self._client, None
            await self._call(client.close)

    # ------------------------------------------------------------------ persistence

    async def get_provisioner_info(self) -> dict[str, Any]:
        """What :meth:`load_provisioner_info` needs to manage the container again."""
        info = await super().get_provisioner_info()
        info.update({"container_id": self.container_id, "container_ip": self.container_ip})
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        """Adopt a container started by another process (see :meth:`get_provisioner_info`)."""
        await super().load_provisioner_info(provisioner_info)
        self.container_id = provisioner_info.get("container_id")
        self.container_ip = provisioner_info.get("container_ip")


__all__ = ["CONNECTION_FILE", "CONTAINER_PORTS", "DockerProvisioner"]
