"""Fixtures for testing the offline Julia kernel (images/julia, target `offline`) in its container.

The kernel is started through a temporary kernelspec, `beaker-julia-docker`, whose argv runs the image with
`docker run`. The connection file is fed to the kernel on stdin (`-` instead of a path) rather than mounted,
because jupyter_client writes it readable by its owner only and the container runs as uid 1000.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

IMAGE = "beaker-julia:offline"
KERNEL_NAME = "beaker-julia-docker"
KERNEL_SCRIPT = "/usr/local/share/beaker-julia/BeakerJuliaKernel.jl"
BUILD_HINT = (
    f"The Docker image {IMAGE} is missing. Build it with:\n"
    f"    docker build --target offline -t {IMAGE} images/julia\n"
    "(on a machine without a registry, run .ci/docker-setup.sh first for the debian base images)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "julia: needs the Julia kernel")
    config.addinivalue_line("markers", "container: runs a Docker container")


def _image_exists() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    return result.returncode == 0


@pytest.fixture(scope="session")
def julia_image() -> str:
    """The image name; fails (does not skip) when it has not been built."""
    if not _image_exists():
        pytest.fail(BUILD_HINT, pytrace=False)
    return IMAGE


@pytest.fixture(scope="session")
def container_label() -> str:
    """A label on every container this test session starts, so teardown can remove leftovers."""
    return f"beaker-julia-test={uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def julia_kernelspec_dir(
    tmp_path_factory: pytest.TempPathFactory, julia_image: str, container_label: str
) -> Iterator[Path]:
    """A JUPYTER_PATH entry holding the `beaker-julia-docker` kernelspec."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    # sh passes the connection file on stdin and execs docker, so SIGINT from jupyter_client reaches the
    # docker client, which forwards it (--sig-proxy) through tini (--init) to julia.
    docker_run = (
        "exec docker run --rm -i --init --network host "
        f"--label {container_label} {julia_image} "
        f'julia --startup-file=no --history-file=no {KERNEL_SCRIPT} - < "$0"'
    )
    spec = {
        "argv": ["sh", "-c", docker_run, "{connection_file}"],
        "display_name": "Julia (Beaker offline image, test)",
        "language": "julia",
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    yield root
    # A kernel killed rather than shut down leaves its container behind.
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={container_label}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


@pytest.fixture(scope="session", autouse=True)
def _julia_jupyter_path(julia_kernelspec_dir: Path) -> Iterator[None]:
    """Make the kernelspec visible to jupyter_client for the whole session (KernelTests start in setUpClass)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(julia_kernelspec_dir))
        yield
