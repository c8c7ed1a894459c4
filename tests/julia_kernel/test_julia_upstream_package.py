"""The pip-installed weather context package (tests/fixtures/beaker-weather) with a Julia
subkernel: its Julia procedures (``procedures/julia/*.jl``, upstream's lenient form) run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..client import running_beaker

pytestmark = pytest.mark.julia

SUMMARY = {"station": "Oslo Blindern", "count": 4, "mean": 7.44, "min": 3.5, "max": 12.0}


def test_weather_context_in_julia(weather_package: Path, julia_kernelspec_dir: Path) -> None:
    with running_beaker() as (_, client):
        setup = client.request(
            "context_setup_request",
            {"context": "weather", "language": "julia", "context_info": None},
            timeout=120,
        )
        assert setup.content["status"] == "ok", setup.content
        assert setup.info["language"] == "Julia"
        assert setup.one("preview") == {"weather": {"weather": {"application/json": SUMMARY}}}
        assert client.run("println(weather.station)").stdout() == "Oslo Blindern\n"

        converted = client.request("convert_temperatures_request", {"unit": "K"}).content
        assert converted["status"] == "ok", converted
        assert converted["return"] == pytest.approx([276.65, 278.15, 282.4, 285.15])
        warmest = client.request("warmest_reading_request").content
        assert warmest["return"] == {"position": 4, "temperature": 12.0}

        cell = client.run("push!(weather.temperatures, 20.5);")
        preview = client.wait_for_iopub("preview", parent_id=cell.reply["parent_header"]["msg_id"])
        summary = preview["content"]["weather"]["weather"]["application/json"]
        assert (summary["count"], summary["max"]) == (5, 20.5)
