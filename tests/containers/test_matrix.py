"""The per-language matrix: the service in its container, each subkernel in its own image.

For python3, rlang and julia: a Beaker kernel created over HTTP sets up the bundled contexts
``default`` and ``dataset`` over its websocket, every action runs its procedure inside the
subkernel container, and the values are checked. The containers themselves are checked too:
image, limits, user, network, workspace, no Docker socket, no secrets.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Deployment, KernelSocket, container_of, docker

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]

LANGUAGES: dict[str, dict[str, Any]] = {
    "python3": {
        "display": "Python 3",
        "kernelspec": "python3-docker",
        "image": "beaker-python:latest",
        "assign": "answer = 6 * 7",
        "int_type": "int",
        "count_big": "print(len(big))",
        "whoami": "import os; print(os.getuid(), os.getcwd())",
    },
    "rlang": {
        "display": "R",
        "kernelspec": "ir-docker",
        "image": "beaker-r:latest",
        "assign": "answer <- 42L",
        "int_type": "integer",
        "count_big": "cat(nrow(big), '\\n')",
        "whoami": "cat(system('id -u', intern = TRUE), getwd(), '\\n')",
    },
    "julia": {
        "display": "Julia",
        "kernelspec": "julia-docker",
        "image": "beaker-julia:offline",
        "assign": "answer = 6 * 7",
        "int_type": "Int64",
        "count_big": "println(length(big.city))",
        "whoami": 'println(readchomp(`id -u`), " ", pwd())',
    },
}

COLUMNS = ["city", "country", "population", "area"]


@pytest.fixture(params=sorted(LANGUAGES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def setup_context(
    ws: KernelSocket, context: str, language: str, info: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Set ``context`` up; return its info (the ``context_setup_response``) and the iopub
    messages of the request."""
    reply, iopub = ws.request(
        "context_setup_request",
        {"context": context, "language": language, "context_info": info or {}},
        timeout=180,
    )
    assert reply["msg_type"] == "context_setup_reply"
    assert reply["content"] == {"status": "ok", "execution_count": None, "return": None}, reply[
        "content"
    ]
    responses = [m["content"] for m in iopub if m["msg_type"] == "context_setup_response"]
    assert len(responses) == 1, [m["msg_type"] for m in iopub]
    return responses[0], iopub


def context_info(ws: KernelSocket) -> dict[str, Any]:
    """The ``context_info_response`` of the current context."""
    reply, iopub = ws.request("context_info_request")
    assert reply["content"]["status"] == "ok", reply["content"]
    (info,) = [m["content"] for m in iopub if m["msg_type"] == "context_info_response"]
    return dict(info)


def action(ws: KernelSocket, name: str, **args: Any) -> Any:
    reply, _ = ws.request(f"{name}_request", args)
    assert reply["msg_type"] == f"{name}_reply"
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["return"]


def test_contexts_lists_every_language_as_a_container_kernel(deployment: Deployment) -> None:
    contexts = deployment.http("GET", "/contexts").json()
    for slug in ("default", "dataset"):
        offered = {lang["slug"]: lang["subkernel"] for lang in contexts[slug]["languages"]}
        assert offered == {name: spec["kernelspec"] for name, spec in LANGUAGES.items()}
    assert json.loads(contexts["dataset"]["defaultPayload"]) == {
        "path": "data.csv",
        "variable": "df",
    }
    # the image has the folder BEAKER_CONTEXT_PATH names (mount your own contexts there)
    assert "Context folder /opt/beaker/contexts does not exist" not in deployment.logs()
    specs = deployment.http("GET", "/api/kernelspecs").json()["kernelspecs"]
    # no kernel that would run user code inside the service container is offered
    assert sorted(specs) == ["beaker_kernel", "ir-docker", "julia-docker", "python3-docker"]


def test_default_context(
    deployment: Deployment, beaker: tuple[str, KernelSocket], language: str
) -> None:
    beaker_id, ws = beaker
    spec = LANGUAGES[language]
    info, iopub = setup_context(ws, "default", language)
    assert info["language"] == spec["display"]
    assert info["subkernel"] == spec["kernelspec"]
    assert "get_subkernel_state" in info["actions"]
    types = [m["msg_type"] for m in iopub]
    assert types.index("kernel_state_info") < types.index("context_setup_response")
    current = context_info(ws)
    assert current["slug"] == "default"
    assert current["language"] == {"slug": language, "subkernel": spec["kernelspec"]}
    subkernel = deployment.subkernel_of(beaker_id)
    assert subkernel["name"] == spec["kernelspec"]

    reply, stdout = ws.execute(spec["whoami"])
    assert reply["content"]["status"] == "ok", reply["content"]
    assert stdout.split() == ["1000", "/home/beaker/work"]

    reply, _ = ws.execute(spec["assign"])
    assert reply["content"]["status"] == "ok", reply["content"]
    # the state published after the cell, and the action, come from the subkernel container
    published = ws.wait_for_iopub(
        lambda m: (
            m["msg_type"] == "kernel_state_info"
            and m["parent_header"].get("msg_id") == reply["parent_header"]["msg_id"]
        )
    )
    shown = published["content"]["x-application/beaker-subkernel-state"]["application/json"]
    label = shown["variables"]["answer"]["label"]
    assert label.startswith(f"answer ({spec['int_type']}"), label
    assert label.endswith("42"), label
    reply, iopub = ws.request("get_subkernel_state_request")
    assert reply["msg_type"] == "get_subkernel_state_reply"
    assert reply["content"]["status"] == "ok", reply["content"]
    answer = reply["content"]["return"]["variables"]["answer"]
    assert answer["type"] == spec["int_type"]
    assert answer["value"].endswith("42")
    responses = [m["content"] for m in iopub if m["msg_type"] == "get_subkernel_state_response"]
    assert responses == [reply["content"]["return"]]


def test_dataset_context(
    deployment: Deployment, beaker: tuple[str, KernelSocket], language: str, cities_csv: str
) -> None:
    _, ws = beaker
    info, _ = setup_context(ws, "dataset", language, {"path": cities_csv, "variable": "cities"})
    assert {"describe_dataset", "filter_dataset", "preview_dataset"} <= set(info["actions"])
    assert info["actions"]["preview_dataset"]["default_payload"] == '{"rows": 5}'
    assert context_info(ws)["config"] == {"path": cities_csv, "variable": "cities"}

    summary = action(ws, "describe_dataset")
    assert summary["variable"] == "cities"
    assert summary["rows"] == 4
    columns = {c["name"]: c for c in summary["columns"]}
    assert list(columns) == COLUMNS
    assert columns["city"]["type"] == "string"
    assert columns["city"]["count"] == 4
    assert columns["population"]["type"] == "number"
    assert columns["population"]["min"] == 709000
    assert columns["population"]["max"] == 15388000
    assert columns["area"]["mean"] == pytest.approx((1171.3 + 2672.3 + 454.0 + 6417.9) / 4)

    preview = action(ws, "preview_dataset", rows=2)
    assert preview["columns"] == COLUMNS
    assert preview["total_rows"] == 4
    assert preview["rows"] == [
        ["Lagos", "Nigeria", 15388000, 1171.3],
        ["Lima", "Peru", 10719000, 2672.3],
    ]

    big = action(ws, "filter_dataset", column="population", op=">", value=2000000, target="big")
    assert big == {"variable": "big", "rows": 3}
    peru = action(ws, "filter_dataset", column="country", op="==", value="Peru")
    assert peru == {"variable": "filtered", "rows": 1}
    reply, stdout = ws.execute(LANGUAGES[language]["count_big"])
    assert reply["content"]["status"] == "ok", reply["content"]
    assert stdout.strip() == "3"
    # after the cell, the context's preview of the dataset, read in the subkernel container
    preview_msg = ws.wait_for_iopub(
        lambda m: (
            m["msg_type"] == "preview"
            and m["parent_header"].get("msg_id") == reply["parent_header"]["msg_id"]
        )
    )
    shown = preview_msg["content"]["dataset"]["cities"]["application/json"]
    assert shown["total_rows"] == 4
    assert shown["rows"][0] == ["Lagos", "Nigeria", 15388000, 1171.3]

    # a failing procedure is an error reply, and the kernel goes on
    reply, _ = ws.request("filter_dataset_request", {"column": "altitude", "op": ">", "value": 1})
    assert reply["content"]["status"] == "error"
    assert "altitude" in reply["content"]["evalue"]
    assert action(ws, "preview_dataset", rows=1)["rows"] == [["Lagos", "Nigeria", 15388000, 1171.3]]


def test_subkernel_container_is_confined(
    deployment: Deployment, beaker: tuple[str, KernelSocket], language: str
) -> None:
    beaker_id, ws = beaker
    spec = LANGUAGES[language]
    setup_context(ws, "default", language)
    subkernel = deployment.subkernel_of(beaker_id)
    details = container_of(subkernel["id"])
    config, host = details["Config"], details["HostConfig"]
    assert config["Image"] == spec["image"]
    assert config["Labels"]["org.beaker-kernel.instance"] == deployment.instance
    assert config["User"] == "1000:1000"
    assert host["Memory"] == 1024**3
    assert host["MemorySwap"] == 1024**3
    assert host["NanoCpus"] == 1_500_000_000
    assert host["PidsLimit"] == 200
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Init"] is True
    assert not host["Privileged"]
    assert list(details["NetworkSettings"]["Networks"]) == [deployment.network]
    mounts = {m["Destination"]: m for m in details["Mounts"]}
    assert list(mounts) == ["/home/beaker/work"]
    assert mounts["/home/beaker/work"]["Name"] == deployment.env["BEAKER_WORKSPACE_VOLUME"]
    assert not any("docker.sock" in (m.get("Source") or "") for m in details["Mounts"])
    env = "\n".join(config["Env"] or [])
    for secret in (deployment.token, deployment.env["LLM_SERVICE_TOKEN"]):
        assert secret not in env
    # the kernels' network has no route out of the Docker host
    network = docker("network", "inspect", deployment.network, "--format", "{{.Internal}}")
    assert network.strip() == "true"


def test_deleting_the_beaker_kernel_removes_the_subkernel_container(
    deployment: Deployment, language: str
) -> None:
    beaker_id = deployment.start_beaker()
    ws = deployment.connect(beaker_id)
    try:
        setup_context(ws, "default", language)
        sub_id = deployment.subkernel_of(beaker_id)["id"]
        assert container_of(sub_id)["State"]["Running"] is True
    finally:
        ws.close()
    deployment.delete(beaker_id)
    deployment.wait_for_kernels(lambda ks: not any(k["id"] in (beaker_id, sub_id) for k in ks))
    assert docker("ps", "-aq", "--filter", f"label=org.beaker-kernel.kernel-id={sub_id}") == ""
