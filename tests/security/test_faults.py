"""Faults: killed kernels, a deletion during a start, create/delete cycles.

Each test measures how long the service takes to recover (or to clean up) and checks
what is left behind: kernel processes, kernels listed by the API, and kernel files
(connection files, IPC sockets) in the runtime directory.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from ..service.conftest import start_service, stop_service
from ..service_client import KernelSocket
from .conftest import Service, kernel_processes, runtime_leftovers, setting, wait_until

pytestmark = pytest.mark.security


def leftovers(service: Service) -> dict[str, list[str]]:
    """What is left once every kernel should be gone."""
    kernels = service.kernels()
    procs = kernel_processes(service)
    return {
        "kernels": [k["name"] for k in kernels],
        "processes": [" ".join(p.cmdline()[:4]) for p in procs.values()],
        "files": runtime_leftovers(service, set()),
    }


def no_leftovers(service: Service) -> bool:
    return leftovers(service) == {"kernels": [], "processes": [], "files": []}


def consistent(service: Service) -> dict[str, Any]:
    """Listed kernels, their processes and their files agree (no orphan of any kind)."""
    kernels = service.kernels()
    ids = {k["id"] for k in kernels}
    return {
        "kernels": sorted(k["name"] for k in kernels),
        "processes": sorted(kernel_processes(service)),
        "stray files": runtime_leftovers(service, ids),
    }


def execute_until_ok(ws: KernelSocket, timeout: float) -> tuple[float, int]:
    """Seconds until a cell runs again, and how many attempts failed before."""
    start = time.monotonic()
    failures = 0
    while True:
        try:
            reply, stdout = ws.execute("print('back')", timeout=30)
            if reply["content"]["status"] == "ok" and stdout == "back\n":
                return time.monotonic() - start, failures
        except TimeoutError:
            pass
        failures += 1
        assert time.monotonic() - start < timeout, "the session did not recover"
        time.sleep(0.2)


def test_kill_9_of_the_subkernel(service: Service, figures: dict[str, Any]) -> None:
    _, ws = service.beaker_session()
    try:
        ws.execute("x = 1")
        old = kernel_processes(service)["sub"]
        old.kill()
        killed = time.monotonic()
        recovery, failures = execute_until_ok(ws, timeout=90)
        assert ws.ws.connected
    finally:
        ws.close()
    assert not psutil.pid_exists(old.pid) or old.status() == psutil.STATUS_ZOMBIE
    state = consistent(service)
    figures.update(
        recovery_seconds=round(recovery, 2),
        failed_cells=failures,
        since_kill_seconds=round(time.monotonic() - killed, 2),
        stray_files=len(state["stray files"]),
    )
    print(f"\nkill subkernel: {figures}")
    assert state == {
        "kernels": ["beaker_kernel", "python3"],
        "processes": ["beaker", "sub"],
        "stray files": [],
    }


def test_kill_9_of_the_beaker_kernel(service: Service, figures: dict[str, Any]) -> None:
    beaker_id, ws = service.beaker_session()
    ws.close()
    before = {k["id"] for k in service.kernels()}
    procs = kernel_processes(service)
    procs["beaker"].kill()
    killed = time.monotonic()
    # the server restarts the Beaker kernel, which starts a new subkernel; the old one goes
    wait_until(
        lambda: (
            (ids := {k["id"] for k in service.kernels()}) != before
            and len(ids) == 2
            and beaker_id in ids
        ),
        timeout=90,
    )
    ws = service.connect(beaker_id)
    try:
        recovery, failures = execute_until_ok(ws, timeout=90)
    finally:
        ws.close()
    total = time.monotonic() - killed
    assert not psutil.pid_exists(procs["sub"].pid) or procs["sub"].status() == "zombie"
    state = consistent(service)
    figures.update(
        recovery_seconds=round(total, 2),
        failed_cells=failures,
        first_cell_seconds=round(recovery, 2),
        stray_files=len(state["stray files"]),
    )
    print(f"\nkill Beaker kernel: {figures}")
    assert state == {
        "kernels": ["beaker_kernel", "python3"],
        "processes": ["beaker", "sub"],
        "stray files": [],
    }


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0, 2.0])
def test_delete_during_the_start(service: Service, figures: dict[str, Any], delay: float) -> None:
    beaker_id = service.start_beaker()
    time.sleep(delay)
    deleted = service.http("DELETE", f"/api/kernels/{beaker_id}")
    assert deleted.status == 204, deleted.body
    cleanup = wait_until(lambda: no_leftovers(service), timeout=60)
    # and nothing comes back (a subkernel claimed after its parent went away, say)
    time.sleep(3)
    left = leftovers(service)
    figures.update(delay=delay, cleanup_seconds=round(cleanup, 2), leftovers=left)
    print(f"\ndelete during start: {figures}")
    assert left == {"kernels": [], "processes": [], "files": []}


def test_create_delete_cycles(service: Service, figures: dict[str, Any]) -> None:
    cycles = setting("BEAKER_FAULT_CYCLES", 10)
    durations: list[float] = []
    for n in range(cycles):
        start = time.monotonic()
        beaker_id, ws = service.beaker_session()
        try:
            _, stdout = ws.execute(f"print({n})")
            assert stdout == f"{n}\n"
        finally:
            ws.close()
        assert service.http("DELETE", f"/api/kernels/{beaker_id}").status == 204
        service.wait_for_kernels(lambda ks: ks == [])
        durations.append(time.monotonic() - start)
    cleanup = wait_until(lambda: no_leftovers(service), timeout=30)
    left = leftovers(service)
    figures.update(
        cycles=cycles,
        median_cycle_seconds=round(statistics.median(durations), 2),
        max_cycle_seconds=round(max(durations), 2),
        cleanup_seconds=round(cleanup, 2),
        leftovers=left,
    )
    print(f"\ncreate/delete cycles: {figures}")
    assert left == {"kernels": [], "processes": [], "files": []}


def test_kill_9_of_the_service(tmp_path: Path, figures: dict[str, Any]) -> None:
    """Kernels do not outlive a service killed with -9 (they watch their parent)."""
    runtime = Path(tempfile.mkdtemp(prefix="bk-"))
    service = start_service(tmp_path, runtime=runtime)
    try:
        service.beaker_session()[1].close()
        procs = list(kernel_processes(service).values())
        assert len(procs) == 2
        service.process.kill()
        service.process.wait()
        gone = wait_until(
            lambda: not any(p.is_running() and p.status() != "zombie" for p in procs), 60
        )
        files = sorted(p.name for p in runtime.iterdir() if p.name.startswith("kernel-"))
        figures.update(processes_gone_seconds=round(gone, 2), files_left=len(files))
        print(f"\nkill -9 of the service: {figures}")
    finally:
        stop_service(service)
        shutil.rmtree(runtime, ignore_errors=True)
