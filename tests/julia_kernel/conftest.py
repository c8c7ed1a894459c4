"""Fixtures for testing the offline Julia kernel (images/julia, target `offline`) in its container.

The kernel is started through a temporary kernelspec, `beaker-julia-docker`, whose argv runs the
image with `docker run`. The connection file is fed to the kernel on stdin (`-` instead of a path)
rather than mounted, because jupyter_client writes it readable by its owner only and the container
runs as uid 1000. The container shares the host's network, so the ports in the connection file are
the kernel's ports.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

IMAGE = "beaker-julia:offline"
KERNEL_NAME = "beaker-julia-docker"
#: Every container the tests start carries this label; teardown removes the ones still there.
TEST_LABEL = "beaker.test=1"
BUILD_HINT = (
    f"The Docker image {IMAGE} is missing. Build it with:\n"
    f"    docker build --target offline -t {IMAGE} images/julia\n"
    "(on a machine without a registry, run .ci/docker-setup.sh first for the debian base images)"
)
TIMEOUT = 60


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "julia: needs Docker and the beaker-julia:offline image")


def _docker_problem() -> str | None:
    """Why the kernel's container cannot run here, or None if it can."""
    if shutil.which("docker") is None:
        return "The docker client is not installed (see .ci/docker-setup.sh)."
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return (
            f"The Docker engine does not answer (start it with .ci/docker-setup.sh):\n{info.stderr}"
        )
    image = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    if image.returncode != 0:
        return BUILD_HINT
    return None


def _remove_containers(label: str) -> None:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


@pytest.fixture(scope="session")
def julia_image() -> str:
    """The image name; fails (does not skip) when Docker or the image is missing."""
    problem = _docker_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return IMAGE


@pytest.fixture(scope="session")
def container_label() -> str:
    """A label unique to this test session, next to TEST_LABEL, so teardown removes only its own."""
    return f"beaker.test.session={uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def julia_kernelspec_dir(
    tmp_path_factory: pytest.TempPathFactory, julia_image: str, container_label: str
) -> Iterator[Path]:
    """A JUPYTER_PATH entry holding the `beaker-julia-docker` kernelspec."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    # sh passes the connection file on stdin and execs docker, so SIGINT from jupyter_client
    # reaches the docker client, which forwards it (sig-proxy) through the init process (--init)
    # to julia.
    docker_run = (
        "exec docker run --rm -i --init --network host "
        f"--label {TEST_LABEL} --label {container_label} {julia_image} "
        'beaker-julia-kernel - < "$0"'
    )
    spec = {
        "argv": ["sh", "-c", docker_run, "{connection_file}"],
        "display_name": "Julia (Beaker offline image, test)",
        "language": "julia",
        "interrupt_mode": "signal",
        # the kernel runs in a container: it does not see this machine's files
        "metadata": {"beaker": {"local_files": False}},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    yield root
    # A kernel killed rather than shut down leaves its container behind.
    _remove_containers(container_label)


@pytest.fixture(scope="module", autouse=True)
def _julia_jupyter_path(julia_kernelspec_dir: Path) -> Iterator[None]:
    """Make the kernelspec visible to the tests of this folder only.

    Module scope, because KernelTests start their kernel in setUpClass, after module fixtures.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(julia_kernelspec_dir))
        yield


@dataclass
class Execution:
    """What one execute_request brought back: the reply and the iopub messages it caused."""

    reply: dict[str, Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content(self) -> dict[str, Any]:
        return dict(self.reply["content"])

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.outputs if m["msg_type"] == msg_type]

    def stream(self, name: str = "stdout") -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == name)


class JuliaClient:
    """A blocking client with helpers that collect everything a request caused."""

    def __init__(self, manager: KernelManager, client: BlockingKernelClient) -> None:
        self.manager = manager
        self.kc = client

    def collect_iopub(self, msg_id: str, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The iopub messages with parent `msg_id`, up to its idle status."""
        outputs: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    return outputs
                continue
            outputs.append(msg)

    def shell_reply(
        self, msg_id: str, timeout: float = TIMEOUT, channel: str = "shell"
    ) -> dict[str, Any]:
        """The reply to request `msg_id`; replies to earlier requests are skipped."""
        get = self.kc.get_control_msg if channel == "control" else self.kc.get_shell_msg
        deadline = time.monotonic() + timeout
        while True:
            reply = get(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return dict(reply)

    def execute(self, code: str, timeout: float = TIMEOUT, **options: Any) -> Execution:
        msg_id = self.kc.execute(code, **options)
        reply = self.shell_reply(msg_id, timeout)
        return Execution(reply, self.collect_iopub(msg_id, timeout))

    def run_ok(self, code: str, **options: Any) -> Execution:
        """Execute `code` and fail with the kernel's error if it did not succeed."""
        result = self.execute(code, **options)
        assert result.content["status"] == "ok", result.content.get("traceback", result.content)
        return result


def start_julia_kernel() -> tuple[KernelManager, BlockingKernelClient]:
    manager = KernelManager(kernel_name=KERNEL_NAME)
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=TIMEOUT)
    # wait_for_ready may have sent more than one kernel_info_request; tests expect their own
    # replies first.
    while True:
        try:
            client.get_shell_msg(timeout=0.5)
        except queue.Empty:
            return manager, client


def stop_julia_kernel(manager: KernelManager, client: BlockingKernelClient) -> None:
    client.stop_channels()
    if manager.is_alive():
        manager.shutdown_kernel(now=False)


@pytest.fixture(scope="module")
def julia(julia_kernelspec_dir: Path) -> Iterator[JuliaClient]:
    """A kernel in its container, shared by the tests of one module."""
    manager, client = start_julia_kernel()
    try:
        yield JuliaClient(manager, client)
    finally:
        stop_julia_kernel(manager, client)
