"""Upstream Beaker's start commands start this service, with upstream's environment.

``python -m beaker_kernel.service.notebook``, ``python -m beaker_kernel.service.server``
(what upstream's and askem-beaker's images run) and ``beaker notebook`` each run the real
service here: ``JUPYTER_TOKEN``, ``BEAKER_PORT`` / ``--port``, ``BEAKER_DEFAULT_CONTEXT*``
and ``LLM_*`` work as they did upstream, and a wrong option stops the command with a
message.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from ..service_client import free_port
from .conftest import Service, start_service, stop_service

PYTHON = sys.executable

COMMANDS = {
    "python -m beaker_kernel.service.notebook": [PYTHON, "-m", "beaker_kernel.service.notebook"],
    "python -m beaker_kernel.service.server": [PYTHON, "-m", "beaker_kernel.service.server"],
    "beaker notebook": [PYTHON, "-m", "beaker_kernel.cli", "notebook"],
}

#: The commands that serve the development page.
WITH_PAGE = {"beaker notebook"}

CITIES = "name,population\nAmsterdam,921402\nBern,134794\nCairo,9539673\n"


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def location_of(service: Service, path: str) -> str:
    """Where ``GET path`` (with the token) redirects to."""
    parts = urlsplit(service.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"token {service.token}"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status in (301, 302), response.status
    return response.headers["Location"]


@pytest.mark.parametrize("name", COMMANDS)
def test_starts_with_jupyter_token_and_beaker_port(tmp_path: Path, name: str) -> None:
    port = free_port()
    service = start_service(
        tmp_path,
        {"BEAKER_PORT": str(port)},
        port=port,
        command=COMMANDS[name],
        token_variable="JUPYTER_TOKEN",
    )
    try:
        assert listening(port)
        assert service.http("GET", "/health", token=None).json()["status"] == "ok"
        assert service.http("GET", "/api/kernelspecs").status == 200
        assert service.http("GET", "/api/kernelspecs", token=None).status == 403
        assert service.http("GET", "/api/kernelspecs", token="wrong").status == 403
        page = service.http("GET", "/dev/", token=None).status
        if name in WITH_PAGE:
            # the page needs no token: 200, or 503 with instructions when it was not built
            assert page in (200, 503)
            assert location_of(service, "/") == "/dev/"
        else:
            assert page == 403
            assert service.http("GET", "/dev/").status == 404
            assert location_of(service, "/") == "/health"
    finally:
        stop_service(service)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_line_ip_and_port_win(tmp_path: Path, name: str) -> None:
    """Upstream's form, ``--ip ADDRESS --port N`` with spaces, over the environment."""
    port, env_port = free_port(), free_port()
    service = start_service(
        tmp_path,
        {"BEAKER_PORT": str(env_port), "BEAKER_IP": "127.0.0.2"},
        ["--ip", "127.0.0.1", "--port", str(port)],
        port=port,
        command=COMMANDS[name],
    )
    try:
        assert service.http("GET", "/api/kernels").json() == []
        assert not listening(env_port)
    finally:
        stop_service(service)
    assert "not recognized" not in service.log_path.read_text()


def kernel_environments(service: Service) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of the (one) Beaker kernel and of its subkernel."""
    children = psutil.Process(service.process.pid).children()
    envs = {" ".join(p.cmdline()): p.environ() for p in children}
    (beaker,) = [env for cmd, env in envs.items() if "beaker_kernel.kernel" in cmd]
    (sub,) = [env for cmd, env in envs.items() if "beaker_kernel.kernel" not in cmd]
    return beaker, sub


@pytest.mark.r
@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", COMMANDS)
def test_default_context_and_llm_settings_from_upstream_variables(
    tmp_path: Path, name: str
) -> None:
    csv = tmp_path / "cities.csv"
    csv.write_text(CITIES)
    payload = {"path": str(csv), "variable": "cities"}
    llm = {
        "LLM_PROVIDER_IMPORT_PATH": "archytas.models.openai.OpenAIModel",
        "LLM_SERVICE_MODEL": "gpt-from-upstream-env",
        "LLM_SERVICE_TOKEN": "sk-llm-test-token",
    }
    service = start_service(
        tmp_path,
        {
            "BEAKER_DEFAULT_CONTEXT": "dataset",
            "BEAKER_DEFAULT_CONTEXT_PAYLOAD": json.dumps(payload),
            "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "rlang",
            # Terarium's value: a name only its network resolves. Beaker kernels reach
            # the service through the address the service gives them, not this one.
            "JUPYTER_SERVER": "http://beaker:8888",
            **llm,
        },
        command=COMMANDS[name],
        token_variable="JUPYTER_TOKEN",
    )
    try:
        _, ws = service.beaker_session()
        try:
            info = ws.context_info()
            _, stdout = ws.execute("cat(class(cities), nrow(cities))")
        finally:
            ws.close()
        assert info["slug"] == "dataset"
        assert info["config"] == payload
        assert info["language"] == {"slug": "rlang", "subkernel": "ir"}
        assert stdout == "data.frame 3"
        kernels = {k["name"] for k in service.kernels()}
        assert kernels == {"beaker_kernel", "ir"}

        beaker_env, sub_env = kernel_environments(service)
        for variable, value in llm.items():
            assert beaker_env[variable] == value
            assert variable not in sub_env
        assert beaker_env["BEAKER_SERVICE_URL"] == service.url
        assert beaker_env["JUPYTER_SERVER"] == "http://beaker:8888"  # for contexts that read it
        assert "JUPYTER_SERVER" not in sub_env
        assert "JUPYTER_TOKEN" not in beaker_env
        assert "JUPYTER_TOKEN" not in sub_env
    finally:
        stop_service(service)


def run_to_exit(command: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> Any:
    """Run a start command that should refuse to start; the service must not come up."""
    return subprocess.run(
        command,
        env={
            **os.environ,
            "BEAKER_PORT": str(free_port()),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            **(env or {}),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_an_unknown_option_stops_the_command(tmp_path: Path, name: str) -> None:
    result = run_to_exit([*COMMANDS[name], "--ip", "127.0.0.1", "--bogus=1"], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "unknown option --bogus (--help-all lists every option)" in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output


BAD = {
    "a stray word": (["notes.ipynb"], {}, "unexpected argument 'notes.ipynb'"),
    "a stray word after an option": (
        ["--port", "0", "notes.ipynb"],
        {},
        "unexpected argument 'notes.ipynb'",
    ),
    "a flag with a value": (["--debug=3"], {}, "option --debug takes no value"),
    "an option without its value": (["--port"], {}, "option --port needs a value"),
    "a port that is no number": (["--port=abc"], {}, "expected an int, not the str 'abc'"),
    "a port out of range": (["--port=99999"], {}, "port must be from 0 to 65535, not 99999"),
    "an address nobody resolves": (
        ["--ip=nohost.invalid"],
        {},
        "ip 'nohost.invalid' is neither an IP address nor a host name",
    ),
    "a bad value for Beaker's extension": (
        ["--BeakerServiceApp.dev_ui=maybe"],
        {},
        "The 'dev_ui' trait of a BeakerServiceApp instance expected a boolean",
    ),
    "BEAKER_IP nobody resolves": (
        [],
        {"BEAKER_IP": "nohost.invalid"},
        "BEAKER_IP='nohost.invalid' is neither an IP address nor a host name",
    ),
    "a payload that is not an object": (
        [],
        {"BEAKER_DEFAULT_CONTEXT_PAYLOAD": "[1]"},
        "BEAKER_DEFAULT_CONTEXT_PAYLOAD must be a JSON object, not '[1]'",
    ),
    "a payload that is not JSON": (
        [],
        {"BEAKER_DEFAULT_CONTEXT_PAYLOAD": "{path: x}"},
        "BEAKER_DEFAULT_CONTEXT_PAYLOAD is not JSON",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_value_stops_the_command_with_a_message(tmp_path: Path, case: str) -> None:
    args, env, message = BAD[case]
    command = COMMANDS["python -m beaker_kernel.service.notebook"]
    result = run_to_exit([*command, *args], tmp_path, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert message in output
    assert "Traceback" not in output


def test_importing_the_command_modules_does_nothing() -> None:
    code = (
        "import sys\n"
        "import beaker_kernel.service.notebook, beaker_kernel.service.server\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jupyter_server', 'traitlets', 'tornado', 'zmq')))\n"
    )
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
    assert result.stderr == ""


@pytest.mark.parametrize("name", COMMANDS)
def test_help(name: str) -> None:
    result = subprocess.run(
        [*COMMANDS[name], "--help-all"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "The Beaker service" in result.stdout
    assert "--ServerApp.port=<Int>" in result.stdout
    assert "--BeakerServiceApp.dev_ui=<Bool>" in result.stdout


def test_beaker_help_lists_notebook() -> None:
    result = subprocess.run(
        [PYTHON, "-m", "beaker_kernel.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "beaker notebook [server options]" in result.stdout
    assert "beaker_kernel.service.notebook" in result.stdout
