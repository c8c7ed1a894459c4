"""What user code finds in the kernel images: the scientific stacks, and inline plots."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .conftest import REPO, Deployment, KernelSocket
from .test_matrix import setup_context

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cell(ws: KernelSocket, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    reply, iopub = ws.request(
        "execute_request",
        {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
        timeout=180,
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply, iopub


def stdout_of(iopub: list[dict[str, Any]]) -> str:
    return "".join(
        m["content"]["text"]
        for m in iopub
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


def png_images(iopub: list[dict[str, Any]]) -> list[bytes]:
    """The PNG images of the display_data / execute_result messages, decoded."""
    return [
        base64.b64decode(m["content"]["data"]["image/png"])
        for m in iopub
        if m["msg_type"] in ("display_data", "execute_result")
        and "image/png" in m["content"]["data"]
    ]


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (REPO / "images" / "python" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin every package: {line!r}"
            pins[name] = version
    return pins


def test_python_image_has_the_scientific_stack_and_plots_inline(
    beaker: tuple[str, KernelSocket],
) -> None:
    _, ws = beaker
    pins = pinned_versions()
    assert set(pins) >= {"ipykernel", "numpy", "scipy", "pandas", "matplotlib"}
    _, iopub = run_cell(
        ws,
        "import importlib.metadata as m\n"
        f"for name in {sorted(pins)!r}:\n"
        "    print(name, m.version(name))\n",
    )
    assert stdout_of(iopub).splitlines() == [f"{name} {pins[name]}" for name in sorted(pins)]

    _, iopub = run_cell(
        ws,
        "import numpy as np, pandas as pd\n"
        "from scipy import integrate, stats\n"
        "area, _ = integrate.quad(lambda x: x ** 2, 0, 3)\n"
        "frame = pd.DataFrame({'x': np.arange(5), 'y': np.arange(5) ** 2})\n"
        "print(round(area, 6), frame['y'].sum(), round(stats.norm.cdf(0), 3))\n",
    )
    assert stdout_of(iopub).split() == ["9.0", "30", "0.5"]

    _, iopub = run_cell(
        ws,
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares');\n",
    )
    images = png_images(iopub)
    assert len(images) == 1, [m["msg_type"] for m in iopub]
    assert images[0].startswith(PNG_SIGNATURE)
    assert len(images[0]) > 2000


def test_r_image_has_ggplot2_and_data_table_and_plots_inline(
    deployment: Deployment, beaker: tuple[str, KernelSocket]
) -> None:
    _, ws = beaker
    setup_context(ws, "default", "rlang")
    _, iopub = run_cell(
        ws,
        "suppressPackageStartupMessages({\n"
        "  library(ggplot2); library(data.table); library(jsonlite)\n"
        "})\n"
        "dt <- data.table(x = 1:4, y = (1:4)^2)\n"
        "cat(dt[, sum(y)], toJSON(dt[x > 2, y]), '\\n')\n",
    )
    assert stdout_of(iopub).split() == ["30", "[9,16]"]

    _, iopub = run_cell(ws, "ggplot(dt, aes(x, y)) + geom_line()")
    images = png_images(iopub)
    assert len(images) == 1, [m["msg_type"] for m in iopub]
    assert images[0].startswith(PNG_SIGNATURE)
    assert len(images[0]) > 2000
