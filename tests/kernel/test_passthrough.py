"""A local subkernel's iopub relayed in C while Beaker need not see it (kernel/passthrough.py).

The kernel logs each hand-over at debug level; the tests read that log to know which way
a cell's output went, and check what the front end received either way.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
import zmq
from jupyter_client.session import Session

from beaker_kernel.kernel.launchers import LocalLauncher

from ..client import BeakerClient, running_beaker
from ..conftest import scripted_model_env

HANDOVER = re.compile(r"iopub relayed in C \(hand-over (\d+)\)")
BACK = "iopub relayed in Python"
NO_CONTEXT = {"BEAKER_DEFAULT_CONTEXT": "none", "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3"}


class Logged:
    def __init__(self, km: Any, client: BeakerClient, log: Path) -> None:
        self.km = km
        self.client = client
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def handovers(self) -> int:
        found = HANDOVER.findall(self.text())
        return int(found[-1]) if found else 0

    def relayed_in_c(self) -> bool:
        """Whether the log's last switch is a hand-over to C."""
        text = self.text()
        last = list(HANDOVER.finditer(text))
        return bool(last) and last[-1].start() > text.rfind(BACK)

    def wait_for_handover(self, count: int, timeout: float = 15) -> None:
        self._wait(lambda: self.handovers() >= count, f"no hand-over {count}", timeout)

    def wait_for_c(self, timeout: float = 15) -> None:
        self._wait(self.relayed_in_c, "iopub not relayed in C again", timeout)

    def _wait(self, done: Callable[[], bool], failure: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"{failure} in the kernel's log:\n{self.text()}")
            time.sleep(0.05)


@pytest.fixture
def logged(tmp_path: Path, context_path: Path) -> Iterator[Logged]:
    path = tmp_path / "kernel.log"
    with path.open("wb") as log, running_beaker(NO_CONTEXT, log=log) as (km, client):
        yield Logged(km, client, path)


def drain(client: BeakerClient, seconds: float) -> list[dict[str, Any]]:
    """Every iopub message arriving within ``seconds``."""
    deadline = time.monotonic() + seconds
    messages = []
    while True:
        try:
            messages.append(client.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic())))
        except Empty:
            return messages


def test_a_cells_output_relayed_in_c_arrives_whole_and_in_order(logged: Logged) -> None:
    client = logged.client
    client.run("pass")
    logged.wait_for_handover(1)
    code = "for i in range(300): print(i)\ndisplay({'text/plain': 'shown'}, raw=True)\n1/0"
    exchange = client.run(code)
    assert exchange.content["status"] == "error"
    assert exchange.content["ename"] == "ZeroDivisionError"
    assert exchange.stdout() == "".join(f"{i}\n" for i in range(300))
    assert exchange.one("display_data")["data"] == {"text/plain": "shown"}
    assert exchange.one("error")["ename"] == "ZeroDivisionError"
    types = exchange.types()
    assert types[:2] == ["status", "execute_input"]
    assert types[-1] == "status"
    assert exchange.of_type("status") == [{"execution_state": "busy"}, {"execution_state": "idle"}]
    # it all went through the proxy: nothing sent Beaker back to Python meanwhile
    assert BACK not in logged.text()
    assert logged.handovers() == 1


def test_an_internal_execution_stays_hidden_and_the_proxy_comes_back(logged: Logged) -> None:
    client = logged.client
    assert client.setup_context("pyonly", "python3").content["status"] == "ok"
    client.run("pass")
    before = logged.handovers()
    assert before >= 1
    logged.wait_for_handover(before)
    client.drain_iopub()
    reply = client.request("double_request", {"number": 21})
    assert reply.content["return"] == {"result": 42}
    # the procedure printed its result in the subkernel: none of that reaches the front end
    seen = reply.iopub + drain(client, 1.0)
    assert [m for m in seen if m["msg_type"] in ("stream", "execute_input", "execute_result")] == []
    assert logged.text().count(BACK) >= 1
    # the handler done, C relays again before the next cell
    logged.wait_for_c()
    after = client.run("print('after')")
    assert after.stdout() == "after\n"
    assert logged.handovers() >= before + 1


def test_after_a_contexts_own_work_the_proxy_comes_back_before_the_next_cell(
    tmp_path: Path, context_path: Path
) -> None:
    # The default context publishes the preview and the kernel state after every cell,
    # from executions of its own: Python relays iopub meanwhile. Once that is done, C
    # relays again at once, not from the busy of the user's next cell.
    path = tmp_path / "kernel.log"
    env = {"BEAKER_DEFAULT_CONTEXT": "default", "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3"}
    with path.open("wb") as log, running_beaker(env, log=log) as (km, client):
        logged = Logged(km, client, path)
        for n in range(3):
            assert client.run(f"x{n} = {n}").content["status"] == "ok"
            state = client.wait_for_iopub("kernel_state_info")
            assert f"x{n}" in json.dumps(state["content"])
            # the context's executions took iopub back to Python ...
            assert logged.text().count(BACK) >= n + 1
            # ... and with nothing else sent, C relays it again
            logged.wait_for_c()
        handovers = logged.handovers()
        cell = client.run("print('through C')")
        assert cell.stdout() == "through C\n"
        assert cell.of_type("status") == [{"execution_state": "busy"}, {"execution_state": "idle"}]
        # the cell went through C from its first message: it started no hand-over
        assert logged.handovers() == handovers


def test_after_an_agent_run_the_proxy_comes_back_before_the_next_cell(tmp_path: Path) -> None:
    # An llm_request is finished by a task of its own (Router.detach), after its handler
    # returned: C relays again when that task ends.
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {
                    "text": "Run it.",
                    "tool_calls": [{"name": "run_code", "args": {"code": "y = 5"}}],
                },
                {"text": "Done: {last_tool_output}"},
            ]
        )
    )
    path = tmp_path / "kernel.log"
    env = {
        **scripted_model_env(script),
        "BEAKER_DEFAULT_CONTEXT": "default",
        "BEAKER_DEFAULT_CONTEXT_LANGUAGE": "python3",
    }
    with path.open("wb") as log, running_beaker(env, log=log) as (km, client):
        logged = Logged(km, client, path)
        msg = client.session.msg("llm_request", {"request": "Set y."})
        client.shell_channel.send(msg)
        exchange = client.collect(msg["header"]["msg_id"], timeout=90)
        assert exchange.reply["msg_type"] == "llm_reply"
        assert exchange.one("llm_response")["text"].startswith("Done:")
        assert logged.text().count(BACK) >= 1
        logged.wait_for_c()
        handovers = logged.handovers()
        cell = client.run("print(y)")
        assert cell.stdout() == "5\n"
        assert logged.handovers() == handovers


def test_a_subscriber_joining_meanwhile_is_greeted_and_gets_output(logged: Logged) -> None:
    client = logged.client
    client.run("pass")
    logged.wait_for_handover(1)
    info = logged.km.get_connection_info()
    session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(f"tcp://{info['ip']}:{info['iopub_port']}")
    try:

        def receive(timeout: float) -> dict[str, Any]:
            assert sub.poll(int(timeout * 1000)), "nothing arrived on the new subscription"
            _, frames = session.feed_identities(sub.recv_multipart())
            return session.deserialize(frames)

        welcome = receive(10)
        assert welcome["msg_type"] == "iopub_welcome"
        assert welcome["content"] == {"subscription": ""}
        msg_id = client.execute("print('to both')")
        texts = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = receive(deadline - time.monotonic())
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                texts.append(msg["content"]["text"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert "".join(texts) == "to both\n"
        assert client.collect(msg_id).stdout() == "to both\n"
    finally:
        sub.close()
        context.term()


def test_the_last_subscriber_leaving_meanwhile_does_not_cut_beaker_off(logged: Logged) -> None:
    # The front end's unsubscription goes through the proxy to the subkernel; Beaker's own
    # subscription must outlive it, or the next front end would see no output at all.
    logged.client.run("pass")
    logged.wait_for_handover(1)
    logged.client.stop_channels()
    time.sleep(0.5)
    # With nobody subscribed, a request Beaker answers itself takes iopub back to Python,
    # so the next front end's subscription is not passed on to the subkernel.
    info = logged.km.get_connection_info()
    session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
    context = zmq.Context()
    shell = context.socket(zmq.DEALER)
    shell.setsockopt(zmq.LINGER, 0)
    shell.connect(f"tcp://{info['ip']}:{info['shell_port']}")
    try:
        session.send(shell, "kernel_info_request", {})
        assert shell.poll(20_000), "no kernel_info_reply"
        _, frames = session.feed_identities(shell.recv_multipart())
        assert session.deserialize(frames)["msg_type"] == "kernel_info_reply"
    finally:
        shell.close()
        context.term()
    assert BACK in logged.text()
    client = logged.km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=30)
        client.drain_iopub()
        assert client.run("print('still relayed')").stdout() == "still relayed\n"
        reply = client.run("print('and again')")
        assert reply.stdout() == "and again\n"
    finally:
        client.stop_channels()


def test_turned_off_it_never_hands_over(tmp_path: Path) -> None:
    path = tmp_path / "kernel.log"
    env = {**NO_CONTEXT, "BEAKER_IOPUB_PASSTHROUGH": "0"}
    with path.open("wb") as log, running_beaker(env, log=log) as (_, client):
        for n in range(3):
            assert client.run(f"print({n})").stdout() == f"{n}\n"
    assert HANDOVER.search(path.read_text(errors="replace")) is None


def test_a_local_subkernel_signs_with_the_given_key_one_in_a_container_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_dir = tmp_path / "kernels" / "boxed_python"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python said to run in a container",
                "language": "python",
                "metadata": {"beaker": {"local_files": False}},
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    key = b"a-key-of-the-front-end"

    async def keys() -> dict[str, Any]:
        launcher = LocalLauncher(signer=(key, "hmac-sha256"))
        found = {}
        for name in ("python3", "boxed_python"):
            handle = await launcher.start(name)
            try:
                found[name] = handle.connection_info["key"]
                assert await handle.is_alive()
            finally:
                await handle.shutdown()
        return found

    found = asyncio.run(keys())
    assert found["python3"] == key
    assert found["boxed_python"] not in (key, b"")
