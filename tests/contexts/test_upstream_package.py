"""A context package written as upstream Beaker documents contexts (tests/fixtures/beaker-weather),
built as a wheel and pip-installed: Beaker finds it through its share/beaker mapping, lists
it, sets it up in Python and R, runs its procedures, answers its action and custom message,
and its agent's own tool is called by the (scripted) model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from beaker_kernel.lib.registry import ContextRegistry

from ..agent.conftest import StartAgentKernel, agent_kernel  # noqa: F401 (fixture)
from ..client import BeakerClient, running_beaker
from ..packages import WEATHER, mapping_path
from ..service.conftest import start_service, stop_service

PAYLOAD = json.loads((WEATHER / "src" / "beaker_weather" / "default_payload.json").read_text())
SUMMARY = {"station": "Oslo Blindern", "count": 4, "mean": 7.44, "min": 3.5, "max": 12.0}
FAHRENHEIT = [38.3, 41.0, 48.65, 53.6]
KELVIN = [276.65, 278.15, 282.4, 285.15]

LANGUAGES = {
    "python3": {
        "display": "Python 3",
        "show": "print(weather['station'], len(weather['temperatures']))",
        "add": "weather['temperatures'].append(20.5)",
    },
    "rlang": {
        "display": "R",
        "show": "cat(weather$station, length(weather$temperatures))",
        "add": "weather$temperatures <- c(weather$temperatures, 20.5)",
    },
}


@pytest.fixture(params=sorted(LANGUAGES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def kernel(weather_package: Path) -> Iterator[tuple[KernelManager, BeakerClient]]:
    with running_beaker() as (km, client):
        yield km, client


def setup_weather(client: BeakerClient, language: str) -> Any:
    """Set the weather context up with its default payload (``context_info: null``)."""
    return client.request(
        "context_setup_request",
        {"context": "weather", "language": language, "context_info": None},
        timeout=90,
    )


def test_found_through_its_installed_mapping(weather_package: Path) -> None:
    mapping = mapping_path("weather")
    assert json.loads(mapping.read_text()) == {
        "slug": "weather",
        "package": "beaker_weather.context",
        "class_name": "WeatherContext",
    }
    registry = ContextRegistry()
    cls = registry.all()["weather"]
    assert f"{cls.__module__}.{cls.__qualname__}" == "beaker_weather.context.WeatherContext"
    assert registry.origin("weather") == f"mapping file {mapping}"
    assert cls.available_subkernels() == ["python3", "julia", "rlang"]
    assert json.loads(cls.default_payload()) == PAYLOAD


def test_listed_by_the_service(weather_package: Path, tmp_path: Path) -> None:
    service = start_service(tmp_path)
    try:
        response = service.http("GET", "/contexts")
        assert response.status == 200, response.body
        weather = response.json()["weather"]
    finally:
        stop_service(service)
    assert weather["languages"] == [
        {"slug": "python3", "subkernel": "python3"},
        {"slug": "rlang", "subkernel": "ir"},
    ]
    assert isinstance(weather["defaultPayload"], str)
    assert json.loads(weather["defaultPayload"]) == PAYLOAD


def test_sets_up_and_answers(kernel: tuple[KernelManager, BeakerClient], language: str) -> None:
    _, client = kernel
    case = LANGUAGES[language]
    setup = setup_weather(client, language)
    assert setup.content == {"status": "ok", "execution_count": None, "return": None}
    info = setup.info
    assert info["language"] == case["display"]
    assert info["actions"]["convert_temperatures"]["default_payload"] == '{"unit": "F"}'
    assert (
        info["actions"]["convert_temperatures"]["docs"]
        == "The readings in another unit: C, F or K."
    )
    assert info["custom_messages"]["warmest_reading_request"]["default_payload"] == "{}"
    assert {"setup", "preview", "convert", "warmest"} <= set(info["procedures"])
    assert info["agent"]["name"] == "WeatherAgent"
    assert info["agent"]["tools"]["readings_in"].startswith("The station's temperature readings")
    assert info["agent"]["agent_prompt"].startswith("You are a meteorologist's assistant")
    # the setup procedure ran (with the default payload), then the preview procedure
    assert setup.one("preview") == {"weather": {"weather": {"application/json": SUMMARY}}}
    assert client.run(case["show"]).stdout().split() == ["Oslo", "Blindern", "4"]
    current = client.request("context_info_request").one("context_info_response")
    assert current["slug"] == "weather"
    assert current["class"] == "beaker_weather.context.WeatherContext"
    assert current["config"] == PAYLOAD

    converted = client.request("convert_temperatures_request", {"unit": "F"})
    assert converted.reply["msg_type"] == "convert_temperatures_reply"
    assert converted.content["status"] == "ok", converted.content
    assert converted.content["return"] == pytest.approx(FAHRENHEIT)
    refused = client.request("convert_temperatures_request", {"unit": "R"}).content
    assert refused["status"] == "error"
    assert "unit must be one of C, F, K" in refused["evalue"]

    warmest = client.request("warmest_reading_request")
    assert warmest.reply["msg_type"] == "warmest_reading_reply"
    assert warmest.content == {
        "status": "ok",
        "execution_count": None,
        "return": {"position": 4, "temperature": 12.0},
    }
    assert warmest.one("warmest_reading_response") == {"position": 4, "temperature": 12.0}

    # after a user cell, the preview procedure runs again
    cell = client.run(case["add"])
    assert cell.content["status"] == "ok", cell.content
    preview = client.wait_for_iopub("preview", parent_id=cell.reply["parent_header"]["msg_id"])
    summary = preview["content"]["weather"]["weather"]["application/json"]
    assert summary["count"] == 5
    assert summary["max"] == 20.5


def test_agent_calls_the_context_tool(
    weather_package: Path,
    agent_kernel: StartAgentKernel,  # noqa: F811
    language: str,
) -> None:
    kernel = agent_kernel(
        [
            {
                "text": "I will convert the readings.",
                "tool_calls": [{"name": "readings_in", "args": {"unit": "K"}}],
            },
            {"text": "Here they are. {last_tool_output}"},
        ]
    )
    client = kernel.client
    assert setup_weather(client, language).content["status"] == "ok"
    client.drain_iopub()

    exchange = client.request("llm_request", {"request": "The readings in Kelvin, please"})

    assert exchange.reply["msg_type"] == "llm_reply"
    assert exchange.content == {"status": "ok", "execution_count": None, "return": None}
    assert exchange.one("llm_thought") == {
        "thought": "I will convert the readings.",
        "tool_name": "readings_in",
        "tool_input": {"unit": "K"},
    }
    text = exchange.one("llm_response")["text"]
    assert text.startswith("Here they are. Readings in K: ")
    assert json.loads(text.removeprefix("Here they are. Readings in K: ")) == pytest.approx(KELVIN)
    first, second = kernel.model_calls()
    # the agent's own tool (and not its injected references) is offered to the model
    assert "readings_in" in first["tools"]
    assert "run_code" in first["tools"]
    # the model was told what the context is about, and saw what the tool returned
    assert any("Oslo Blindern" in m["content"] for m in first["messages"])
    assert any("Readings in K" in m["content"] for m in second["messages"])
