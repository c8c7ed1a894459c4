"""Contexts that change messages on their way, in Python and R (the interceptor test
context, tests/fixtures/contexts/interceptor): one rewrites every execute_input the
subkernel publishes, and it answers cells starting with ``@@`` itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..client import BeakerClient, Exchange, running_beaker

ASSIGN = {"python3": "x = 1", "rlang": "x <- 1"}
PRINT = {"python3": "print(x + 1)", "rlang": "cat(x + 1)"}


@pytest.fixture(params=sorted(ASSIGN))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(context_path: Path, language: str) -> Iterator[BeakerClient]:
    with running_beaker() as (_, client):
        setup = client.setup_context("interceptor", language)
        assert setup.content["status"] == "ok", setup.content
        client.drain_iopub()
        yield client


def own(exchange: Exchange) -> list[str]:
    """The iopub message types of a cell, without Beaker's beaker__ copies."""
    return [t for t in exchange.types() if not t.startswith("beaker__")]


def test_execute_input_is_rewritten_on_its_way_out(client: BeakerClient, language: str) -> None:
    cell = client.run(ASSIGN[language])
    assert cell.content["status"] == "ok", cell.content
    assert cell.one("execute_input")["code"] == f"# seen by interceptor\n{ASSIGN[language]}"
    assert cell.one("execute_input")["execution_count"] == cell.content["execution_count"]


def test_a_request_rewritten_on_its_way_in_runs(client: BeakerClient, language: str) -> None:
    # The subkernel signs with the front end's key, so what it gets unchanged passes its
    # check as it came; a rewritten request must be signed again, or it drops it.
    assert client.run(ASSIGN[language]).content["status"] == "ok"
    cell = client.run(f"@@run {PRINT[language]}", timeout=30)
    assert cell.content["status"] == "ok", cell.content
    assert cell.stdout().strip() == "2"
    assert cell.one("execute_input")["code"] == f"# seen by interceptor\n{PRINT[language]}"


def test_a_cell_answered_by_the_context(client: BeakerClient, language: str) -> None:
    before = client.run(ASSIGN[language])
    count = before.content["execution_count"]
    assert isinstance(count, int)

    answered = client.run("@@shout hello there")

    assert answered.reply["msg_type"] == "execute_reply"
    assert answered.content == {
        "status": "ok",
        "execution_count": count,
        "user_expressions": {},
        "payload": [],
        "return": {"shouted": "HELLO THERE"},
    }
    assert own(answered) == ["status", "stream", "status"]
    assert [
        m["content"]["execution_state"] for m in answered.iopub if m["msg_type"] == "status"
    ] == [
        "busy",
        "idle",
    ]
    assert answered.stdout() == "HELLO THERE\n"

    failed = client.run("@@whisper hello")
    assert failed.reply["msg_type"] == "execute_reply"
    assert failed.content["status"] == "error"
    assert failed.content["execution_count"] == count
    assert failed.content["ename"] == "ValueError"
    assert "Unknown command 'whisper'" in failed.content["evalue"]
    assert own(failed) == ["status", "error", "status"]
    assert failed.one("error")["evalue"] == failed.content["evalue"]

    # the subkernel ran neither cell: its count goes on from the cell before them
    after = client.run(PRINT[language])
    assert after.content["status"] == "ok", after.content
    assert after.content["execution_count"] == count + 1
    assert after.stdout().strip() == "2"
