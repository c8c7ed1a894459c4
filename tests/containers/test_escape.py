"""User code cannot reach the service container, which holds the Docker socket.

User cells run in kernel containers whose only shared folder is the workspace volume. A cell
that writes Python modules named like standard-library ones into the workspace must not get
them imported by any process of the service container: not by its health check, not by a
Beaker kernel (whose working directory is the notebook's folder in the workspace), not by
the service. Each planted module records who imported it in a marker file before handing
over to the real module, so nothing visibly breaks when it is imported.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from .conftest import HEALTH_INTERVAL, Deployment, KernelSocket, docker, docker_socket_gid

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]

#: Modules the health check, the service, the Beaker kernel or ipykernel import at start-up.
SHADOWED = ("asyncio", "base64", "bisect", "hmac", "json", "random", "socket", "uuid")

MARKERS = ".shadow-markers"

SHADOW = """\
import importlib, os, sys
_here = os.path.dirname(os.path.abspath(__file__))
_markers = os.path.join(_here, {markers!r})
os.makedirs(_markers, exist_ok=True)
_name = "{name}.%s.%d.%d" % (os.uname().nodename, os.getuid(), os.getpid())
with open(os.path.join(_markers, _name), "w") as _f:
    _f.write(" ".join(sys.argv))
# Step aside: the real module takes this one's place, and the importer carries on.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules[__name__]
sys.modules[__name__] = importlib.import_module(__name__)
"""

PLANT = f"""
import os
shadows = {{name: {SHADOW!r}.format(name=name, markers={MARKERS!r}) for name in {SHADOWED!r}}}
for name, source in shadows.items():
    with open(name + ".py", "w") as f:
        f.write(source)
print(sorted(n for n in os.listdir(".") if n.endswith(".py")))
"""

LIST_MARKERS = f"""
import os
print("\\n".join(sorted(os.listdir({MARKERS!r}))) if os.path.isdir({MARKERS!r}) else "")
"""

REMOVE = f"""
import os, shutil
for name in {SHADOWED!r}:
    os.remove(name + ".py")
shutil.rmtree({MARKERS!r}, ignore_errors=True)
"""


def service_hostname(deployment: Deployment) -> str:
    return docker(
        "inspect", "--format", "{{.Config.Hostname}}", deployment.service_container()
    ).strip()


def imported_in_service(ws: KernelSocket, hostname: str) -> list[str]:
    """Markers (``module.host.uid.pid``) written by processes of the service container."""
    reply, stdout = ws.execute(LIST_MARKERS)
    assert reply["content"]["status"] == "ok", reply["content"]
    return [line for line in stdout.split() if line.split(".")[1] == hostname]


def wait_for_health_checks(deployment: Deployment, runs: int) -> None:
    """Wait until the health check has run ``runs`` more times."""
    before = {entry["Start"] for entry in deployment.health_log()}
    deadline = time.monotonic() + HEALTH_INTERVAL * (runs + 1) + 30
    while True:
        new = [e for e in deployment.health_log() if e["Start"] not in before]
        if len(new) >= runs:
            return
        assert time.monotonic() < deadline, f"only {len(new)} health checks ran: {new}"
        time.sleep(0.5)


@pytest.fixture
def planted(deployment: Deployment, beaker: tuple[str, KernelSocket]) -> Iterator[KernelSocket]:
    """The shadow modules, written into the workspace by a user cell; removed afterwards."""
    _, ws = beaker
    reply, stdout = ws.execute(PLANT)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert all(f"'{name}.py'" in stdout for name in SHADOWED), stdout
    try:
        yield ws
    finally:
        reply, _ = ws.execute(REMOVE)
        assert reply["content"]["status"] == "ok", reply["content"]


def test_modules_written_by_user_code_are_never_imported_in_the_service_container(
    deployment: Deployment, planted: KernelSocket
) -> None:
    ws = planted
    hostname = service_hostname(deployment)
    wait_for_health_checks(deployment, runs=2)

    # A notebook session in the workspace: Jupyter starts its kernel in the notebook's folder.
    response = deployment.http(
        "POST",
        "/api/sessions",
        {
            "path": "escape.ipynb",
            "name": "escape.ipynb",
            "type": "notebook",
            "kernel": {"name": "beaker_kernel"},
        },
    )
    assert response.status == 201, response.body
    session = response.json()
    # And a kernel started without a notebook.
    plain_id = deployment.start_beaker()
    try:
        failures = [use_beaker_kernel(deployment, k) for k in (session["kernel"]["id"], plain_id)]
        wait_for_health_checks(deployment, runs=1)

        # first what was imported (a planted module may also have broken what imported it)
        assert imported_in_service(ws, hostname) == []
        assert [f for f in failures if f] == []
        assert deployment.health() == "healthy", deployment.health_log()
    finally:
        deployment.http("DELETE", f"/api/sessions/{session['id']}")
        if any(k["id"] == plain_id for k in deployment.kernels()):
            deployment.delete(plain_id)


def use_beaker_kernel(deployment: Deployment, kernel_id: str) -> str:
    """Run a cell and set a context up in a Beaker kernel; what went wrong, if anything."""
    try:
        ws = deployment.connect(kernel_id)
    except Exception as e:
        return f"kernel {kernel_id}: no websocket: {e!r}"
    try:
        reply, stdout = ws.execute("import json; print(json.dumps([6 * 7]))")
        if reply["content"]["status"] != "ok" or stdout.strip() != "[42]":
            return f"kernel {kernel_id}: cell gave {reply['content']} {stdout!r}"
        reply, _ = ws.request(
            "context_setup_request",
            {"context": "default", "language": "python3", "context_info": {}},
            timeout=180,
        )
        if reply["content"]["status"] != "ok":
            return f"kernel {kernel_id}: context setup gave {reply['content']}"
    except Exception as e:
        return f"kernel {kernel_id}: {e!r}"
    finally:
        ws.close()
    return ""


def test_service_container_runs_nothing_as_root_and_imports_from_no_writable_folder(
    deployment: Deployment,
) -> None:
    container = deployment.service_container()

    def run(*command: str) -> str:
        return docker("exec", container, *command).strip()

    # docker exec (and the health check) run as the unprivileged user of the image
    assert run("id", "-u") == "1000"
    # no process of the container runs as root
    owners = run("sh", "-c", "for d in /proc/[0-9]*; do stat -c %u $d; done").split()
    assert owners
    assert set(owners) == {"1000"}, owners
    # Python keeps the working directory and script folders off sys.path ...
    assert run("printenv", "PYTHONSAFEPATH") == "1"
    assert run("python3", "-c", "import sys; print(sys.flags.safe_path)") == "True"
    # ... and the working directory is neither the workspace nor writable
    assert run("pwd") == "/opt/beaker"
    assert run("sh", "-c", "test -w . && echo writable || echo read-only") == "read-only"
    # the health check runs no Python
    test = docker("inspect", "--format", "{{json .Config.Healthcheck.Test}}", container)
    assert "python" not in test, test
    # the Beaker kernelspec starts Python in safe-path mode
    spec = deployment.http("GET", "/api/kernelspecs/beaker_kernel").json()
    assert spec["spec"]["argv"][1] == "-P", spec["spec"]["argv"]


def test_entry_point_says_which_socket_group_is_missing_and_drops_root() -> None:
    """Without the socket's group the service stops with the number to set; as root it drops it."""
    gid = docker_socket_gid()
    socket_mount = (
        "--volume",
        "/var/run/docker.sock:/var/run/docker.sock",
        "--network",
        "none",
        # its start removes the containers of this instance (none)
        "--env",
        f"BEAKER_DOCKER_INSTANCE=beaker-test-{uuid.uuid4().hex[:8]}",
    )
    result = subprocess.run(
        ["docker", "run", "--rm", *socket_mount, "beaker-service:latest", "id", "-u"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"set BEAKER_DOCKER_GID={gid} for docker compose" in result.stderr
    assert result.stdout == ""

    with_group = docker(
        "run", "--rm", *socket_mount, "--group-add", gid, "beaker-service:latest", "id", "-u"
    )
    assert with_group.splitlines()[-1] == "1000"

    # Started as root (docker run --user 0), it adds the group and drops to beaker first.
    as_root = docker(
        "run",
        "--rm",
        *socket_mount,
        "--user",
        "0",
        "beaker-service:latest",
        "sh",
        "-c",
        "echo $(id -u) $(id -G)",
    )
    uid, *groups = as_root.splitlines()[-1].split()
    assert uid == "1000"
    assert gid in groups
