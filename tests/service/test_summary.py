"""``POST /summary`` of a real ``beaker serve``, with the scripted model (tests/agent)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from beaker_kernel.errors import ModelNotConfiguredError
from beaker_kernel.service.summary import status_for, summarizer_environment

from ..conftest import scripted_model_env
from ..service_client import Response
from .conftest import SECRET_KEY, Service, start_service, stop_service
from .test_errors import assert_json_error

#: BEAKER_SUMMARY_MAX_BODY of the services below.
MAX_BODY = 200_000

HISTORY = '["Asked for a greeting", "Printed many x", "Raised a ValueError"]'

NOTEBOOK: dict[str, Any] = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "beaker_kernel", "display_name": "Beaker"}},
    "cells": [
        {
            "cell_type": "markdown",
            "id": "q1",
            "metadata": {"beaker_cell_type": "query"},
            "source": "Say hello",
        },
        {
            "cell_type": "code",
            "id": "c1",
            "execution_count": 1,
            "metadata": {"parent_id": "q1"},
            "source": "print('x' * 5000)\nprint('y' * 3000)",
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["x" * 5000 + "\n", "end\n"]},
                {
                    "output_type": "execute_result",
                    "execution_count": 1,
                    "metadata": {},
                    "data": {"text/plain": "y" * 3000, "image/png": "iVBORw0KGgo" * 500},
                },
            ],
        },
        {
            "cell_type": "code",
            "id": "c2",
            "execution_count": 2,
            "metadata": {},
            "source": "raise ValueError('boom')",
            "outputs": [
                {
                    "output_type": "error",
                    "ename": "ValueError",
                    "evalue": "boom",
                    "traceback": ["TRACEBACK-LINE-ONE", "TRACEBACK-LINE-TWO"],
                }
            ],
        },
    ],
}


def answer(text: str) -> dict[str, Any]:
    """A step of the scripted model: ``text`` as its final answer."""
    return {"text": text}


class SummaryService:
    """A service whose summarizer's model follows a script (rewritten per test)."""

    def __init__(self, service: Service, folder: Path) -> None:
        self.service = service
        self.script_path = folder / "script.json"
        self.log_path = folder / "model.log"

    def script(self, steps: list[dict[str, Any]]) -> None:
        self.script_path.write_text(json.dumps(steps))
        self.log_path.write_text("")

    def model_calls(self) -> list[dict[str, Any]]:
        """What the model received, one entry per call."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def summary(self, body: Any, token: str | None = "default") -> Response:
        return self.service.http("POST", "/summary", body, token=token)


def scripted_env(folder: Path, **extra: str) -> dict[str, str]:
    # the summarizer imports the scripted model from the checkout through PYTHONPATH (-P
    # leaves PYTHONPATH alone, as a user's own provider module needs)
    return {
        **scripted_model_env(folder / "script.json", folder / "model.log"),
        "LLM_SERVICE_TOKEN": SECRET_KEY,
        "BEAKER_SUMMARY_MAX_BODY": str(MAX_BODY),
        **extra,
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the tests of this module that use the scripted model."""
    folder = tmp_path_factory.mktemp("summary")
    svc = start_service(folder, scripted_env(folder))
    try:
        yield svc
    finally:
        stop_service(svc)


@pytest.fixture
def summaries(service: Service) -> SummaryService:
    return SummaryService(service, service.log_path.parent)


def post_raw(service: Service, data: bytes, token: str | None) -> Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"token {token}"
    request = urllib.request.Request(
        service.url + "/summary", method="POST", data=data, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return Response(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read())


def notebook_as_seen(call: dict[str, Any]) -> str:
    (text,) = [m["content"] for m in call["messages"] if "nbformat JSON" in m["content"]]
    return str(text)


def test_history_title_and_summary(summaries: SummaryService) -> None:
    summaries.script(
        [answer(HISTORY), answer("Greetings and a failed check"), answer("A greeting was printed.")]
    )
    response = summaries.summary({"notebook": NOTEBOOK})
    assert response.status == 200, response.body
    assert response.json() == {
        "history": HISTORY,
        "title": "Greetings and a failed check",
        "summary": "A greeting was printed.",
    }
    calls = summaries.model_calls()
    assert len(calls) == 3
    seen = notebook_as_seen(calls[0])
    assert "Say hello" in seen
    assert "print('x' * 5000)" in seen
    # outputs cut to 1000 characters, with a note of how much was left out
    assert "x" * 1000 in seen
    assert "x" * 1001 not in seen
    assert "y" * 1000 in seen
    assert "y" * 1001 not in seen
    assert "[2000 more characters left out]" in seen
    assert "iVBORw0KGgo" not in seen
    assert "[image/png, 5500 characters, left out]" in seen
    # tracebacks dropped, the error itself kept
    assert "TRACEBACK-LINE" not in seen
    assert "ValueError" in seen
    assert "boom" in seen
    # one question for the history, then one per prompt, in one conversation
    questions = [m["content"] for m in calls[2]["messages"] if m["type"] == "human"]
    assert len(questions) == 3
    assert "JSON array" in questions[0]
    assert "title of at most 10 words" in questions[1]
    assert "summary of about 400 characters" in questions[2]


def test_custom_prompts_give_their_keys(summaries: SummaryService) -> None:
    summaries.script([answer(HISTORY), answer("An abstract."), answer("greeting, error")])
    prompts = {"abstract": "a one-sentence abstract", "keywords": "a list of keywords"}
    response = summaries.summary({"notebook": NOTEBOOK, "summary_prompts": prompts})
    assert response.status == 200, response.body
    assert response.json() == {
        "history": HISTORY,
        "abstract": "An abstract.",
        "keywords": "greeting, error",
    }
    questions = [
        m["content"] for m in summaries.model_calls()[-1]["messages"] if m["type"] == "human"
    ]
    assert "a one-sentence abstract" in questions[1]
    assert "a list of keywords" in questions[2]


CELL = {"cell_type": "code", "source": "1", "outputs": []}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "'notebook'"),
        (json.dumps({"notebook": []}).encode(), "'notebook'"),
        (json.dumps({"notebook": {}}).encode(), "'notebook.cells'"),
        (json.dumps({"notebook": {"cells": {}}}).encode(), "'notebook.cells'"),
        (json.dumps({"notebook": {"cells": [CELL, 3]}}).encode(), "'notebook.cells[1]'"),
        (json.dumps({"notebook": {"cells": []}, "prompts": {}}).encode(), "'prompts'"),
        (
            json.dumps({"notebook": {"cells": []}, "summary_prompts": ["title"]}).encode(),
            "'summary_prompts'",
        ),
        (
            json.dumps({"notebook": {"cells": []}, "summary_prompts": {"title": 3}}).encode(),
            "'title'",
        ),
        (
            json.dumps({"notebook": {"cells": []}, "summary_prompts": {"title": " "}}).encode(),
            "'title'",
        ),
        (
            json.dumps({"notebook": {"cells": []}, "summary_prompts": {"history": "x"}}).encode(),
            "'history'",
        ),
    ],
)
def test_bad_bodies_are_400(summaries: SummaryService, body: bytes, says: str) -> None:
    summaries.script([answer("never asked")])
    response = post_raw(summaries.service, body, summaries.service.token)
    error = assert_json_error(response, 400, summaries.service.token)
    assert says in error["message"], error
    assert summaries.model_calls() == []


def test_too_large_body_is_413(summaries: SummaryService) -> None:
    big = {"notebook": {"cells": [{**CELL, "source": "#" * MAX_BODY}]}}
    error = assert_json_error(summaries.summary(big), 413, summaries.service.token)
    assert "BEAKER_SUMMARY_MAX_BODY" in error["message"]
    # without a Content-Length (chunked), counted as it arrives
    data = json.dumps(big).encode()
    connection = http.client.HTTPConnection(urlsplit(summaries.service.url).netloc, timeout=60)
    try:
        connection.request(
            "POST",
            "/summary",
            body=iter([data[i : i + 65536] for i in range(0, len(data), 65536)]),
            headers={"Authorization": f"token {summaries.service.token}"},
            encode_chunked=True,
        )
        reply = connection.getresponse()
        response = Response(reply.status, dict(reply.headers), reply.read())
    finally:
        connection.close()
    error = assert_json_error(response, 413, summaries.service.token)
    assert "BEAKER_SUMMARY_MAX_BODY" in error["message"]
    assert summaries.service.http("GET", "/health", token=None).status == 200


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_without_the_token_is_403(summaries: SummaryService, token: str | None) -> None:
    summaries.script([answer("never asked")])
    response = summaries.summary({"notebook": NOTEBOOK}, token=token)
    assert_json_error(response, 403, summaries.service.token)
    assert summaries.model_calls() == []


def test_model_error_is_502_and_the_service_goes_on(summaries: SummaryService) -> None:
    summaries.script([{"raise": "auth"}])
    response = summaries.summary({"notebook": NOTEBOOK})
    error = assert_json_error(response, 502, summaries.service.token)
    assert "refused the credentials" in error["message"], error
    assert SECRET_KEY not in response.body.decode()
    log = summaries.service.log_path.read_text()
    assert "refused the credentials" in log
    assert SECRET_KEY not in log

    summaries.script([{"raise": "error"}])
    error = assert_json_error(summaries.summary({"notebook": NOTEBOOK}), 502, "-")
    assert "The agent stopped with an error" in error["message"], error

    summaries.script([answer(HISTORY), answer("T"), answer("S")])
    response = summaries.summary({"notebook": NOTEBOOK})
    assert response.status == 200, response.body
    assert response.json() == {"history": HISTORY, "title": "T", "summary": "S"}


def test_without_a_model_is_503(tmp_path: Path) -> None:
    svc = start_service(tmp_path, {"LLM_PROVIDER_IMPORT_PATH": ""})
    try:
        response = svc.http("POST", "/summary", {"notebook": NOTEBOOK})
        error = assert_json_error(response, 503, svc.token)
        assert error["message"] == ModelNotConfiguredError.MESSAGE
        assert "LLM_PROVIDER_IMPORT_PATH" in error["message"]
        assert "docs/agent.md" in error["message"]
    finally:
        stop_service(svc)


def summarizer_processes(svc: Service) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(svc.process.pid).children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue  # it ended between the listing and this look
        if "beaker_kernel.agent.summary" in command:
            found.append(child)
    return found


def wait_until(predicate: Any, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


@pytest.mark.slow
def test_one_summary_too_many_is_429(tmp_path: Path) -> None:
    svc = start_service(
        tmp_path,
        scripted_env(tmp_path, BEAKER_SUMMARY_TIMEOUT="8", BEAKER_SUMMARY_CONCURRENCY="1"),
    )
    summaries = SummaryService(svc, tmp_path)
    try:
        summaries.script([{"sleep": 120, "text": "too late"}])
        first: list[Any] = []
        waiting = threading.Thread(
            target=lambda: first.append(summaries.summary({"notebook": NOTEBOOK}))
        )
        waiting.start()
        assert wait_until(lambda: len(summarizer_processes(svc)) == 1)
        error = assert_json_error(summaries.summary({"notebook": NOTEBOOK}), 429, svc.token)
        assert "BEAKER_SUMMARY_CONCURRENCY" in error["message"]
        waiting.join(60)
        assert first[0].status == 504
        # the slot is free again
        summaries.script([answer(HISTORY), answer("t"), answer("s")])
        response = summaries.summary({"notebook": NOTEBOOK})
        assert response.status == 200, response.body
        assert response.json()["title"] == "t"
    finally:
        stop_service(svc)


@pytest.mark.slow
def test_timeout_is_504_and_a_client_gone_stops_the_summary(tmp_path: Path) -> None:
    svc = start_service(tmp_path, scripted_env(tmp_path, BEAKER_SUMMARY_TIMEOUT="3"))
    summaries = SummaryService(svc, tmp_path)
    try:
        summaries.script([{"sleep": 120, "text": "too late"}])
        started = time.monotonic()
        error = assert_json_error(summaries.summary({"notebook": NOTEBOOK}), 504, svc.token)
        assert time.monotonic() - started < 30
        assert "BEAKER_SUMMARY_TIMEOUT" in error["message"]
        assert wait_until(lambda: summarizer_processes(svc) == [])

        # a client that goes away: its summarizer is stopped
        body = json.dumps({"notebook": NOTEBOOK}).encode()
        port = int(svc.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(
                b"POST /summary HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: token {svc.token}\r\n".encode()
                + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            assert wait_until(lambda: len(summarizer_processes(svc)) == 1)
        assert wait_until(lambda: summarizer_processes(svc) == [])
        assert svc.http("GET", "/health", token=None).status == 200
    finally:
        stop_service(svc)


def test_summarizer_environment_has_the_llm_settings_but_no_token() -> None:
    base = {
        "PATH": "/usr/bin",
        "PYTHONPATH": "/opt/providers",
        "BEAKER_TOKEN": "t1",
        "JUPYTER_TOKEN": "t2",
        "JUPYTER_TOKEN_FILE": "/run/token",
        "BEAKER_SERVICE_TOKEN": "t3",
    }
    kept = {"LLM_PROVIDER_IMPORT_PATH": "a:B", "LLM_SERVICE_TOKEN": "sk", "OPENAI_API_KEY": "k"}
    env = summarizer_environment({**kept, "JPY_API_TOKEN": "t4"}, base)
    assert env == {"PATH": "/usr/bin", "PYTHONPATH": "/opt/providers", **kept}


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        ("ModelNotConfiguredError", 503),
        ("AgentError", 503),
        ("ModelAuthError", 502),
        ("ModelUnreachableError", 502),
        ("ContextWindowError", 502),
        ("AgentFailedError", 502),
        ("MessageError", 400),
        ("KeyError", 500),
    ],
)
def test_status_of_each_summarizer_error(error_type: str, status: int) -> None:
    assert status_for(error_type) == status
