"""Subkernels get an allow-list of environment variables; local mode says what it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beaker_kernel.environment import passed_to_subkernels, subkernel_environment

from ..client import running_beaker
from ..service.conftest import start_service, stop_service

pytestmark = pytest.mark.security

DATABASE_URL = "postgres://app:hunter2-db-password@db.internal/app"

PRINT_ENV = "import os, json; print(json.dumps(dict(os.environ)))"


def test_allow_list() -> None:
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "R_LIBS_USER": "/r",
        "JULIA_DEPOT_PATH": "/j",
        "PYTHONPATH": "/p",
        "VIRTUAL_ENV": "/venv",
        "DATABASE_URL": DATABASE_URL,
        "PGPASSFILE": "/home/u/.pgpass",
        "AWS_SECRET_ACCESS_KEY": "x" * 20,
        "OPENAI_API_KEY": "sk-" + "x" * 20,
        "JUPYTER_TOKEN": "t" * 20,
        "BEAKER_SERVICE_TOKEN": "t" * 20,
        "BEAKER_SERVICE_URL": "http://127.0.0.1:8888",
        "LLM_SERVICE_MODEL": "m",
        "TOOL_ENABLED_RUN_CODE": "false",
        "R_API_TOKEN": "t" * 20,
        "SOME_SETTING": "1",
    }
    env = subkernel_environment(base)
    assert set(env) == {
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TZ",
        "R_LIBS_USER",
        "JULIA_DEPOT_PATH",
        "PYTHONPATH",
        "VIRTUAL_ENV",
    }
    assert env["PATH"] == "/usr/bin"


def test_operator_adds_names() -> None:
    base = {
        "PATH": "/usr/bin",
        "SOME_SETTING": "1",
        "MYAPP_A": "a",
        "MYAPP_B": "b",
        "DATABASE_URL": DATABASE_URL,
        "BEAKER_SERVICE_TOKEN": "t" * 20,
        "BEAKER_SUBKERNEL_ENV": "SOME_SETTING, MYAPP_* DATABASE_URL BEAKER_SERVICE_TOKEN",
    }
    env = subkernel_environment(base)
    # listed names pass, a listed secret-looking one too; the service's token never does
    assert set(env) == {"PATH", "SOME_SETTING", "MYAPP_A", "MYAPP_B", "DATABASE_URL"}
    assert passed_to_subkernels("X_API_KEY", "X_API_KEY")
    assert not passed_to_subkernels("JUPYTER_TOKEN", "JUPYTER_TOKEN *")
    assert not passed_to_subkernels("ANYTHING", "")


def subkernel_env_under_service(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    service = start_service(tmp_path, extra)
    try:
        _, ws = service.beaker_session()
        try:
            reply, stdout = ws.execute(PRINT_ENV)
        finally:
            ws.close()
        assert reply["content"]["status"] == "ok", reply["content"]
        env: dict[str, str] = json.loads(stdout)
    finally:
        stop_service(service)
    log = service.log_path.read_text()
    assert "local mode is single-user" in log
    assert "docs/security.md" in log
    return env


def test_subkernels_under_the_service_get_the_allow_list(tmp_path: Path) -> None:
    env = subkernel_env_under_service(
        tmp_path, {"DATABASE_URL": DATABASE_URL, "SOME_SETTING": "1", "LC_ALL": "C.UTF-8"}
    )
    assert "DATABASE_URL" not in env
    assert "SOME_SETTING" not in env
    assert DATABASE_URL not in json.dumps(env)
    assert env["LC_ALL"] == "C.UTF-8"
    assert "PATH" in env
    assert not any("TOKEN" in name or "KEY" in name for name in env)


def test_operator_setting_reaches_subkernels_under_the_service(tmp_path: Path) -> None:
    env = subkernel_env_under_service(
        tmp_path, {"SOME_SETTING": "1", "BEAKER_SUBKERNEL_ENV": "SOME_SETTING"}
    )
    assert env["SOME_SETTING"] == "1"


@pytest.mark.slow
def test_subkernels_of_a_kernel_outside_the_service_get_the_allow_list() -> None:
    with running_beaker({"DATABASE_URL": DATABASE_URL, "SOME_SETTING": "1"}) as (_, client):
        exchange = client.run(PRINT_ENV)
    assert exchange.content["status"] == "ok", exchange.content
    env = json.loads(exchange.stdout())
    assert "DATABASE_URL" not in env
    assert "SOME_SETTING" not in env
    assert "PATH" in env
