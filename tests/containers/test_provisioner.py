"""DockerProvisioner driven directly by jupyter_client's AsyncKernelManager, from this machine.

The kernelspecs of images/kernelspecs are used as they are; the kernels run in the real
images on a network of this test's own (this machine reaches container addresses directly).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from beaker_kernel.provisioning import (
    ContainerStartError,
    DockerProvisioner,
    remove_orphaned_containers,
)

from .conftest import REPO, _require_docker, container_of, docker, labelled_containers

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Docker network, volume and instance label of this test only; removed afterwards."""
    _require_docker()
    name = f"beaker-provisioner-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("BEAKER_DOCKER_INSTANCE", name)
    monkeypatch.setenv("BEAKER_DOCKER_NETWORK", name)
    monkeypatch.setenv("BEAKER_WORKSPACE_VOLUME", name)
    monkeypatch.setenv("BEAKER_KERNEL_MEMORY", "512m")
    monkeypatch.setenv("SOME_API_KEY", "secret-" + name)
    monkeypatch.setenv("JUPYTER_TOKEN", "token-" + name)
    monkeypatch.setenv("TZ", "Europe/Oslo")
    try:
        yield name
    finally:
        for container in labelled_containers(name):
            docker("rm", "-f", container, check=False)
        docker("network", "rm", name, check=False)
        docker("network", "rm", f"{name}-outbound", check=False)
        docker("volume", "rm", name, check=False)


def kernel_manager(name: str) -> AsyncKernelManager:
    specs = KernelSpecManager(kernel_dirs=[str(REPO / "images" / "kernelspecs")])
    return AsyncKernelManager(kernel_name=name, kernel_spec_manager=specs, shutdown_wait_time=5)


@pytest.fixture
async def python_kernel(instance: str) -> AsyncIterator[tuple[AsyncKernelManager, Any]]:
    km = kernel_manager("python3-docker")
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        yield km, client
    finally:
        client.stop_channels()
        if km.has_kernel:
            await km.shutdown_kernel(now=True)


async def shell_reply(client: Any, msg_id: str, timeout: float) -> dict[str, Any]:
    """The reply to ``msg_id`` (late replies to wait_for_ready's kernel_info are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            reply: dict[str, Any] = await client.get_shell_msg()
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply


async def run(client: Any, code: str, timeout: float = 30) -> tuple[dict[str, Any], str]:
    out: list[str] = []

    def output(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = await client.execute_interactive(code, timeout=timeout, output_hook=output)
    return reply, "".join(out)


async def test_kernel_runs_confined_in_its_container(
    python_kernel: tuple[AsyncKernelManager, Any], instance: str
) -> None:
    km, client = python_kernel
    provisioner = km.provisioner
    assert isinstance(provisioner, DockerProvisioner)
    details = container_of(km.kernel_id)
    assert details["Name"] == f"/beaker-kernel-{km.kernel_id}"
    assert details["HostConfig"]["Memory"] == 512 * 1024**2
    # the kernel manager connects to the container's address on the private network
    address = details["NetworkSettings"]["Networks"][instance]["IPAddress"]
    assert km.get_connection_info()["ip"] == address == provisioner.container_ip

    reply, stdout = await run(
        client,
        "import os, json; print(json.dumps([os.getuid(), os.getcwd(), dict(os.environ)]))",
    )
    assert reply["content"]["status"] == "ok"
    uid, cwd, env = json.loads(stdout)
    assert (uid, cwd) == (1000, "/home/beaker/work")
    # allow-listed variables pass, secrets never do
    assert env["TZ"] == "Europe/Oslo"
    assert "SOME_API_KEY" not in env
    assert "JUPYTER_TOKEN" not in env
    # the connection file was copied in, readable by the kernel's user only
    reply, stdout = await run(
        client,
        "import os; s = os.stat('/tmp/beaker-kernel/connection.json'); "
        "print(oct(s.st_mode & 0o777), s.st_uid)",
    )
    assert stdout.split() == ["0o600", "1000"]


async def test_interrupt_restart_and_shutdown(
    python_kernel: tuple[AsyncKernelManager, Any], instance: str
) -> None:
    km, client = python_kernel
    first = container_of(km.kernel_id)["Id"]

    msg_id = client.execute("import time; time.sleep(60)")
    async with asyncio.timeout(30):  # the cell has started
        while True:
            msg = await client.get_iopub_msg()
            if msg["msg_type"] == "execute_input" and msg["parent_header"]["msg_id"] == msg_id:
                break
    await asyncio.sleep(1)
    await km.interrupt_kernel()
    reply = await shell_reply(client, msg_id, timeout=15)
    assert reply["content"]["ename"] == "KeyboardInterrupt"

    await run(client, "x = 1")
    await km.restart_kernel(now=True)
    await client.wait_for_ready(timeout=60)
    second = container_of(km.kernel_id)["Id"]
    assert second != first
    assert docker("ps", "-aq", "--filter", f"id={first}") == ""
    reply, stdout = await run(client, "print('x' in globals())")
    assert stdout.strip() == "False"

    assert await km.is_alive()
    await km.provisioner.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    assert await km.provisioner.wait() == 137  # type: ignore[union-attr]
    assert not await km.is_alive()
    await km.shutdown_kernel(now=True)
    assert labelled_containers(instance) == []


async def test_outbound_network_access(instance: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """BEAKER_KERNEL_NETWORK_ACCESS=outbound: the container joins a network with a route out too."""
    monkeypatch.setenv("BEAKER_KERNEL_NETWORK_ACCESS", "outbound")
    outbound = f"{instance}-outbound"
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]
    km = kernel_manager("python3-docker")
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        details = container_of(km.kernel_id)
        assert sorted(details["NetworkSettings"]["Networks"]) == sorted([instance, outbound])
        # the kernel manager still connects through the internal network
        address = details["NetworkSettings"]["Networks"][instance]["IPAddress"]
        assert km.get_connection_info()["ip"] == address
        network = json.loads(docker("network", "inspect", outbound))[0]
        assert network["Internal"] is False
        gateway = network["IPAM"]["Config"][0]["Gateway"]
        # a port of this machine, reached from the kernel through the outbound network
        reply, stdout = await run(
            client,
            f"import socket; socket.create_connection(({gateway!r}, {port}), timeout=5).close(); "
            "print('connected')",
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        assert stdout.strip() == "connected"
    finally:
        server.close()
        client.stop_channels()
        await km.shutdown_kernel(now=True)


async def test_unknown_network_access_is_a_clear_error(
    instance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEAKER_KERNEL_NETWORK_ACCESS", "everywhere")
    km = kernel_manager("python3-docker")
    with pytest.raises(ContainerStartError, match="must be internal or outbound, not 'everywhere'"):
        await km.start_kernel()
    assert labelled_containers(instance) == []


async def test_missing_image_is_a_clear_error(instance: str) -> None:
    km = kernel_manager("python3-docker")
    km.kernel_spec.metadata["kernel_provisioner"]["config"]["image"] = "beaker-no-such-image:1"
    with pytest.raises(ContainerStartError, match="does not exist on this Docker engine"):
        await km.start_kernel()
    assert labelled_containers(instance) == []


def test_root_is_refused() -> None:
    with pytest.raises(Exception, match="must not be root"):
        DockerProvisioner(user="0:0")
    with pytest.raises(Exception, match="numeric"):
        DockerProvisioner(user="beaker")


async def test_orphans_of_this_instance_only_are_removed(instance: str) -> None:
    km = kernel_manager("ir-docker")
    await km.start_kernel()
    other = f"{instance}-other"
    docker(
        "create",
        "--name",
        other,
        "--label",
        f"org.beaker-kernel.instance={other}",
        "beaker-r:latest",
    )
    try:
        removed = await remove_orphaned_containers()
        assert removed == [f"beaker-kernel-{km.kernel_id}"]
        assert labelled_containers(instance) == []
        assert labelled_containers(other) == [other]
        assert not await km.is_alive()
    finally:
        docker("rm", "-f", other, check=False)
        await km.shutdown_kernel(now=True)
