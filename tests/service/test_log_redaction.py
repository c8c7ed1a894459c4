"""The token never reaches the service's log: 4xx/5xx, websockets, exceptions."""

from __future__ import annotations

import io
import logging
import urllib.error
import urllib.request

import pytest
import websocket

from beaker_kernel.service.redaction import SecretRedactor

from .conftest import Service, stop_service


def test_the_token_never_appears_in_the_log(service: Service) -> None:
    token = service.token
    other = "someone-elses-token-0123456789"
    ws_base = service.url.replace("http://", "ws://")
    # HTTP errors with the token in the query and in the header
    assert service.http("GET", f"/nope?token={token}", token=None).status == 404
    assert service.http("GET", f"/api/nope?token={other}", token=None).status == 403
    assert service.http("GET", "/api/kernels/0/nope").status == 404
    # an uncaught exception: tornado logs the request, URL included, with a traceback
    assert service.http("POST", f"/api/kernels?token={token}", [], token=None).status == 500
    # a Referer with the token on a failing request
    assert (
        service.http("GET", "/nope", headers={"Referer": f"http://x/?token={token}"}).status == 404
    )
    # websockets: an unknown kernel, a wrong token, bad frames on a real kernel
    for url in (
        f"{ws_base}/api/kernels/00000000-0000-0000-0000-000000000000/channels?token={token}",
        f"{ws_base}/api/kernels/x/channels?token={other}",
    ):
        with pytest.raises(websocket.WebSocketBadStatusException):
            websocket.create_connection(url, timeout=30)
    beaker_id = service.start_beaker()
    service.wait_for_kernels(lambda ks: len(ks) == 2)
    ws = service.connect(beaker_id)
    try:
        for frame in ("not json", "[1]", "{}", "[" * 5000 + "]" * 5000, '{"header": {}}'):
            ws.send_raw(frame)
            ws.wait_for(lambda m: m["content"].get("ename") == "InvalidFrame", timeout=30)
        reply, _ = ws.execute("raise ValueError('a user error')")
        assert reply["content"]["status"] == "error"
    finally:
        ws.close()
    # a request with the token in the header of a raw HTTP call that fails
    request = urllib.request.Request(
        f"{service.url}/api/sessions/nope", headers={"Authorization": f"token {token}"}
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=30)
    stop_service(service)
    log = service.log_path.read_text()
    assert token not in log
    assert other not in log
    # the records are there, redacted
    assert "token=[secret]" in log
    assert "Uncaught exception POST /api/kernels?token=[secret]" in log


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("x", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_redactor_rewrites_message_arguments_and_traceback() -> None:
    secret = "s3cr3t-t0ken-value"
    redactor = SecretRedactor([secret])
    try:
        raise RuntimeError(f"failed for /api?token={secret}")
    except RuntimeError as e:
        rec = record("GET %s (%r)", f"/x?a=1&token={secret}", {"k": secret}, exc=e)
    assert redactor.filter(rec)
    text = logging.Formatter().format(rec)
    assert secret not in text
    assert "/x?a=1&token=[secret]" in text
    assert "RuntimeError: failed for /api?token=[secret]" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /a?token=abc123&x=1", "GET /a?token=[secret]&x=1"),
        ("next=%2Fa%3Ftoken%3Dabc123", "next=%2Fa%3Ftoken%3D[secret]"),
        ("{'Authorization': 'token abc123'}", "{'Authorization': 'token [secret]'}"),
        ("Authorization: Bearer abc123", "Authorization: Bearer [secret]"),
        ("uri='/k/channels?token=abc123'", "uri='/k/channels?token=[secret]'"),
        ("header 'Authorization: token <token>'", "header 'Authorization: token <token>'"),
        ("or '?token=<token>' on websocket URLs", "or '?token=<token>' on websocket URLs"),
    ],
)
def test_redactor_patterns(text: str, expected: str) -> None:
    assert SecretRedactor().redact(text) == expected


def test_redactor_literal_values() -> None:
    redactor = SecretRedactor(["p@ss word/1234", "short"])
    assert redactor.redact("x p@ss word/1234 y") == "x [secret] y"
    assert redactor.redact("q=p%40ss%20word%2F1234") == "q=[secret]"
    # values too short to be secrets are left alone
    assert redactor.redact("short") == "short"


def test_redactor_keeps_a_record_whose_arguments_do_not_fit() -> None:
    redactor = SecretRedactor(["s3cr3t-t0ken-value"])
    rec = record("%d items", "s3cr3t-t0ken-value")
    assert redactor.filter(rec)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.handle(rec)
    assert "s3cr3t-t0ken-value" not in stream.getvalue()
    assert "[secret]" in stream.getvalue()
    assert "Logging error" not in stream.getvalue()
