"""A real ``beaker serve`` on a free loopback port, and HTTP / websocket clients for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..service_client import KernelSocket, ServiceClient, free_port

TOKEN = "test-token-" + uuid.uuid4().hex
SECRET_KEY = "sk-test-" + uuid.uuid4().hex


@dataclass
class Service(ServiceClient):
    url: str
    token: str
    process: subprocess.Popen[bytes]
    runtime_dir: Path
    log_path: Path

    def beaker_session(self) -> tuple[str, KernelSocket]:
        """Start a Beaker kernel, wait for its subkernel, and connect a websocket."""
        beaker_id = self.start_beaker()
        self.wait_for_kernels(lambda ks: len(ks) == 2)
        return beaker_id, self.connect(beaker_id)


def start_service(
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    runtime: Path | None = None,
    command: Sequence[str] = (sys.executable, "-m", "beaker_kernel.cli", "serve"),
    token_variable: str = "BEAKER_TOKEN",
) -> Service:
    """``beaker serve [args]`` (or another ``command``) with ``BEAKER_PORT`` = ``port``
    unless ``extra_env`` says otherwise, and the token in ``token_variable`` only; waits
    until ``http://host:port/health`` answers. The runtime directory is ``runtime``
    (default: ``tmp_path/runtime``, too long a path for IPC sockets). The warm subkernel
    is off unless ``extra_env`` turns it on (``BEAKER_WARM_SUBKERNEL=1``, as
    ``test_warm.py`` and the browser tests run it), so that a test finds only the
    processes and files of the kernels it started."""
    port = port or free_port()
    runtime = runtime or tmp_path / "runtime"
    log_path = tmp_path / "service.log"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("BEAKER_TOKEN", "JUPYTER_TOKEN")},
        "BEAKER_PORT": str(port),
        token_variable: TOKEN,
        "OPENAI_API_KEY": SECRET_KEY,
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "BEAKER_WARM_SUBKERNEL": "0",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [*command, *args],
        env=env,
        cwd=tmp_path,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    service = Service(f"http://{host}:{port}", TOKEN, process, runtime, log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            if service.http("GET", "/health", token=None).status == 200:
                return service
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{' '.join(command)} did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


def stop_service(service: Service) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(30)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Add the service's log (the Beaker kernels' included) to a failed test's report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    service = getattr(item, "funcargs", {}).get("service")
    if report.failed and isinstance(service, Service):
        lines = service.log_path.read_text(errors="replace").splitlines()[-300:]
        report.sections.append(("service log (last 300 lines)", "\n".join(lines)))


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path)
    try:
        yield svc
    finally:
        stop_service(svc)
