"""``beaker serve`` options: the command line and config files win over the environment."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ..service_client import free_port
from .conftest import Service, start_service, stop_service

FORMS = {
    "--port=N": ["--port={port}"],
    "--port N": ["--port", "{port}"],
    "--ServerApp.port=N": ["--ServerApp.port={port}"],
    "--ip --port --no-browser": ["--ip=127.0.0.1", "--port={port}", "--no-browser"],
    "--ServerApp.ip --ServerApp.port": ["--ServerApp.ip=127.0.0.1", "--ServerApp.port={port}"],
}


def listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@pytest.mark.parametrize("form", FORMS)
def test_command_line_port_wins_over_the_environment(tmp_path: Path, form: str) -> None:
    port, env_port = free_port(), free_port()
    args = [arg.format(port=port) for arg in FORMS[form]]
    service = start_service(tmp_path, {"BEAKER_PORT": str(env_port)}, args, port=port)
    try:
        assert service.http("GET", "/health", token=None).json()["status"] == "ok"
        assert service.http("GET", "/api/kernelspecs").status == 200
        assert not listening("127.0.0.1", env_port)
    finally:
        stop_service(service)
    log = service.log_path.read_text()
    # every flag is understood (a misspelt trait or an unknown flag is warned about)
    assert "not recognized" not in log
    assert "Unrecognized" not in log


def beaker_stdout(service: Service, code: str) -> str:
    """What ``code`` prints in a new Beaker session of ``service``."""
    _, ws = service.beaker_session()
    try:
        _, stdout = ws.execute(code)
    finally:
        ws.close()
    return stdout


def test_command_line_ip_wins_and_beaker_kernels_follow_it(tmp_path: Path) -> None:
    port = free_port()
    service = start_service(
        tmp_path,
        {"BEAKER_IP": "127.0.0.1"},
        ["--ip=127.0.0.2", f"--port={port}"],
        port=port,
        host="127.0.0.2",
    )
    try:
        assert not listening("127.0.0.1", port)
        # the Beaker kernel reaches its service at the address it listens on
        assert beaker_stdout(service, "print(6 * 7)") == "42\n"
    finally:
        stop_service(service)


def test_a_read_only_config_directory_with_an_ipython_directory(tmp_path: Path) -> None:
    """The service and its Beaker kernels start when the Jupyter config directory cannot
    be written to and an IPython directory exists (jupyter_core would migrate IPython 3's
    configuration and write a marker there).

    The marker is a dangling link into /proc: it cannot be opened for update and cannot
    be created, which stands in for a read-only mount even for root.
    """
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "migrated").symlink_to("/proc/1/no-such-directory/migrated")
    ipython_dir = tmp_path / "ipython"
    (ipython_dir / "profile_default").mkdir(parents=True)
    service = start_service(
        tmp_path, {"JUPYTER_CONFIG_DIR": str(config_dir), "IPYTHONDIR": str(ipython_dir)}
    )
    try:
        assert beaker_stdout(service, "print(6 * 7)") == "42\n"
    finally:
        stop_service(service)


def test_config_file_wins_over_the_environment(tmp_path: Path) -> None:
    port, env_port = free_port(), free_port()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"port": port, "allow_origin": "https://app.example"}})
    )
    service = start_service(
        tmp_path,
        {
            "BEAKER_PORT": str(env_port),
            "BEAKER_ALLOW_ORIGIN": "*",
            "JUPYTER_CONFIG_DIR": str(config_dir),
        },
        port=port,
    )
    try:
        response = service.http("GET", "/api/kernelspecs")
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert not listening("127.0.0.1", env_port)
    finally:
        stop_service(service)


def test_command_line_allow_origin_and_transport_win(tmp_path: Path) -> None:
    service = start_service(
        tmp_path,
        {"BEAKER_ALLOW_ORIGIN": "*", "BEAKER_TRANSPORT": "ipc"},
        ["--ServerApp.allow_origin=https://app.example", "--KernelManager.transport=tcp"],
    )
    try:
        response = service.http("GET", "/api/kernels")
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        created = service.http("POST", "/api/kernels", {"name": "python3"})
        assert created.status == 201, created.body
        kernel_id = created.json()["id"]
        info = json.loads((service.runtime_dir / f"kernel-{kernel_id}.json").read_text())
        assert info["transport"] == "tcp"
        assert service.http("DELETE", f"/api/kernels/{kernel_id}").status == 204
    finally:
        stop_service(service)


def test_environment_defaults_still_apply(tmp_path: Path) -> None:
    """Without options, BEAKER_PORT (the fixture's way) and BEAKER_TRANSPORT are used."""
    # short enough for Unix socket paths
    runtime = Path(tempfile.mkdtemp(prefix="bk-"))
    service = start_service(
        tmp_path, {"BEAKER_TRANSPORT": "ipc", "JUPYTER_RUNTIME_DIR": str(runtime)}
    )
    try:
        created = service.http("POST", "/api/kernels", {"name": "python3"})
        assert created.status == 201, created.body
        kernel_id = created.json()["id"]
        info = json.loads((runtime / f"kernel-{kernel_id}.json").read_text())
        assert info["transport"] == "ipc"
        assert service.http("DELETE", f"/api/kernels/{kernel_id}").status == 204
    finally:
        stop_service(service)
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_bad_environment_value_stops_with_a_message(tmp_path: Path) -> None:
    env = {**os.environ, "BEAKER_PORT": "eighty", "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "beaker_kernel.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "BEAKER_PORT must be a port number, not 'eighty'" in result.stderr
