"""The API-only service answers every error as JSON, with CORS, without token or cookie."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from ..service_client import Response
from .conftest import Service

ORIGIN = {"Origin": "https://app.example"}


def assert_json_error(response: Response, status: int, token: str) -> dict[str, str]:
    assert response.status == status, (response.status, response.body[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert response.headers.get("Access-Control-Allow-Origin") == "*", response.headers
    assert "Set-Cookie" not in response.headers, response.headers["Set-Cookie"]
    assert token not in response.body.decode(errors="replace")
    body: dict[str, str] = response.json()
    assert set(body) == {"message", "reason"}, body
    assert body["message"]
    return body


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("GET", "/api/nope", 404),
        ("GET", "/login", 404),
        ("GET", "/logout", 404),
        ("GET", "/static/nope.js", 404),
        ("GET", "/api/kernels/00000000-0000-0000-0000-000000000000", 404),
        ("PATCH", "/health", 405),
        ("PUT", "/api/kernels", 405),
        ("DELETE", "/contexts", 405),
    ],
)
def test_errors_are_json_with_cors(service: Service, method: str, path: str, status: int) -> None:
    body = None if method in ("GET", "DELETE") else {}
    assert_json_error(service.http(method, path, body, headers=ORIGIN), status, service.token)
    anonymous = service.http(method, path, body, headers=ORIGIN, token=None)
    # without a token, most paths are refused before they are looked up
    assert anonymous.status in (status, 403)
    assert_json_error(anonymous, anonymous.status, service.token)
    with_query = service.http(
        method, f"{path}?token={service.token}", body, headers=ORIGIN, token=None
    )
    assert_json_error(with_query, status, service.token)


def test_unknown_path_names_it(service: Service) -> None:
    body = assert_json_error(service.http("GET", "/api/nope", headers=ORIGIN), 404, service.token)
    assert "/api/nope" in body["message"]


def test_forbidden_is_json_with_cors(service: Service) -> None:
    for path in ("/api/kernels", "/api/sessions", "/nope"):
        response = service.http("GET", path, headers=ORIGIN, token="wrong")
        body = assert_json_error(response, 403, service.token)
        assert "Authorization: token" in body["message"]


def test_internal_error_is_json_with_cors(service: Service) -> None:
    # a JSON body that is not an object breaks Jupyter Server's handler
    response = service.http("POST", "/api/kernels", [], headers=ORIGIN)
    assert_json_error(response, 500, service.token)


def test_unknown_kernelspec_is_a_client_error(service: Service) -> None:
    response = service.http("POST", "/api/kernels", {"name": "no-such-kernel"}, headers=ORIGIN)
    body = assert_json_error(response, 400, service.token)
    assert "no-such-kernel" in body["message"]
    assert "python3" in body["message"]
    assert "beaker_kernel" in body["message"]
    assert service.kernels() == []


def test_websocket_url_without_upgrade_is_json(service: Service) -> None:
    kernel_id = service.http("POST", "/api/kernels", {"name": "python3"}).json()["id"]
    try:
        response = service.http("GET", f"/api/kernels/{kernel_id}/channels", headers=ORIGIN)
        body = assert_json_error(response, 400, service.token)
        assert "WebSocket" in body["message"]
    finally:
        service.http("DELETE", f"/api/kernels/{kernel_id}")


def raw_get(service: Service, path: str) -> http.client.HTTPResponse:
    """A GET whose redirect is not followed."""
    parts = urlsplit(service.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/?token={token}", "/health"),
        ("/?token={token}&x=1", "/health?x=1"),
        ("/api/kernels/?token={token}", "/api/kernels"),
    ],
)
def test_redirects_drop_the_token(service: Service, path: str, location: str) -> None:
    response = raw_get(service, path.format(token=service.token))
    assert response.status in (301, 302), response.status
    assert response.headers["Location"] == location
    assert response.getheader("Set-Cookie") is None


def test_no_xsrf_cookie_anywhere(service: Service) -> None:
    kernel_id = service.http("POST", "/api/kernels", {"name": "python3"}).json()["id"]
    try:
        paths = [
            "/",
            "/health",
            "/contexts",
            "/api",
            "/api/kernels",
            "/api/kernelspecs",
            "/api/me",
            "/api/status",
            "/login",
            "/logout",
            "/nope",
            "/static/nope.js",
            "/kernelspecs/python3/logo-64x64.png",
            f"/api/kernels/{kernel_id}",
            f"/api/kernels/{kernel_id}/channels",
        ]
        for path in paths:
            for token in ("default", None):
                response = service.http("GET", path, token=token)
                assert "Set-Cookie" not in response.headers, (path, response.headers)
                assert service.token not in response.body.decode(errors="replace"), path
    finally:
        service.http("DELETE", f"/api/kernels/{kernel_id}")
