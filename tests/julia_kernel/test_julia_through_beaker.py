"""Beaker with the offline Julia kernel as its subkernel: the bundled contexts end to end.

Beaker finds the test kernelspec `beaker-julia-docker` (language "julia") on JUPYTER_PATH, as it
would find IJulia's, and starts it with jupyter_client; the kernel runs in its container.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from unittest import mock

import pytest
from jupyter_client.manager import KernelManager

from ..client import BeakerClient, start_beaker
from . import test_julia_conformance as conformance
from .test_julia_procedures import CITIES

pytestmark = pytest.mark.julia

CSV_PATH = "/tmp/beaker-cities.csv"


@pytest.fixture
def beaker_julia(julia_kernelspec_dir: object) -> Iterator[BeakerClient]:
    km: KernelManager
    km, client = start_beaker()
    try:
        setup = client.setup_context("default", "julia")
        assert setup.content["status"] == "ok", setup.content
        yield client
    finally:
        client.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=False)


def test_default_context_reports_julia_variables(beaker_julia: BeakerClient) -> None:
    client = beaker_julia
    info = client.request("context_info_request").one("context_info_response")
    assert info["language"] == {"slug": "julia", "subkernel": "beaker-julia-docker"}
    assert info["info"]["language"] == "Julia"
    cell = client.run("answer = 6 * 7")
    assert cell.content["status"] == "ok"
    shown = client.wait_for_iopub(
        "kernel_state_info", parent_id=cell.reply["parent_header"]["msg_id"]
    )["content"]["x-application/beaker-subkernel-state"]["application/json"]
    assert shown["variables"]["answer"]["label"] == "answer (Int64[1]): 42"
    returned = client.request("get_subkernel_state_request").content
    assert returned["status"] == "ok"
    assert returned["return"]["variables"]["answer"]["value"] == "42"


def test_dataset_context_in_julia(beaker_julia: BeakerClient) -> None:
    client = beaker_julia
    written = client.run(f"write({json.dumps(CSV_PATH)}, {json.dumps(CITIES)})")
    assert written.content["status"] == "ok"
    setup = client.setup_context("dataset", "julia", {"path": CSV_PATH, "variable": "cities"})
    assert setup.content["status"] == "ok", setup.content
    assert setup.info["language"] == "Julia"

    described = client.request("describe_dataset_request").content
    assert described["status"] == "ok", described
    columns = {c["name"]: c for c in described["return"]["columns"]}
    assert described["return"]["rows"] == 4
    assert columns["population"]["min"] == 709000
    assert columns["population"]["max"] == 15388000
    assert columns["area"]["mean"] == pytest.approx((1171.3 + 2672.3 + 454.0 + 6417.9) / 4)

    preview = client.request("preview_dataset_request", {"rows": 2}).content["return"]
    assert preview["rows"] == [
        ["Lagos", "Nigeria", 15388000, 1171.3],
        ["Lima", "Peru", 10719000, 2672.3],
    ]
    filtered = client.request(
        "filter_dataset_request",
        {"column": "population", "op": ">", "value": 2000000, "target": "big"},
    ).content
    assert filtered["return"] == {"variable": "big", "rows": 3}
    assert client.run("print(length(big.city))").stdout() == "3"

    missing = client.request(
        "filter_dataset_request", {"column": "altitude", "op": ">", "value": 1}
    ).content
    assert missing["status"] == "error"
    assert "altitude" in missing["evalue"]

    cell = client.run("1")
    preview_msg = client.wait_for_iopub("preview", parent_id=cell.reply["parent_header"]["msg_id"])
    shown = preview_msg["content"]["dataset"]["cities"]["application/json"]
    assert shown["total_rows"] == 4
    assert shown["rows"][0][0] == "Lagos"


class TestBeakerWithJuliaSubkernel(conformance.TestOfflineJuliaKernel):
    """The conformance suite through Beaker, which is transparent with a Julia subkernel too."""

    kernel_name = "beaker_kernel"

    @classmethod
    def setUpClass(cls) -> None:
        # no context: Beaker must be indistinguishable from its subkernel
        with mock.patch.dict(
            os.environ, {"BEAKER_SUBKERNEL": "julia", "BEAKER_DEFAULT_CONTEXT": "none"}
        ):
            super().setUpClass()
