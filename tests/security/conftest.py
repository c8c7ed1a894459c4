"""Security and resilience runs against a real ``beaker serve`` on loopback.

The fuzz, load and fault tests are bounded and seeded; their sizes come from the
environment (``BEAKER_FUZZ_MESSAGES``, ``BEAKER_FUZZ_SEED``, ``BEAKER_LOAD_SESSIONS``,
``BEAKER_LOAD_EXECUTES``, ``BEAKER_FAULT_CYCLES``). Each test records its figures, which
are printed at the end of the run (and are the figures of ``docs/security.md``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ..service.conftest import Service, start_service, stop_service
from ..service.conftest import pytest_runtest_makereport as pytest_runtest_makereport

#: test name -> figures, in the order the tests ran
FIGURES: dict[str, dict[str, Any]] = {}


def setting(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict the test fills with its figures (printed in the run's summary)."""
    return FIGURES.setdefault(request.node.name, {})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("security figures")
    for name, values in FIGURES.items():
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        terminalreporter.write_line(f"{name}: {shown}")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A service whose local kernels use IPC, as on a workstation (short runtime path)."""
    runtime = Path(tempfile.mkdtemp(prefix="bk-"))
    svc = start_service(tmp_path, runtime=runtime)
    try:
        yield svc
    finally:
        stop_service(svc)
        shutil.rmtree(runtime, ignore_errors=True)


def kernel_processes(service: Service) -> dict[str, psutil.Process]:
    """The service's kernel processes: ``beaker`` and ``sub`` (ipykernel) and others."""
    result: dict[str, psutil.Process] = {}
    for proc in psutil.Process(service.process.pid).children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            continue
        if proc.status() == psutil.STATUS_ZOMBIE:
            continue
        key = "beaker" if "beaker_kernel.kernel" in cmd else "sub"
        while key in result:
            key += "+"
        result[key] = proc
    return result


def runtime_leftovers(service: Service, kernel_ids: set[str]) -> list[str]:
    """Files in the runtime directory of kernels that are not in ``kernel_ids``."""
    if not service.runtime_dir.exists():
        return []
    left = []
    for path in service.runtime_dir.iterdir():
        if path.name.startswith("kernel-") and not any(k in path.name for k in kernel_ids):
            left.append(path.name)
    return sorted(left)


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> float:
    """Seconds until ``predicate()`` held; AssertionError after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start
