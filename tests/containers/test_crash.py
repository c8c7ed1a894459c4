"""A subkernel container killed with ``docker kill``, and interrupts through the container."""

from __future__ import annotations

import time

import pytest

from .conftest import Deployment, KernelSocket, container_of, docker
from .test_matrix import LANGUAGES, setup_context

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]

SLEEP = {"python3": "import time; time.sleep(60)", "rlang": "Sys.sleep(60)", "julia": "sleep(60)"}
PRINT_SUM = {
    "python3": "print(20 + 22)",
    "rlang": "cat(20 + 22, '\\n')",
    "julia": "println(20 + 22)",
}
DEFINED = {
    "python3": "print('answer' in globals())",
    "rlang": "cat(exists('answer'), '\\n')",
    "julia": "println(isdefined(Main, :answer))",
}


@pytest.fixture(params=sorted(LANGUAGES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def start_sleeping(ws: KernelSocket, language: str) -> str:
    """Send a one-minute cell and return its msg_id once the subkernel is busy with it."""
    msg_id = ws.send(
        "execute_request",
        {"code": SLEEP[language], "silent": False, "store_history": True, "allow_stdin": False},
    )
    ws.wait_for_iopub(
        lambda m: (
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "busy"
            and m["parent_header"].get("msg_id") == msg_id
        )
    )
    time.sleep(1)  # the cell runs in the subkernel now
    return msg_id


def test_killed_subkernel_container_is_reported_and_replaced(
    deployment: Deployment, beaker: tuple[str, KernelSocket], language: str
) -> None:
    beaker_id, ws = beaker
    setup_context(ws, "default", language)
    reply, _ = ws.execute(LANGUAGES[language]["assign"])
    assert reply["content"]["status"] == "ok"
    sub_id = deployment.subkernel_of(beaker_id)["id"]
    old_container = container_of(sub_id)["Id"]

    msg_id = start_sleeping(ws, language)
    docker("kill", old_container)

    # the running cell fails with an error saying what happened, at once rather than after 60 s
    reply = ws.wait_for_reply(msg_id, timeout=30)
    assert reply["content"]["status"] == "error"
    assert "died" in reply["content"]["evalue"]
    # the front end is told that a new subkernel replaced it
    notice = ws.wait_for_iopub(
        lambda m: m["msg_type"] == "stream" and "died and was restarted" in m["content"]["text"],
        timeout=120,
    )
    assert notice["content"]["name"] == "stderr"

    # the same subkernel (id) runs in a new container; the killed one is gone
    new_container = container_of(sub_id)
    assert new_container["Id"] != old_container
    assert new_container["State"]["Running"] is True
    assert docker("ps", "-aq", "--filter", f"id={old_container}") == ""
    assert [k["id"] for k in deployment.kernels() if k["id"] != beaker_id] == [sub_id]

    # it works, with a fresh state, and the context still answers
    reply, stdout = ws.execute(PRINT_SUM[language])
    assert reply["content"]["status"] == "ok", reply["content"]
    assert stdout.strip() == "42"
    reply, stdout = ws.execute(DEFINED[language])
    assert stdout.strip().lower() == "false"
    reply, _ = ws.request("get_subkernel_state_request")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "answer" not in reply["content"]["return"]["variables"]


def test_interrupt_reaches_the_kernel_in_its_container(
    deployment: Deployment, beaker: tuple[str, KernelSocket], language: str
) -> None:
    beaker_id, ws = beaker
    setup_context(ws, "default", language)
    container = container_of(deployment.subkernel_of(beaker_id)["id"])["Id"]

    started = time.monotonic()
    msg_id = start_sleeping(ws, language)
    interrupt = ws.send("interrupt_request", {}, channel="control")
    interrupt_reply = ws.wait_for_reply(interrupt, "control", timeout=30)
    assert interrupt_reply["content"]["status"] == "ok"
    reply = ws.wait_for_reply(msg_id, timeout=30)
    assert time.monotonic() - started < 30, "the cell ran on: the interrupt did not reach it"
    if language == "python3":
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"

    # the same container goes on working
    assert container_of(deployment.subkernel_of(beaker_id)["id"])["Id"] == container
    reply, stdout = ws.execute(PRINT_SUM[language])
    assert reply["content"]["status"] == "ok", reply["content"]
    assert stdout.strip() == "42"
