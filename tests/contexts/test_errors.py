"""Context errors: each is a status: error reply, and the previous context stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..client import BeakerClient, running_beaker


@pytest.fixture
def kernel_with_test_contexts(context_path: Path):
    with running_beaker() as (km, client):
        setup = client.setup_context("pyonly", "python3")
        assert setup.content["status"] == "ok", setup.content
        yield km, client


def still_on_pyonly(client: BeakerClient) -> None:
    info = client.request("context_info_request").one("context_info_response")
    assert info["slug"] == "pyonly"
    assert info["language"]["slug"] == "python3"
    assert client.request("double_request", {"number": 21}).content["return"] == {"result": 42}


def test_test_context_works(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    still_on_pyonly(client)
    echo = client.request("echo_request", {"hello": "world"})
    assert echo.reply["msg_type"] == "echo_reply"
    assert echo.content == {
        "status": "ok",
        "execution_count": None,
        "return": {"echo": {"hello": "world"}},
    }


def test_unknown_context(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    reply = client.setup_context("nonexistent", "python3").content
    assert reply["status"] == "error"
    assert reply["ename"] == "UnknownContextError"
    assert "Unknown context 'nonexistent'" in reply["evalue"]
    assert "default" in reply["evalue"]
    assert "dataset" in reply["evalue"]
    still_on_pyonly(client)


def test_unsupported_language(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    reply = client.setup_context("pyonly", "rlang").content
    assert reply["status"] == "error"
    assert reply["ename"] == "UnsupportedLanguageError"
    assert "does not support R (rlang)" in reply["evalue"]
    assert "python3" in reply["evalue"]
    still_on_pyonly(client)


def test_missing_context_info_field(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    reply = client.setup_context("dataset", "python3", {"variable": "df"}).content
    assert reply["status"] == "error"
    assert reply["ename"] == "ContextInfoError"
    assert "path is missing" in reply["evalue"]
    still_on_pyonly(client)


def test_failing_setup_procedure_keeps_the_previous_context(
    kernel_with_test_contexts, tmp_path: Path
) -> None:
    _, client = kernel_with_test_contexts
    missing = tmp_path / "missing.csv"
    reply = client.setup_context("dataset", "python3", {"path": str(missing)}).content
    assert reply["status"] == "error"
    assert reply["ename"] == "ProcedureFailedError"
    assert "Procedure 'setup' failed" in reply["evalue"]
    assert "FileNotFoundError" in reply["evalue"]
    still_on_pyonly(client)


def test_failing_setup_in_another_language_keeps_the_subkernel(
    kernel_with_test_contexts, tmp_path: Path
) -> None:
    _, client = kernel_with_test_contexts
    client.run("kept = 'still here'")
    reply = client.setup_context("dataset", "rlang", {"path": str(tmp_path / "no.csv")}).content
    assert reply["status"] == "error"
    assert "Procedure 'setup' failed" in reply["evalue"]
    still_on_pyonly(client)
    assert client.run("print(kept)").stdout() == "still here\n"


def test_procedure_raising_in_the_subkernel(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    reply = client.request("explode_request").content
    assert reply["status"] == "error"
    assert reply["ename"] == "ProcedureFailedError"
    assert "Procedure 'explode' failed" in reply["evalue"]
    assert "ZeroDivisionError" in reply["evalue"]
    assert "always fails" in reply["evalue"]
    still_on_pyonly(client)


def test_template_with_a_missing_variable(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    reply = client.request("undefined_request").content
    assert reply["status"] == "error"
    assert reply["ename"] == "ProcedureRenderError"
    assert "nobody_passes_this" in reply["evalue"]
    still_on_pyonly(client)


def test_action_with_bad_arguments(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    reply = client.request("double_request", {"numbr": 2}).content
    assert reply["status"] == "error"
    assert reply["ename"] == "TypeError"
    assert "needs an integer 'number'" in reply["evalue"]
    still_on_pyonly(client)


def test_actions_of_a_replaced_context_are_gone(kernel_with_test_contexts) -> None:
    _, client = kernel_with_test_contexts
    assert client.setup_context("default", "python3").content["status"] == "ok"
    reply = client.request("double_request", {"number": 1}).content
    assert reply["status"] == "error"
    assert "Unknown message type 'double_request'" in reply["evalue"]
