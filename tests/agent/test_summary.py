"""The notebook summarizer in process (the service's ``POST /summary``: tests/service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from beaker_kernel.agent.summary import (
    DEFAULT_PROMPTS,
    check_request,
    prepare_notebook,
    run,
    summarize,
)
from beaker_kernel.errors import MessageError, ModelNotConfiguredError

from .scripted_model import ScriptedModel


def test_prepare_notebook_trims_outputs_and_leaves_the_original_alone() -> None:
    notebook: dict[str, Any] = {
        "cells": [
            {
                "cell_type": "markdown",
                "source": "![plot](attachment:plot.png)",
                "attachments": {"plot.png": {"image/png": "iVBOR" * 100}},
            },
            {
                "cell_type": "code",
                "source": "x",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": ["ab\n", "cd" * 10]},
                    {
                        "output_type": "display_data",
                        "data": {
                            "application/json": {"k": "v" * 50},
                            "image/svg+xml": ["<svg>", "</sv>"],
                            "image/png": "QUJD",
                        },
                    },
                    {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["t"]},
                    "not an output",
                ],
            },
            {"cell_type": "code", "source": "y", "outputs": None},
        ]
    }
    original = json.loads(json.dumps(notebook))
    prepared = prepare_notebook(notebook, limit=10)
    assert notebook == original
    markdown, code, odd = prepared["cells"]
    assert markdown["attachments"] == "[attachments left out: plot.png]"
    stream, display, error, other = code["outputs"]
    assert stream["text"] == "ab\ncdcdcdc… [13 more characters left out]"
    assert display["data"] == {
        "application/json": '{"k": "vvv… [49 more characters left out]',
        "image/svg+xml": "<svg></sv>",
        "image/png": "[image/png, 4 characters, left out]",
    }
    assert error == {"output_type": "error", "ename": "E", "evalue": "v"}
    assert other == "not an output"
    assert odd == {"cell_type": "code", "source": "y", "outputs": None}


def test_check_request_defaults_and_refusals() -> None:
    notebook = {"cells": []}
    assert check_request({"notebook": notebook}) == (notebook, DEFAULT_PROMPTS)
    assert check_request({"notebook": notebook, "summary_prompts": None})[1] == DEFAULT_PROMPTS
    assert check_request({"notebook": notebook, "summary_prompts": {}})[1] == DEFAULT_PROMPTS
    assert check_request({"notebook": notebook, "summary_prompts": {"a": "b"}})[1] == {"a": "b"}
    with pytest.raises(MessageError, match=r"'notebook\.cells'"):
        check_request({"notebook": {"cells": "x"}})


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def write(steps: list[dict[str, Any]]) -> Path:
        path = tmp_path / "script.json"
        path.write_text(json.dumps(steps))
        log = tmp_path / "model.log"
        monkeypatch.setenv("BEAKER_TEST_MODEL_SCRIPT", str(path))
        monkeypatch.setenv("BEAKER_TEST_MODEL_LOG", str(log))
        return log

    return write


async def test_summarize_with_a_given_model(script: Any) -> None:
    log = script(
        [
            # a JSON array as plain text is the final answer (archytas would ask again)
            {"text": '["one", "two"]'},
            # a model that calls final_answer itself
            {"tool_calls": [{"name": "final_answer", "args": {"response": "Short"}}]},
        ]
    )
    result = await summarize(
        {"cells": [{"cell_type": "code", "source": "1 + 1", "outputs": []}]},
        {"headline": "a headline"},
        model=ScriptedModel({"model_name": "scripted"}),
    )
    assert result == {"history": '["one", "two"]', "headline": "Short"}
    assert len(log.read_text().splitlines()) == 2


def test_run_without_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER_IMPORT_PATH", "")
    answer = run(json.dumps({"notebook": {"cells": []}}).encode())
    assert answer == {
        "error": {"type": "ModelNotConfiguredError", "message": ModelNotConfiguredError.MESSAGE}
    }
    assert run(b"{")["error"]["type"] == "MessageError"
