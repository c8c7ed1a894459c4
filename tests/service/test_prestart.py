"""The service starts a Beaker kernel's first subkernel at the same time as the kernel."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .conftest import Service, start_service, stop_service
from .test_service import assert_no_kernel_process, delete_leaving_nothing, names


def started_ahead(service: Service, kernel_id: str) -> bool:
    response = service.http("GET", f"/beaker/subkernels/{kernel_id}")
    assert response.status == 200, response.body
    return bool(response.json()["started_ahead"])


def keys(service: Service, beaker_id: str, sub_id: str) -> tuple[str, str]:
    """The keys the Beaker kernel and its subkernel sign with."""
    beaker = json.loads((service.runtime_dir / f"kernel-{beaker_id}.json").read_text())
    response = service.http("GET", f"/beaker/subkernels/{sub_id}")
    assert response.status == 200, response.body
    return beaker["key"], response.json()["connection"]["key"]


def test_the_first_subkernel_is_started_with_the_beaker_kernel(service: Service) -> None:
    beaker_id, ws = service.beaker_session()
    try:
        kernels = service.kernels()
        assert names(kernels) == ["beaker_kernel", "python3"]
        sub_id = next(k["id"] for k in kernels if k["id"] != beaker_id)
        assert started_ahead(service, sub_id)
        # a local subkernel started ahead signs with its Beaker kernel's key (passthrough.py)
        beaker_key, sub_key = keys(service, beaker_id, sub_id)
        assert beaker_key
        assert sub_key == beaker_key
        assert f"Started subkernel {sub_id} (python3) ahead for {beaker_id}" in (
            service.log_path.read_text()
        )
        reply, stdout = ws.execute("print(6 * 7)")
        assert reply["content"]["status"] == "ok"
        assert stdout == "42\n"
    finally:
        ws.close()
    delete_leaving_nothing(service, beaker_id)


def r_beaker_config(tmp_path: Path) -> dict[str, str]:
    """The environment of a service whose Beaker kernels' own configuration asks for R,
    while the service's environment says nothing (so it starts Python for them)."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_beaker_kernel_config.json").write_text(
        json.dumps({"BeakerKernelApp": {"default_language": "rlang", "default_context": "none"}})
    )
    return {"JUPYTER_CONFIG_DIR": str(config)}


def assert_r_answers(service: Service, beaker_id: str) -> None:
    ws = service.connect(beaker_id)
    try:
        _, stdout = ws.execute("cat(6 * 7)")
        assert stdout == "42"
    finally:
        ws.close()


def test_a_subkernel_the_beaker_kernel_does_not_want_is_deleted(tmp_path: Path) -> None:
    service = start_service(tmp_path, r_beaker_config(tmp_path))
    try:
        beaker_id = service.start_beaker()
        kernels = service.wait_for_kernels(lambda ks: names(ks) == ["beaker_kernel", "ir"])
        sub_id = next(k["id"] for k in kernels if k["id"] != beaker_id)
        assert not started_ahead(service, sub_id)
        # started on the Beaker kernel's request: a key of its own
        beaker_key, sub_key = keys(service, beaker_id, sub_id)
        assert sub_key
        assert sub_key != beaker_key
        log = service.log_path.read_text()
        assert "started ahead" in log
        assert "and not used" in log
        assert_r_answers(service, beaker_id)
        delete_leaving_nothing(service, beaker_id)
    finally:
        stop_service(service)


def test_deleting_the_beaker_kernel_at_once_leaves_nothing(service: Service) -> None:
    beaker_id = service.start_beaker()
    assert service.http("DELETE", f"/api/kernels/{beaker_id}").status == 204
    service.wait_for_kernels(lambda ks: ks == [], timeout=60)
    assert_no_kernel_process(service)


def test_a_beaker_kernel_that_fails_to_start_takes_its_subkernel_along(tmp_path: Path) -> None:
    spec_dir = tmp_path / "share" / "kernels" / "beaker_broken"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(tmp_path / "no-such-python"), "-f", "{connection_file}"],
                "display_name": "Beaker (broken)",
                "language": "python",
                "metadata": {
                    "beaker_kernel": True,
                    "kernel_provisioner": {"provisioner_name": "beaker-kernel-provisioner"},
                },
            }
        )
    )
    service = start_service(tmp_path, {"JUPYTER_PATH": str(tmp_path / "share")})
    try:
        response = service.http("POST", "/api/kernels", {"name": "beaker_broken"})
        assert response.status >= 400
        # the Python subkernel started along with it is deleted once its own start is over
        deadline = time.monotonic() + 60
        while "Deleted subkernel" not in service.log_path.read_text():
            assert time.monotonic() < deadline, "the subkernel started ahead was kept"
            time.sleep(0.2)
        assert service.kernels() == []
        assert_no_kernel_process(service)
    finally:
        stop_service(service)


def test_switched_off(tmp_path: Path) -> None:
    service = start_service(tmp_path, {"BEAKER_PRESTART_SUBKERNELS": "0"})
    try:
        beaker_id, ws = service.beaker_session()
        ws.close()
        sub_id = next(k["id"] for k in service.kernels() if k["id"] != beaker_id)
        assert not started_ahead(service, sub_id)
        assert "ahead" not in service.log_path.read_text()
    finally:
        stop_service(service)
