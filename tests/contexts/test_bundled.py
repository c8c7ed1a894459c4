"""The bundled contexts in Python and R, against real subkernels."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from ..client import BeakerClient

LANGUAGES = {
    "python3": {"assign": "answer = 6 * 7", "int_type": ("int",)},
    "rlang": {"assign": "answer <- 42L", "int_type": ("integer",)},
}


@pytest.fixture(params=sorted(LANGUAGES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_default_context_reports_variables(
    beaker: tuple[KernelManager, BeakerClient], language: str
) -> None:
    _, client = beaker
    setup = client.setup_context("default", language)
    assert setup.content == {"status": "ok", "execution_count": None, "return": None}
    info = setup.info
    assert info["language"] == {"python3": "Python 3", "rlang": "R"}[language]
    assert info["subkernel"] == {"python3": "python3", "rlang": "ir"}[language]
    assert "get_subkernel_state" in info["actions"]
    # after set-up: the preview and the state panel, then the context info
    types = setup.types()
    assert types.index("kernel_state_info") < types.index("context_setup_response")

    cell = client.run(LANGUAGES[language]["assign"])
    assert cell.content["status"] == "ok"
    # after the cell, once the subkernel is idle, the state is published
    state_msg = client.wait_for_iopub(
        "kernel_state_info", parent_id=cell.reply["parent_header"]["msg_id"]
    )
    formatted = state_msg["content"]["x-application/beaker-subkernel-state"]["application/json"]
    label = formatted["variables"]["answer"]["label"]
    assert label.startswith(f"answer ({LANGUAGES[language]['int_type'][0]}")
    assert "42" in label

    state = client.request("get_subkernel_state_request")
    assert state.reply["msg_type"] == "get_subkernel_state_reply"
    assert state.content["status"] == "ok"
    answer = state.content["return"]["variables"]["answer"]
    assert answer["type"] in LANGUAGES[language]["int_type"]
    assert answer["value"].endswith("42")
    assert state.one("get_subkernel_state_response") == state.content["return"]


def test_dataset_context_procedures(
    beaker: tuple[KernelManager, BeakerClient], language: str, csv_file: Path
) -> None:
    _, client = beaker
    setup = client.setup_context("dataset", language, {"path": str(csv_file), "variable": "cities"})
    assert setup.content["status"] == "ok", setup.content
    assert {"describe_dataset", "filter_dataset", "preview_dataset"} <= set(setup.info["actions"])
    assert setup.info["actions"]["preview_dataset"]["default_payload"] == '{"rows": 5}'
    info = client.request("context_info_request").one("context_info_response")
    assert info["config"] == {"path": str(csv_file), "variable": "cities"}

    described = client.request("describe_dataset_request").content
    assert described["status"] == "ok", described
    summary = described["return"]
    assert summary["variable"] == "cities"
    assert summary["rows"] == 4
    columns = {c["name"]: c for c in summary["columns"]}
    assert list(columns) == ["city", "country", "population", "area"]
    assert columns["city"]["type"] == "string"
    assert columns["population"]["type"] == "number"
    assert columns["population"]["count"] == 4
    assert columns["population"]["min"] == 709000
    assert columns["population"]["max"] == 15388000
    assert columns["area"]["mean"] == pytest.approx((1171.3 + 2672.3 + 454.0 + 6417.9) / 4)

    preview = client.request("preview_dataset_request", {"rows": 2}).content["return"]
    assert preview["columns"] == ["city", "country", "population", "area"]
    assert preview["total_rows"] == 4
    assert preview["rows"] == [
        ["Lagos", "Nigeria", 15388000, 1171.3],
        ["Lima", "Peru", 10719000, 2672.3],
    ]

    filtered = client.request(
        "filter_dataset_request",
        {"column": "population", "op": ">", "value": 2000000, "target": "big"},
    ).content
    assert filtered["status"] == "ok", filtered
    assert filtered["return"] == {"variable": "big", "rows": 3}
    by_name = client.request(
        "filter_dataset_request", {"column": "country", "op": "==", "value": "Peru"}
    ).content["return"]
    assert by_name == {"variable": "filtered", "rows": 1}
    count = "print(len(big))" if language == "python3" else "cat(nrow(big))"
    assert client.run(count).stdout().strip() == "3"

    # a user cell is followed by a preview of the dataset
    cell = client.run("1")
    preview_msg = client.wait_for_iopub("preview", parent_id=cell.reply["parent_header"]["msg_id"])
    shown = preview_msg["content"]["dataset"]["cities"]["application/json"]
    assert shown["total_rows"] == 4
    assert shown["rows"][0][0] == "Lagos"


def test_dataset_filter_on_a_missing_column_is_an_error(
    beaker: tuple[KernelManager, BeakerClient], language: str, csv_file: Path
) -> None:
    _, client = beaker
    assert (
        client.setup_context("dataset", language, {"path": str(csv_file)}).content["status"] == "ok"
    )
    reply = client.request(
        "filter_dataset_request", {"column": "altitude", "op": ">", "value": 1}
    ).content
    assert reply["status"] == "error"
    assert "Procedure 'filter' failed" in reply["evalue"]
    assert "altitude" in reply["evalue"]
    bad_op = client.request(
        "filter_dataset_request", {"column": "area", "op": "~", "value": 1}
    ).content
    assert bad_op["status"] == "error"
    assert "op must be one of" in bad_op["evalue"]


def test_switching_language_keeps_the_kernel_usable(
    beaker: tuple[KernelManager, BeakerClient],
) -> None:
    _, client = beaker
    assert client.setup_context("default", "rlang").content["status"] == "ok"
    assert client.run("cat(R.version$language)").stdout() == "R"
    assert client.setup_context("default", "python3").content["status"] == "ok"
    assert client.run("print('py')").stdout() == "py\n"
    info = client.request("context_info_request").one("context_info_response")
    assert info["language"] == {"slug": "python3", "subkernel": "python3"}
    assert info["slug"] == "default"
