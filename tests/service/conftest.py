"""A real ``beaker serve`` on a free loopback port, and HTTP / websocket clients for it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websocket

from ..websocket_client import KernelSocket

TOKEN = "test-token-" + uuid.uuid4().hex
SECRET_KEY = "sk-test-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Service:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    runtime_dir: Path
    log_path: Path

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            all_headers["Authorization"] = f"token {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.url + path, method=method, data=data, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def kernels(self) -> list[dict[str, Any]]:
        response = self.http("GET", "/api/kernels")
        assert response.status == 200, response.body
        result: list[dict[str, Any]] = response.json()
        return result

    def start_beaker(self) -> str:
        response = self.http("POST", "/api/kernels", {"name": "beaker_kernel"})
        assert response.status == 201, response.body
        kernel_id: str = response.json()["id"]
        return kernel_id

    def beaker_session(self) -> tuple[str, KernelSocket]:
        """Start a Beaker kernel, wait for its subkernel, and connect a websocket."""
        beaker_id = self.start_beaker()
        self.wait_for_kernels(lambda ks: len(ks) == 2)
        return beaker_id, self.connect(beaker_id)

    def connect(self, kernel_id: str, **options: Any) -> KernelSocket:
        ws_url = self.url.replace("http://", "ws://")
        sock = websocket.create_connection(
            f"{ws_url}/api/kernels/{kernel_id}/channels?token={self.token}", timeout=60, **options
        )
        return KernelSocket(sock)

    def wait_for_kernels(self, predicate: Any, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            kernels = self.kernels()
            if predicate(kernels):
                return kernels
            if time.monotonic() > deadline:
                raise AssertionError(f"kernels never matched; last: {kernels}")
            time.sleep(0.2)


def start_service(tmp_path: Path, extra_env: dict[str, str] | None = None) -> Service:
    port = free_port()
    runtime = tmp_path / "runtime"
    log_path = tmp_path / "service.log"
    env = {
        **os.environ,
        "BEAKER_PORT": str(port),
        "BEAKER_TOKEN": TOKEN,
        "OPENAI_API_KEY": SECRET_KEY,
        "JUPYTER_RUNTIME_DIR": str(runtime),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "beaker_kernel.cli", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    service = Service(f"http://127.0.0.1:{port}", TOKEN, process, runtime, log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            if service.http("GET", "/health", token=None).status == 200:
                return service
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"beaker serve did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


def stop_service(service: Service) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(30)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path)
    try:
        yield svc
    finally:
        stop_service(svc)
