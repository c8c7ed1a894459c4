"""``beaker context list`` and ``beaker context new``, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .client import running_beaker
from .conftest import REPO
from .packages import broken_mappings, mapping_path, pip


def beaker(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "beaker_kernel.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_list_says_where_each_context_comes_from_and_why_some_did_not_load(
    weather_package: Path, tmp_path: Path
) -> None:
    folders = REPO / "tests" / "fixtures" / "contexts"
    env = {**broken_mappings(tmp_path), "BEAKER_CONTEXT_PATH": str(folders)}

    listed = beaker("context", "list", "--json", env=env)

    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    contexts = found["contexts"]
    assert contexts["default"]["source"] == (
        "entry point beaker_kernel.bundled.contexts.default.context:DefaultContext"
    )
    assert contexts["weather"] == {
        "class": "beaker_weather.context.WeatherContext",
        "source": f"mapping file {mapping_path('weather')}",
        "agent": "beaker_weather.agent.WeatherAgent",
        "languages": [
            {"slug": "python3", "kernel": "python3"},
            {"slug": "julia", "kernel": None},
            {"slug": "rlang", "kernel": "ir"},
        ],
        "description": (
            "Temperatures measured at a weather station, loaded into the notebook's language."
        ),
    }
    assert contexts["pyonly"]["source"] == f"folder {folders / 'pyonly'}"
    assert contexts["pyonly"]["languages"] == [{"slug": "python3", "kernel": "python3"}]
    assert sorted(found["problems"]) == ["broken", "nowhere"]
    assert "No module named 'a_dependency_nobody_installed'" in found["problems"]["broken"]

    text = beaker("context", "list", env=env)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "weather\n    Temperatures measured at a weather station" in out
    assert f"    from:      mapping file {mapping_path('weather')}\n" in out
    assert "    languages: python3 (python3), julia (no kernel installed), rlang (ir)\n" in out
    assert "Not loaded:\n" in out
    assert out.index("Not loaded:") < out.index("a_dependency_nobody_installed")


def test_new_writes_a_package_that_installs_and_loads(tmp_path: Path) -> None:
    created = beaker("context", "new", "sky_notes", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    package = tmp_path / "sky_notes"
    assert "pip install sky_notes" in created.stdout
    assert sorted(
        str(path.relative_to(package)) for path in package.rglob("*") if path.is_file()
    ) == [
        "README.md",
        "pyproject.toml",
        "share/beaker/contexts/sky_notes.json",
        "src/sky_notes/__init__.py",
        "src/sky_notes/agent.py",
        "src/sky_notes/context.py",
        "src/sky_notes/default_payload.json",
        "src/sky_notes/procedures/python3/setup.py",
    ]
    again = beaker("context", "new", "sky_notes", cwd=tmp_path)
    assert again.returncode == 2
    assert "exists and is not empty" in again.stderr

    pip("install", str(package))
    try:
        listed = json.loads(beaker("context", "list", "--json").stdout)["contexts"]
        assert listed["sky_notes"]["class"] == "sky_notes.context.SkyNotesContext"
        assert listed["sky_notes"]["source"] == f"mapping file {mapping_path('sky_notes')}"
        with running_beaker() as (_, client):
            setup = client.request(
                "context_setup_request",
                {"context": "sky_notes", "language": "python3", "context_info": None},
            )
            assert setup.content["status"] == "ok", setup.content
            assert setup.info["agent"]["name"] == "SkyNotesAgent"
            assert "notebook_greeting" in setup.info["agent"]["tools"]
            assert setup.info["actions"]["greet"]["default_payload"] == '{"name": "world"}'
            assert client.run("print(greeting)").stdout() == "Hello\n"
            greeted = client.request("greet_request", {"name": "Ada"}).content
            assert greeted == {"status": "ok", "execution_count": None, "return": "Hello, Ada!"}
    finally:
        pip("uninstall", "--yes", "sky-notes")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Sky Notes"], "is not a usable name"),
        (["sky", "--class-name", "lower"], "is not a class name stem"),
    ],
)
def test_new_refuses_bad_names(tmp_path: Path, args: list[str], message: str) -> None:
    result = beaker("context", "new", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []
