"""The service end to end: HTTP and websockets to a real ``beaker serve``."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil

from .conftest import Service, start_service, stop_service


def names(kernels: list[dict]) -> list[str]:
    return sorted(k["name"] for k in kernels)


def test_health_and_contexts(service: Service) -> None:
    health = service.http("GET", "/health", token=None)
    assert health.status == 200
    assert health.json()["status"] == "ok"
    contexts = service.http("GET", "/contexts").json()
    assert set(contexts) >= {"default", "dataset"}
    languages = {lang["slug"]: lang["subkernel"] for lang in contexts["dataset"]["languages"]}
    # python3 and R are installed here; Julia is not, so it is not offered
    assert languages == {"python3": "python3", "rlang": "ir"}
    assert json.loads(contexts["dataset"]["defaultPayload"]) == {
        "path": "data.csv",
        "variable": "df",
    }


def test_beaker_kernel_starts_its_subkernel_through_the_service(
    service: Service, tmp_path: Path
) -> None:
    beaker_id = service.start_beaker()
    kernels = service.wait_for_kernels(lambda ks: len(ks) == 2)
    assert names(kernels) == ["beaker_kernel", "python3"]
    ws = service.connect(beaker_id)
    try:
        reply, stdout = ws.execute("print(6 * 7)")
        assert reply["content"]["status"] == "ok"
        assert stdout == "42\n"

        csv = tmp_path / "data.csv"
        csv.write_text("x,y\n1,2\n3,4\n")
        reply, iopub = ws.request(
            "context_setup_request",
            {"context": "dataset", "language": "python3", "context_info": {"path": str(csv)}},
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        assert any(m["msg_type"] == "context_setup_response" for m in iopub)
        # same language: the subkernel is reused
        assert names(service.kernels()) == ["beaker_kernel", "python3"]
        reply, _ = ws.request("describe_dataset_request")
        assert reply["content"]["return"]["rows"] == 2

        reply, _ = ws.request(
            "context_setup_request",
            {"context": "dataset", "language": "rlang", "context_info": {"path": str(csv)}},
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        # another language: a new subkernel, and the old one is gone
        service.wait_for_kernels(lambda ks: names(ks) == ["beaker_kernel", "ir"])
        reply, _ = ws.request("preview_dataset_request", {"rows": 1})
        assert reply["content"]["return"]["rows"] == [[1, 2]]
        reply, stdout = ws.execute("cat(sum(df$y))")
        assert stdout == "6"
    finally:
        ws.close()
    delete_leaving_nothing(service, beaker_id)


def delete_leaving_nothing(service: Service, beaker_id: str) -> None:
    """Delete a Beaker kernel: its subkernels go with it and no kernel process is left."""
    assert service.http("DELETE", f"/api/kernels/{beaker_id}").status == 204
    service.wait_for_kernels(lambda ks: ks == [])
    assert_no_kernel_process(service)


def assert_no_kernel_process(service: Service) -> None:
    """No kernel process is left under the server (nor started again by a restarter)."""
    server = psutil.Process(service.process.pid)
    time.sleep(3)  # longer than the server's restarter poll interval
    _, alive = psutil.wait_procs(server.children(recursive=True), timeout=10)
    assert alive == [], [p.cmdline() for p in alive]


def test_killed_beaker_kernel_leaves_no_subkernel(service: Service) -> None:
    beaker_id = service.start_beaker()
    kernels = service.wait_for_kernels(lambda ks: len(ks) == 2)
    sub_id = next(k["id"] for k in kernels if k["id"] != beaker_id)
    server = psutil.Process(service.process.pid)
    beaker_proc = next(
        p for p in server.children() if "beaker_kernel.kernel" in " ".join(p.cmdline())
    )
    beaker_proc.kill()
    # the server notices the dead kernel and restarts it; the old subkernel is deleted
    deadline = time.monotonic() + 30
    while sub_id in {k["id"] for k in service.kernels()}:
        assert time.monotonic() < deadline, "the dead Beaker kernel's subkernel was kept"
        time.sleep(0.2)
    deleted = service.http("DELETE", f"/api/kernels/{beaker_id}")
    assert deleted.status == 204, (deleted.status, deleted.body)
    service.wait_for_kernels(lambda ks: ks == [])
    assert_no_kernel_process(service)


def test_subkernel_crash_under_the_service(service: Service) -> None:
    _, ws = service.beaker_session()
    try:
        reply, _ = ws.request(
            "execute_request", {"code": "import os; os._exit(1)", "silent": False}
        )
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "SubkernelDiedError"
        reply, stdout = ws.execute("print('back')")
        assert stdout == "back\n"
        # the server did not restart it a second time behind Beaker's back
        assert names(service.kernels()) == ["beaker_kernel", "python3"]
    finally:
        ws.close()


def test_sigterm_stops_every_kernel(tmp_path: Path) -> None:
    service = start_service(tmp_path)
    try:
        _, ws = service.beaker_session()
        try:
            assert ws.execute("print(1)")[1] == "1\n"
        finally:
            ws.close()
        server = psutil.Process(service.process.pid)
        kernel_procs = server.children(recursive=True)
        assert len(kernel_procs) >= 2
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(30) is not None
        _gone, alive = psutil.wait_procs(kernel_procs, timeout=15)
        assert alive == [], f"still running after SIGTERM: {[p.cmdline() for p in alive]}"
        # A Beaker kernel that finds the service gone while it stops says so, without an
        # error: the service stops the subkernels itself.
        log = service.log_path.read_text()
        assert "Could not stop the subkernel" not in log
        assert "ERROR" not in log, log[-3000:]
    finally:
        if service.process.poll() is None:
            service.process.kill()


def test_local_kernels_use_ipc_when_the_runtime_path_allows(tmp_path: Path) -> None:
    import shutil
    import tempfile

    runtime = tempfile.mkdtemp(prefix="bk-")  # short: IPC socket paths fit
    service = start_service(tmp_path, {"JUPYTER_RUNTIME_DIR": runtime})
    try:
        beaker_id, ws = service.beaker_session()
        try:
            _, stdout = ws.execute("print('over ipc')")
            assert stdout == "over ipc\n"
        finally:
            ws.close()
        sub_id = next(k["id"] for k in service.kernels() if k["id"] != beaker_id)
        connection = service.http("GET", f"/beaker/subkernels/{sub_id}").json()["connection"]
        assert connection["transport"] == "ipc"
        assert connection["ip"].startswith(runtime)
        sockets = [p for p in Path(runtime).iterdir() if "-ipc-" in p.name]
        assert len(sockets) == 10  # five channels for each of the two kernels
    finally:
        stop_service(service)
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_claimed_subkernel_follows_its_beaker_kernel(tmp_path: Path) -> None:
    """The server does not read a claimed subkernel's iopub (its messages reach the server
    through the Beaker kernel): the subkernel is listed with its Beaker kernel's state, and
    the culler leaves it to its Beaker kernel."""
    service = start_service(
        tmp_path,
        args=[
            "--MappingKernelManager.cull_idle_timeout=2",
            "--MappingKernelManager.cull_interval=1",
            "--log-level=DEBUG",
        ],
    )
    try:
        beaker_id, ws = service.beaker_session()
        try:
            _, stdout = ws.execute("x = 6 * 7; print('set')")
            assert stdout == "set\n"
            sub_id = next(k["id"] for k in service.kernels() if k["id"] != beaker_id)
            watched = f"activity on {sub_id}"
            before = service.log_path.read_text(errors="replace").count(watched)

            def beaker_state(state: str) -> dict[str, dict[str, object]]:
                # The server records its Beaker kernel's state from a subscription of its
                # own, which may read a status a moment after the websocket got it.
                kernels = service.wait_for_kernels(
                    lambda ks: {k["id"]: k["execution_state"] for k in ks}.get(beaker_id) == state,
                    timeout=2,
                )
                return {k["id"]: k for k in kernels}

            msg_id = ws.send("execute_request", {"code": "import time; time.sleep(3)"})
            ws.wait_for_status(msg_id, "busy")
            busy = beaker_state("busy")
            assert busy[sub_id]["execution_state"] == "busy"
            assert busy[beaker_id]["execution_state"] == "busy"
            ws.wait_for_reply(msg_id)
            ws.wait_for_status(msg_id, "idle")
            idle = beaker_state("idle")
            assert idle[sub_id]["execution_state"] == "idle"
            assert idle[sub_id]["last_activity"] == idle[beaker_id]["last_activity"]

            # idle for longer than the culler's limit: the Beaker kernel has a
            # connection, so neither is culled, and the subkernel keeps its variables
            time.sleep(4)
            assert {k["id"] for k in service.kernels()} == {beaker_id, sub_id}
            _, stdout = ws.execute("print(x)")
            assert stdout == "42\n"
            # the server recorded nothing from the subkernel's own iopub meanwhile
            assert service.log_path.read_text(errors="replace").count(watched) == before
        finally:
            ws.close()
    finally:
        stop_service(service)
