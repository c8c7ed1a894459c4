"""Secure by default: token on every endpoint but /health, no cookies, no leaked secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psutil
import pytest
import websocket

from .conftest import SECRET_KEY, Service, start_service, stop_service

PROTECTED = [
    ("GET", "/api/kernels"),
    ("GET", "/api/kernelspecs"),
    ("GET", "/api/sessions"),
    ("GET", "/api/contents"),
    ("GET", "/api/status"),
    ("GET", "/beaker/subkernels/0000"),
    ("POST", "/beaker/subkernels"),
    ("DELETE", "/beaker/kernels/0000/subkernels"),
    ("POST", "/api/kernels"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_endpoint_needs_the_token(service: Service, method: str, path: str) -> None:
    body = {} if method == "POST" else None
    assert service.http(method, path, body, token=None).status == 403
    assert service.http(method, path, body, token="wrong").status == 403


def test_contexts_are_listed_without_token_as_upstream(service: Service) -> None:
    # beaker-ts fetches /contexts without the token, from the front end's origin.
    response = service.http(
        "GET", "/contexts", token=None, headers={"Origin": "https://app.example"}
    )
    assert response.status == 200
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
    assert "default" in response.json()
    assert "Set-Cookie" not in response.headers
    # and nothing else opens with it
    assert service.http("GET", "/api/kernels", token=None).status == 403


def test_contexts_can_require_the_token(tmp_path: Path) -> None:
    svc = start_service(tmp_path, {"BEAKER_CONTEXTS_NEED_TOKEN": "1"})
    try:
        refused = svc.http("GET", "/contexts", token=None, headers={"Origin": "https://a.example"})
        assert refused.status == 403
        assert refused.headers.get("Access-Control-Allow-Origin") == "*"
        assert "Authorization: token" in refused.json()["message"]
        assert "default" in svc.http("GET", "/contexts").json()
    finally:
        stop_service(svc)


def test_foreign_origin_without_token_is_refused(service: Service) -> None:
    headers = {"Origin": "https://evil.example"}
    response = service.http(
        "POST", "/api/kernels", {"name": "beaker_kernel"}, token=None, headers=headers
    )
    assert response.status == 403
    assert service.kernels() == []
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(
            service.url.replace("http", "ws") + "/api/kernels/x/channels",
            header=["Origin: https://evil.example"],
        )
    assert e.value.status_code in (403, 404)


def test_foreign_origin_with_token_is_allowed(service: Service) -> None:
    response = service.http("GET", "/api/kernelspecs", headers={"Origin": "https://app.example"})
    assert response.status == 200
    assert response.headers.get("Access-Control-Allow-Origin") == "*"


def test_no_cookie_is_set_or_accepted(service: Service) -> None:
    response = service.http("GET", "/api/kernels")
    assert response.status == 200
    assert "Set-Cookie" not in response.headers
    query = service.http("GET", f"/api/kernels?token={service.token}", token=None)
    assert query.status == 200
    assert "Set-Cookie" not in query.headers
    assert service.http("GET", "/login", token=None).status in (403, 404)


def test_no_endpoint_returns_the_token(service: Service) -> None:
    beaker_id = service.start_beaker()
    kernels = service.wait_for_kernels(lambda ks: len(ks) == 2)
    sub_id = next(k["id"] for k in kernels if k["id"] != beaker_id)
    for path in [
        "/health",
        "/api/kernels",
        "/api/kernelspecs",
        "/api/sessions",
        "/api/status",
        "/contexts",
        f"/beaker/subkernels/{sub_id}",
        "/api/me",
        "/api",
    ]:
        body = service.http("GET", path).body.decode()
        assert service.token not in body, path
        assert SECRET_KEY not in body, path


def test_subkernels_inherit_no_secret(service: Service) -> None:
    _, ws = service.beaker_session()
    try:
        _, stdout = ws.execute(
            "import os\n"
            "print(sorted(k for k in os.environ if 'TOKEN' in k or 'KEY' in k or 'BEAKER_S' in k))"
        )
    finally:
        ws.close()
    assert stdout == "[]\n"
    server = psutil.Process(service.process.pid)
    envs = {" ".join(p.cmdline()): p.environ() for p in server.children()}
    beaker_env = next(env for cmd, env in envs.items() if "beaker_kernel.kernel" in cmd)
    sub_env = next(env for cmd, env in envs.items() if "ipykernel" in cmd)
    # the LLM key goes to the Beaker kernel (its agent) and nowhere else
    assert beaker_env["OPENAI_API_KEY"] == SECRET_KEY
    assert "JUPYTER_TOKEN" not in beaker_env
    assert "BEAKER_TOKEN" not in beaker_env
    assert beaker_env["BEAKER_SERVICE_TOKEN"] == service.token
    assert not any("KEY" in k or "TOKEN" in k for k in sub_env)


def test_connection_files_are_private(service: Service) -> None:
    service.start_beaker()
    service.wait_for_kernels(lambda ks: len(ks) == 2)
    files = [f for f in service.runtime_dir.iterdir() if f.name.startswith("kernel-")]
    assert len(files) >= 2
    for path in files:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, f"{path.name} has mode {oct(mode)}"
