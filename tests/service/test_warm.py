"""The service keeps one subkernel warm and hands it to the next Beaker kernel."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import psutil
import pytest

from .conftest import Service, start_service, stop_service
from .test_prestart import assert_r_answers, keys, r_beaker_config, started_ahead
from .test_service import names

WARM_ON = {"BEAKER_WARM_SUBKERNEL": "1"}
STARTED = re.compile(r"Started subkernel (\S+) \(python3\) warm, for the next Beaker kernel")
HANDED = re.compile(r"Handing warm subkernel (\S+) \(python3\) to (\S+)")


def warm_ids(service: Service) -> list[str]:
    """The warm subkernels started so far, in order (from the service's log)."""
    return STARTED.findall(service.log_path.read_text())


def wait_for_warm(service: Service, count: int = 1, timeout: float = 60) -> str:
    """The id of the ``count``-th warm subkernel, once started."""
    deadline = time.monotonic() + timeout
    while len(ids := warm_ids(service)) < count:
        assert time.monotonic() < deadline, f"no warm subkernel #{count} was started"
        time.sleep(0.1)
    return ids[count - 1]


def kernel_processes(service: Service) -> dict[str, psutil.Process]:
    """The service's living kernel processes, by the kernel id in their command line."""
    found = {}
    for proc in psutil.Process(service.process.pid).children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            match = re.search(r"kernel-([0-9a-f-]{36})\.json", " ".join(proc.cmdline()))
        except psutil.NoSuchProcess:
            continue
        if match:
            found[match.group(1)] = proc
    return found


def wait_for_processes(service: Service, expected: set[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (found := set(kernel_processes(service))) != expected:
        assert time.monotonic() < deadline, f"kernel processes {found}, expected {expected}"
        time.sleep(0.2)


def test_a_session_takes_the_warm_subkernel_and_another_is_started(tmp_path: Path) -> None:
    service = start_service(tmp_path, WARM_ON)
    try:
        warm_id = wait_for_warm(service)
        # started, but nobody's kernel yet: not listed
        assert service.kernels() == []
        wait_for_processes(service, {warm_id})

        beaker_id, ws = service.beaker_session()
        try:
            kernels = service.kernels()
            assert names(kernels) == ["beaker_kernel", "python3"]
            sub_id = next(k["id"] for k in kernels if k["id"] != beaker_id)
            assert sub_id == warm_id
            assert HANDED.findall(service.log_path.read_text()) == [(warm_id, beaker_id)]
            assert started_ahead(service, sub_id)
            # it signs with the key of the Beaker kernel that took it (passthrough.py)
            beaker_key, sub_key = keys(service, beaker_id, sub_id)
            assert sub_key == beaker_key
            reply, stdout = ws.execute("x = 6 * 7\nprint(x)")
            assert reply["content"]["status"] == "ok"
            assert stdout == "42\n"

            # once claimed, the next one is started, and not listed either
            next_id = wait_for_warm(service, 2)
            assert next_id not in (warm_id, beaker_id)
            assert {k["id"] for k in service.kernels()} == {beaker_id, warm_id}
        finally:
            ws.close()

        assert service.http("DELETE", f"/api/kernels/{beaker_id}").status == 204
        service.wait_for_kernels(lambda ks: ks == [])
        # what is left is the next warm subkernel, and only it
        wait_for_processes(service, {next_id})

        # the next session gets that one: a fresh interpreter, not the last session's
        beaker_id, ws = service.beaker_session()
        try:
            assert (next_id, beaker_id) in HANDED.findall(service.log_path.read_text())
            reply, stdout = ws.execute("print('x' in globals())")
            assert stdout == "False\n"
        finally:
            ws.close()
    finally:
        stop_service(service)


def test_a_beaker_kernel_of_another_language_leaves_the_warm_subkernel(tmp_path: Path) -> None:
    service = start_service(tmp_path, {**WARM_ON, **r_beaker_config(tmp_path)})
    try:
        warm_id = wait_for_warm(service)
        beaker_id = service.start_beaker()
        kernels = service.wait_for_kernels(lambda ks: names(ks) == ["beaker_kernel", "ir"])
        assert warm_id not in {k["id"] for k in kernels}
        assert_r_answers(service, beaker_id)
        # The service started Python along with the Beaker kernel (its own environment
        # says nothing else): that was the warm one, which the Beaker kernel let go. It is
        # deleted, and a new one waits.
        log = service.log_path.read_text()
        assert HANDED.findall(log) == [(warm_id, beaker_id)]
        assert "and not used" in log
        next_id = wait_for_warm(service, 2)
        assert service.http("DELETE", f"/api/kernels/{beaker_id}").status == 204
        service.wait_for_kernels(lambda ks: ks == [])
        wait_for_processes(service, {next_id})
    finally:
        stop_service(service)


def test_the_culler_leaves_the_warm_subkernel(tmp_path: Path) -> None:
    service = start_service(
        tmp_path,
        WARM_ON,
        ["--MappingKernelManager.cull_idle_timeout=1", "--MappingKernelManager.cull_interval=1"],
    )
    try:
        warm_id = wait_for_warm(service)
        time.sleep(4)  # several culls, each past the idle timeout
        assert "Culling '" not in service.log_path.read_text()
        assert set(kernel_processes(service)) == {warm_id}
        beaker_id, ws = service.beaker_session()
        try:
            assert (warm_id, beaker_id) in HANDED.findall(service.log_path.read_text())
            assert ws.execute("print(6 * 7)")[1] == "42\n"
        finally:
            ws.close()
    finally:
        stop_service(service)


def test_a_warm_subkernel_deleted_by_id_is_not_handed_over(tmp_path: Path) -> None:
    service = start_service(tmp_path, WARM_ON)
    try:
        warm_id = wait_for_warm(service)
        assert service.http("DELETE", f"/api/kernels/{warm_id}").status == 204
        wait_for_processes(service, set())
        beaker_id, ws = service.beaker_session()
        try:
            sub_id = next(k["id"] for k in service.kernels() if k["id"] != beaker_id)
            assert sub_id != warm_id
            assert HANDED.findall(service.log_path.read_text()) == []
            assert ws.execute("print(6 * 7)")[1] == "42\n"
        finally:
            ws.close()
        # the session's own start was the first since: the warm subkernel comes back
        wait_for_warm(service, 2)
    finally:
        stop_service(service)


def test_stopping_the_service_stops_the_warm_subkernel(tmp_path: Path) -> None:
    service = start_service(tmp_path, WARM_ON)
    try:
        warm_id = wait_for_warm(service)
        wait_for_processes(service, {warm_id})
        warm = kernel_processes(service)[warm_id]
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(30) is not None
        _gone, alive = psutil.wait_procs([warm], timeout=15)
        assert alive == []
        assert "ERROR" not in service.log_path.read_text()
    finally:
        stop_service(service)


@pytest.mark.parametrize(
    "env",
    [
        {"BEAKER_WARM_SUBKERNEL": "0"},
        # no warm subkernel without starting ahead, whatever BEAKER_WARM_SUBKERNEL says
        {**WARM_ON, "BEAKER_PRESTART_SUBKERNELS": "0"},
    ],
    ids=["warm-off", "prestart-off"],
)
def test_switched_off(tmp_path: Path, env: dict[str, str]) -> None:
    service = start_service(tmp_path, env)
    try:
        beaker_id, ws = service.beaker_session()
        ws.close()
        assert names(service.kernels()) == ["beaker_kernel", "python3"]
        assert warm_ids(service) == []
        assert HANDED.findall(service.log_path.read_text()) == []
        assert service.http("DELETE", f"/api/kernels/{beaker_id}").status == 204
        service.wait_for_kernels(lambda ks: ks == [])
        wait_for_processes(service, set())
    finally:
        stop_service(service)
