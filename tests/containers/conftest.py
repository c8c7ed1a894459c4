"""The Beaker service in its container, started with ``compose.yaml``, and clients for it.

Each test session starts its own compose project with its own kernel network, workspace
volume and instance label, so it neither sees nor touches another deployment on the same
engine. The images must exist (``scripts/build-images``); the tests fail, never skip, when
Docker or an image is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..packages import REPO
from ..service_client import KernelSocket, ServiceClient, free_port

LABEL_INSTANCE = "org.beaker-kernel.instance"
LABEL_KERNEL_ID = "org.beaker-kernel.kernel-id"
IMAGES = (
    "beaker-service:latest",
    "beaker-python:latest",
    "beaker-r:latest",
    "beaker-julia:offline",
)

CITIES_CSV = (
    "city,country,population,area\n"
    "Lagos,Nigeria,15388000,1171.3\n"
    "Lima,Peru,10719000,2672.3\n"
    "Oslo,Norway,709000,454.0\n"
    "Perth,Australia,2192000,6417.9\n"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "containers: runs the Beaker service and subkernels in Docker containers"
    )


#: The deployment of this test session, once started (its log goes into failure reports).
_current: list[Deployment] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Add the service's log (the Beaker kernels' included) to a failed test's report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and _current:
        try:
            log = _current[0].compose("logs", "--no-color", "--tail", "300", "beaker", timeout=30)
        except (AssertionError, subprocess.SubprocessError) as e:
            log = f"(could not read the service log: {e})"
        report.sections.append(("service log (last 300 lines)", log))


def docker(
    *args: str, check: bool = True, timeout: float = 120, env: dict[str, str] | None = None
) -> str:
    """Run the docker CLI (with ``env`` added to this environment); return its stdout."""
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def labelled_containers(instance: str) -> list[str]:
    """Names of every container (running or not) of a Beaker instance."""
    out = docker(
        "ps", "-a", "--filter", f"label={LABEL_INSTANCE}={instance}", "--format", "{{.Names}}"
    )
    return sorted(out.split())


def container_of(kernel_id: str) -> dict[str, Any]:
    """``docker inspect`` of the container running the kernel ``kernel_id``."""
    ids = docker("ps", "-aq", "--filter", f"label={LABEL_KERNEL_ID}={kernel_id}").split()
    assert len(ids) == 1, f"expected one container for kernel {kernel_id}, found {ids}"
    details: dict[str, Any] = json.loads(docker("inspect", ids[0]))[0]
    return details


#: Seconds between two runs of the service's health check in test deployments.
HEALTH_INTERVAL = 2

#: Where the test deployment mounts the scripted model and its script (see test_agent.py).
TEST_DIR_IN_SERVICE = "/opt/beaker-test"

#: A context package written as upstream documents contexts, mounted into the deployment
#: as docs/deploy.md says (see test_context_package.py).
WEATHER_PACKAGE = REPO / "tests" / "fixtures" / "beaker-weather" / "src" / "beaker_weather"


@dataclass
class Deployment(ServiceClient):
    """One ``docker compose`` project of compose.yaml (plus the test's override file)."""

    http_timeout = 120
    kernels_timeout = 60

    project: str
    env: dict[str, str]
    url: str
    token: str
    #: The compose override of this deployment and the folder mounted at TEST_DIR_IN_SERVICE.
    test_dir: Path = field(default_factory=Path)

    @property
    def instance(self) -> str:
        return self.env["BEAKER_DOCKER_INSTANCE"]

    @property
    def network(self) -> str:
        return self.env["BEAKER_DOCKER_NETWORK"]

    def compose(self, *args: str, timeout: float = 180) -> str:
        # Compose reads the settings from its environment; the test process keeps its own.
        return docker(
            "compose",
            "-f",
            str(REPO / "compose.yaml"),
            "-f",
            str(self.test_dir / "compose.override.json"),
            "-p",
            self.project,
            *args,
            timeout=timeout,
            env=self.env,
        )

    def service_container(self) -> str:
        return self.compose("ps", "-q", "beaker").strip()

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "beaker")

    def health(self) -> str:
        """Docker's health status of the service container (``healthy``, ``unhealthy``, ...)."""
        return docker(
            "inspect", "--format", "{{.State.Health.Status}}", self.service_container()
        ).strip()

    def health_log(self) -> list[dict[str, Any]]:
        """The last runs of the service's health check, oldest first."""
        out = docker("inspect", "--format", "{{json .State.Health.Log}}", self.service_container())
        log: list[dict[str, Any]] = json.loads(out) or []
        return log

    def up(self) -> None:
        self.compose("up", "-d", "--no-build")
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http("GET", "/health", token=None).status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the service never answered /health; log:\n{self.logs()}")
            time.sleep(0.5)

    def subkernel_of(self, beaker_id: str) -> dict[str, Any]:
        """The one other kernel listed next to ``beaker_id`` (once it is there)."""
        kernels = self.wait_for_kernels(
            lambda ks: len([k for k in ks if k["id"] != beaker_id]) == 1
        )
        return next(k for k in kernels if k["id"] != beaker_id)

    def delete(self, kernel_id: str) -> None:
        assert self.http("DELETE", f"/api/kernels/{kernel_id}").status == 204

    def put_file(self, name: str, text: str) -> None:
        """Write ``name`` into the shared workspace through the contents API."""
        response = self.http(
            "PUT", f"/api/contents/{name}", {"type": "file", "format": "text", "content": text}
        )
        assert response.status in (200, 201), response.body


def _require_docker() -> None:
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed: the container tests need Docker (.ci/run)")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        pytest.fail(f"the Docker engine does not answer: {info.stderr.strip()}")
    if subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False
    ).returncode:
        pytest.fail("Docker Compose v2 (`docker compose`) is not installed")
    missing = [
        image
        for image in IMAGES
        if subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, check=False
        ).returncode
    ]
    if missing:
        pytest.fail(f"images missing: {', '.join(missing)}; build them with scripts/build-images")


def _test_dir(suffix: str) -> Path:
    """A folder the service's user (uid 1000) can read, with the scripted model, a copy of
    the weather context package and an override.

    The override runs the health check every HEALTH_INTERVAL seconds, mounts the folder
    read-only at TEST_DIR_IN_SERVICE, on the Beaker kernels' PYTHONPATH, and its
    ``contexts`` folder at /opt/beaker/contexts (BEAKER_CONTEXT_PATH).
    """
    folder = Path(tempfile.mkdtemp(prefix=f"beaker-test-{suffix}-"))
    folder.chmod(0o755)
    contexts = folder / "contexts"
    shutil.copytree(
        WEATHER_PACKAGE,
        contexts / WEATHER_PACKAGE.name,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for path in [contexts, *contexts.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    model = folder / "scripted_model.py"
    shutil.copyfile(REPO / "tests" / "agent" / "scripted_model.py", model)
    script = folder / "script.json"
    script.write_text("[]")
    for path in (model, script):
        path.chmod(0o644)
    override = {
        "services": {
            "beaker": {
                "healthcheck": {
                    "interval": f"{HEALTH_INTERVAL}s",
                    "start_period": "5s",
                    "start_interval": "1s",
                },
                "environment": {
                    "PYTHONPATH": TEST_DIR_IN_SERVICE,
                    "BEAKER_TEST_MODEL_SCRIPT": f"{TEST_DIR_IN_SERVICE}/script.json",
                    "BEAKER_TEST_MODEL_LOG": "/tmp/beaker-test-model.log",
                },
                "volumes": [
                    f"{folder}:{TEST_DIR_IN_SERVICE}:ro",
                    f"{contexts}:/opt/beaker/contexts:ro",
                ],
            }
        }
    }
    (folder / "compose.override.json").write_text(json.dumps(override, indent=1))
    return folder


def docker_socket_gid() -> str:
    """The group owning this engine's socket, which the service container is given."""
    return str(os.stat("/var/run/docker.sock").st_gid)


def new_deployment(extra_env: dict[str, str] | None = None) -> Deployment:
    suffix = uuid.uuid4().hex[:8]
    port = free_port()
    token = uuid.uuid4().hex
    env = {
        "JUPYTER_TOKEN": token,
        "BEAKER_DOCKER_GID": docker_socket_gid(),
        # The agent's model is the scripted one (tests/agent/scripted_model.py).
        "LLM_PROVIDER_IMPORT_PATH": "scripted_model:ScriptedModel",
        "BEAKER_HOST_PORT": str(port),
        "BEAKER_DOCKER_NETWORK": f"beaker-test-kernels-{suffix}",
        "BEAKER_WORKSPACE_VOLUME": f"beaker-test-workspace-{suffix}",
        "BEAKER_DOCKER_INSTANCE": f"beaker-test-{suffix}",
        # A secret in the service's environment: no kernel container may receive it.
        "LLM_SERVICE_TOKEN": f"llm-secret-{suffix}",
        "BEAKER_KERNEL_MEMORY": "1g",
        "BEAKER_KERNEL_CPUS": "1.5",
        "BEAKER_KERNEL_PIDS": "200",
        **(extra_env or {}),
    }
    return Deployment(
        f"beaker-test-{suffix}", env, f"http://127.0.0.1:{port}", token, _test_dir(suffix)
    )


def remove_deployment(deployment: Deployment) -> None:
    """``down --volumes``; then no container of its instance may be left."""
    try:
        deployment.compose("down", "--volumes", "--timeout", "60")
    finally:
        left = labelled_containers(deployment.instance)
        for name in left:
            docker("rm", "-f", name, check=False)
        shutil.rmtree(deployment.test_dir, ignore_errors=True)
    assert left == [], f"kernel containers left after the service stopped: {left}"


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    """compose.yaml up for the whole session; torn down with ``down -v`` at the end.

    After the teardown no container of its instance may be left.
    """
    _require_docker()
    deployment = new_deployment()
    _current.append(deployment)
    try:
        deployment.up()
        yield deployment
    finally:
        _current.remove(deployment)
        remove_deployment(deployment)


@pytest.fixture(scope="session")
def cities_csv(deployment: Deployment) -> str:
    """A CSV in the shared workspace; its path as kernels see it (relative to their cwd)."""
    deployment.put_file("cities.csv", CITIES_CSV)
    return "cities.csv"


@pytest.fixture
def beaker(deployment: Deployment) -> Iterator[tuple[str, KernelSocket]]:
    """A new Beaker kernel and a websocket to it; deleted afterwards."""
    kernel_id = deployment.start_beaker()
    ws = deployment.connect(kernel_id)
    try:
        yield kernel_id, ws
    finally:
        ws.close()
        if any(k["id"] == kernel_id for k in deployment.kernels()):
            deployment.delete(kernel_id)
