"""What kernels reach over the network, and the settings compose.yaml passes to the service.

By default a kernel container reaches the service and other kernels only: not the Docker
host (not even a port it listens on for every interface), nor anything beyond it.
``BEAKER_KERNEL_NETWORK_ACCESS=outbound`` gives kernels a route out. No internet here: a
listener on this machine stands for the outside world.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator

import pytest

from .conftest import (
    Deployment,
    KernelSocket,
    _current,
    _require_docker,
    container_of,
    docker,
    new_deployment,
    remove_deployment,
)

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]

GREETING = "hello from the host"


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A TCP server on every interface of this machine that greets and closes; its port."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.5)
    port = int(server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(GREETING.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        server.close()


def gateways(*networks: str) -> list[str]:
    """The gateway addresses of Docker networks (the host's side of each bridge)."""
    found = []
    for network in networks:
        config = json.loads(
            docker("network", "inspect", "--format", "{{json .IPAM.Config}}", network)
        )
        found += [entry["Gateway"] for entry in config or [] if entry.get("Gateway")]
    assert found, f"no gateway address in {networks}"
    return found


def try_connect(ws: KernelSocket, hosts: list[str], port: int) -> dict[str, str]:
    """From the kernel: host → what a connection to ``port`` there gave (greeting or error)."""
    code = (
        "import socket\n"
        f"for host in {hosts!r}:\n"
        "    try:\n"
        f"        with socket.create_connection((host, {port}), timeout=3) as s:\n"
        "            print(host, s.recv(64).decode())\n"
        "    except OSError as e:\n"
        "        print(host, 'error', type(e).__name__)\n"
    )
    reply, stdout = ws.execute(code, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    results = dict(line.split(" ", 1) for line in stdout.splitlines())
    assert sorted(results) == sorted(hosts), stdout
    return results


def port_binding(deployment: Deployment) -> list[dict[str, str]]:
    out = docker(
        "inspect", "--format", "{{json .HostConfig.PortBindings}}", deployment.service_container()
    )
    bindings: list[dict[str, str]] = json.loads(out)["8888/tcp"]
    return bindings


def test_by_default_kernels_reach_neither_the_host_nor_beyond(
    deployment: Deployment, beaker: tuple[str, KernelSocket], host_listener: int
) -> None:
    _, ws = beaker
    hosts = gateways(deployment.network, f"{deployment.network}-outbound", "bridge")
    results = try_connect(ws, hosts, host_listener)
    assert all(result.startswith("error") for result in results.values()), results
    # and the service's port is published on the loopback interface only
    assert port_binding(deployment) == [
        {"HostIp": "127.0.0.1", "HostPort": deployment.env["BEAKER_HOST_PORT"]}
    ]
    # and it is API-only: no development interface unless BEAKER_DEV_UI asks for it
    assert deployment.http("GET", "/dev/").status == 404
    assert deployment.http("GET", "/dev/", token=None).status == 403


@pytest.fixture(scope="module")
def configured() -> Iterator[Deployment]:
    """A second deployment, with outbound access and the agent and context settings."""
    _require_docker()
    deployment = new_deployment(
        {
            "BEAKER_KERNEL_NETWORK_ACCESS": "outbound",
            "BEAKER_HOST_ADDRESS": "0.0.0.0",
            "BEAKER_DEFAULT_CONTEXT": "default",
            "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3",
            "BEAKER_DEFAULT_CONTEXT_PAYLOAD": "{}",
            "BEAKER_DEV_UI": "1",
        }
    )
    env_file = deployment.test_dir / "beaker.env"
    env_file.write_text("TOOL_ENABLED_ASK_USER=false\nTOOL_ENABLED_MY_OWN_TOOL=false\n")
    env_file.chmod(0o644)
    deployment.env["BEAKER_ENV_FILE"] = str(env_file)
    _current.append(deployment)
    try:
        deployment.up()
        yield deployment
    finally:
        _current.remove(deployment)
        remove_deployment(deployment)


def beaker_kernel_environment(deployment: Deployment) -> dict[str, str]:
    """The environment of the (one) Beaker kernel process in the service container."""
    script = (
        "for d in /proc/[0-9]*; do "
        "if tr '\\0' ' ' < $d/cmdline 2>/dev/null | grep -q beaker_kernel.kernel; then "
        "tr '\\0' '\\n' < $d/environ; exit 0; fi; done; exit 1"
    )
    out = docker("exec", deployment.service_container(), "sh", "-c", script)
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_outbound_access_and_settings_reach_the_kernels(
    configured: Deployment, host_listener: int
) -> None:
    deployment = configured
    assert port_binding(deployment) == [
        {"HostIp": "0.0.0.0", "HostPort": deployment.env["BEAKER_HOST_PORT"]}
    ]
    beaker_id = deployment.start_beaker()
    ws = deployment.connect(beaker_id)
    try:
        info = ws.context_info()
        assert info["slug"] == "default"
        assert info["language"]["slug"] == "python3"
        # TOOL_ENABLED_ASK_USER=false from the env file
        assert "ask_user" not in info["info"]["agent"]["tools"]
        assert "run_code" in info["info"]["agent"]["tools"]

        env = beaker_kernel_environment(deployment)
        assert env["TOOL_ENABLED_ASK_USER"] == "false"
        assert env["TOOL_ENABLED_MY_OWN_TOOL"] == "false"
        assert env["BEAKER_DEFAULT_CONTEXT"] == "default"
        assert env["BEAKER_DEFAULT_CONTEXT_LANGUAGE"] == "python3"
        assert env["BEAKER_DEFAULT_CONTEXT_PAYLOAD"] == "{}"

        # the kernel container reaches a port of the Docker host through the outbound network
        outbound = f"{deployment.network}-outbound"
        results = try_connect(ws, gateways(outbound), host_listener)
        assert all(result == GREETING for result in results.values()), results
        container = container_of(deployment.subkernel_of(beaker_id)["id"])
        assert sorted(container["NetworkSettings"]["Networks"]) == sorted(
            [deployment.network, outbound]
        )
        # the settings stay out of the kernel container
        names = {entry.split("=", 1)[0] for entry in container["Config"]["Env"]}
        assert not {n for n in names if n.startswith(("TOOL_ENABLED_", "BEAKER_DEFAULT_"))}

        # BEAKER_DEV_UI=1: the image was built with the development interface and serves it
        page = deployment.http("GET", "/dev/", token=None)
        assert page.status == 200, page.body
        script = re.search(rb'src="(devui-[0-9a-f]+\.js)"', page.body)
        assert script, page.body
        asset = deployment.http("GET", f"/dev/{script[1].decode()}", token=None)
        assert asset.status == 200
        assert asset.headers["Content-Type"].startswith(
            ("application/javascript", "text/javascript")
        )
        assert len(asset.body) > 100_000
    finally:
        ws.close()
        deployment.delete(beaker_id)
