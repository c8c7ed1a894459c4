"""A context package of one's own in the deployment: tests/fixtures/beaker-weather, written as
upstream Beaker documents contexts, mounted at /opt/beaker/contexts as docs/deploy.md says
(see conftest.py). Its procedures run in each language's kernel container."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import WEATHER_PACKAGE, Deployment, KernelSocket
from .test_agent import model_calls, write_script
from .test_matrix import LANGUAGES, context_info

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]

PAYLOAD = json.loads((WEATHER_PACKAGE / "default_payload.json").read_text())
SUMMARY = {"station": "Oslo Blindern", "count": 4, "mean": 7.44, "min": 3.5, "max": 12.0}
FAHRENHEIT = [38.3, 41.0, 48.65, 53.6]
ADD_READING = {
    "python3": "weather['temperatures'].append(20.5)",
    "rlang": "weather$temperatures <- c(weather$temperatures, 20.5)",
    "julia": "push!(weather.temperatures, 20.5);",
}


@pytest.fixture(params=sorted(LANGUAGES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def setup_weather(ws: KernelSocket, language: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    reply, iopub = ws.request(
        "context_setup_request",
        {"context": "weather", "language": language, "context_info": None},
        timeout=180,
    )
    assert reply["content"] == {"status": "ok", "execution_count": None, "return": None}, reply[
        "content"
    ]
    (info,) = [m["content"] for m in iopub if m["msg_type"] == "context_setup_response"]
    return info, iopub


def test_listed_with_every_language(deployment: Deployment) -> None:
    weather = deployment.http("GET", "/contexts").json()["weather"]
    assert weather["languages"] == [
        {"slug": "python3", "subkernel": "python3-docker"},
        {"slug": "julia", "subkernel": "julia-docker"},
        {"slug": "rlang", "subkernel": "ir-docker"},
    ]
    assert json.loads(weather["defaultPayload"]) == PAYLOAD


def test_runs_in_the_kernel_containers(beaker: tuple[str, KernelSocket], language: str) -> None:
    _, ws = beaker
    info, iopub = setup_weather(ws, language)
    assert info["language"] == LANGUAGES[language]["display"]
    assert info["agent"]["name"] == "WeatherAgent"
    assert "convert_temperatures" in info["actions"]
    assert "warmest_reading_request" in info["custom_messages"]
    previews = [m["content"] for m in iopub if m["msg_type"] == "preview"]
    assert previews == [{"weather": {"weather": {"application/json": SUMMARY}}}]
    assert context_info(ws)["config"] == PAYLOAD

    reply, _ = ws.request("convert_temperatures_request", {"unit": "F"})
    assert reply["content"]["status"] == "ok", reply["content"]
    assert reply["content"]["return"] == pytest.approx(FAHRENHEIT)
    reply, iopub = ws.request("warmest_reading_request")
    assert reply["content"] == {
        "status": "ok",
        "execution_count": None,
        "return": {"position": 4, "temperature": 12.0},
    }
    assert [m["content"] for m in iopub if m["msg_type"] == "warmest_reading_response"] == [
        {"position": 4, "temperature": 12.0}
    ]

    reply, _ = ws.execute(ADD_READING[language])
    assert reply["content"]["status"] == "ok", reply["content"]
    preview = ws.wait_for_iopub(
        lambda m: (
            m["msg_type"] == "preview"
            and m["parent_header"].get("msg_id") == reply["parent_header"]["msg_id"]
        )
    )
    summary = preview["content"]["weather"]["weather"]["application/json"]
    assert (summary["count"], summary["max"]) == (5, 20.5)


def test_its_agent_tool(deployment: Deployment, beaker: tuple[str, KernelSocket]) -> None:
    _, ws = beaker
    write_script(
        deployment,
        [
            {"text": "Converting.", "tool_calls": [{"name": "readings_in", "args": {"unit": "F"}}]},
            {"text": "{last_tool_output}"},
        ],
    )
    setup_weather(ws, "python3")

    reply, iopub = ws.request("llm_request", {"request": "In Fahrenheit?"}, timeout=180)

    assert reply["content"]["status"] == "ok", reply["content"]
    thoughts = [m["content"] for m in iopub if m["msg_type"] == "llm_thought"]
    assert [t["tool_name"] for t in thoughts] == ["readings_in"]
    (response,) = [m["content"] for m in iopub if m["msg_type"] == "llm_response"]
    assert response["text"].startswith("Readings in F: ")
    assert json.loads(response["text"].removeprefix("Readings in F: ")) == pytest.approx(FAHRENHEIT)
    assert "readings_in" in model_calls(deployment)[-1]["tools"]
