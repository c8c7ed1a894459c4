"""Subkernel life cycle: interrupt, restart, shutdown, stdin and crash recovery."""

from __future__ import annotations

import os
import signal
import time

from jupyter_client.manager import KernelManager

from ..client import BeakerClient
from ..conftest import REPO, pid_alive


def subkernel_pid(client: BeakerClient) -> int:
    exchange = client.run("import os; print(os.getpid())")
    return int(exchange.stdout().strip())


def wait_until(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_interrupt_reaches_running_python_code(beaker: tuple[KernelManager, BeakerClient]) -> None:
    _, client = beaker
    msg_id = client.execute("import time\nfor _ in range(600): time.sleep(0.1)")
    client.wait_for_iopub("execute_input", parent_id=msg_id)
    time.sleep(0.3)
    interrupt = client.request("interrupt_request", channel="control", wait_idle=False)
    assert interrupt.content["status"] == "ok"
    reply = client.collect(msg_id, timeout=10)
    assert reply.content["status"] == "error"
    assert reply.content["ename"] == "KeyboardInterrupt"
    assert client.run("print('still here')").stdout() == "still here\n"


def test_interrupt_reaches_running_r_code(beaker: tuple[KernelManager, BeakerClient]) -> None:
    _, client = beaker
    assert client.setup_context("default", "rlang").content["status"] == "ok"
    msg_id = client.execute("for (i in 1:600) Sys.sleep(0.1)\ncat('finished')")
    client.wait_for_iopub("execute_input", parent_id=msg_id)
    time.sleep(0.5)
    started = time.monotonic()
    client.request("interrupt_request", channel="control", wait_idle=False)
    reply = client.collect(msg_id, timeout=20)
    assert time.monotonic() - started < 10
    assert "finished" not in reply.stdout()
    assert client.run("cat(6 * 7)").stdout() == "42"


def test_restart_replaces_the_subkernel(beaker: tuple[KernelManager, BeakerClient]) -> None:
    km, client = beaker
    client.run("remember_me = 1")
    old_pid = subkernel_pid(client)
    km.restart_kernel(now=False)
    client.wait_for_ready(timeout=60)
    client.drain_iopub()
    assert wait_until(lambda: not pid_alive(old_pid)), "the old subkernel outlived the restart"
    new_pid = subkernel_pid(client)
    assert new_pid != old_pid
    error = client.run("remember_me")
    assert error.content["status"] == "error"
    assert error.content["ename"] == "NameError"


def test_shutdown_leaves_no_process(beaker: tuple[KernelManager, BeakerClient]) -> None:
    km, client = beaker
    sub_pid = subkernel_pid(client)
    beaker_pid = km.provisioner.process.pid  # type: ignore[union-attr]
    km.shutdown_kernel(now=False)
    assert wait_until(lambda: not pid_alive(beaker_pid))
    assert wait_until(lambda: not pid_alive(sub_pid)), "the subkernel outlived its Beaker kernel"


def test_killed_beaker_kernel_takes_its_r_subkernel_along(
    beaker: tuple[KernelManager, BeakerClient],
) -> None:
    km, client = beaker
    assert client.setup_context("default", "rlang").content["status"] == "ok"
    sub_pid = int(client.run("cat(Sys.getpid())").stdout())
    km.provisioner.process.kill()  # type: ignore[union-attr]
    assert wait_until(lambda: not pid_alive(sub_pid)), "IRkernel outlived a SIGKILLed Beaker"


def _subkernel_connection_file(km: KernelManager) -> str:
    import psutil

    beaker = psutil.Process(km.provisioner.process.pid)  # type: ignore[union-attr]
    [subkernel] = beaker.children()
    argv = subkernel.cmdline()
    return argv[argv.index("-f") + 1]


def test_killed_beaker_kernel_leaves_no_connection_file(
    beaker: tuple[KernelManager, BeakerClient],
) -> None:
    """The subkernel's connection file holds its key: it is not left behind, even when
    the Beaker kernel is killed with SIGKILL, and a crash restart removes its new one too."""
    km, client = beaker
    first = _subkernel_connection_file(km)
    assert wait_until(lambda: not os.path.exists(first))
    assert client.run("import os; os._exit(1)", timeout=30).content["status"] == "error"
    assert client.run("print(2)", timeout=60).stdout() == "2\n"
    second = _subkernel_connection_file(km)
    assert wait_until(lambda: not os.path.exists(second))
    sub_pid = subkernel_pid(client)
    km.provisioner.process.kill()  # type: ignore[union-attr]
    assert wait_until(lambda: not pid_alive(sub_pid))
    assert not os.path.exists(first)
    assert not os.path.exists(second)


def test_orphaned_beaker_kernel_shuts_down_with_its_subkernel(tmp_path) -> None:
    """A front end killed without shutting its kernel down leaves nothing running."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "front_end.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            from tests.client import start_beaker
            km, client = start_beaker()
            pid = client.run("import os; print(os.getpid())").stdout().strip()
            print(km.provisioner.process.pid, pid, flush=True)
            time.sleep(600)
            """
        )
    )
    front_end = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert front_end.stdout is not None
        beaker_pid, sub_pid = (int(x) for x in front_end.stdout.readline().split())
        front_end.kill()
        front_end.wait()
        assert wait_until(lambda: not pid_alive(beaker_pid)), "Beaker outlived its front end"
        assert wait_until(lambda: not pid_alive(sub_pid)), "the subkernel outlived Beaker"
    finally:
        front_end.kill()


def test_input_reaches_the_front_end(beaker: tuple[KernelManager, BeakerClient]) -> None:
    _, client = beaker
    msg_id = client.execute("name = input('Your name? ')\nprint('hello', name)", allow_stdin=True)
    request = client.get_stdin_msg(timeout=20)
    assert request["msg_type"] == "input_request"
    assert request["content"]["prompt"] == "Your name? "
    assert request["parent_header"]["msg_id"] == msg_id
    client.input("Ada")
    reply = client.collect(msg_id)
    assert reply.content["status"] == "ok"
    assert reply.stdout() == "hello Ada\n"


def test_subkernel_crash_is_reported_and_recovered(
    beaker: tuple[KernelManager, BeakerClient],
) -> None:
    _, client = beaker
    client.run("lost = 1")
    crash = client.run("import os; os._exit(1)", timeout=30)
    assert crash.content["status"] == "error"
    assert crash.content["ename"] == "SubkernelDiedError"
    assert "died unexpectedly" in crash.content["evalue"]
    errors = crash.of_type("error")
    assert errors
    assert errors[0]["ename"] == "SubkernelDiedError"
    after = client.run("print(1 + 1)", timeout=60)
    assert after.content["status"] == "ok"
    assert after.stdout() == "2\n"
    assert client.run("lost").content["ename"] == "NameError"


def test_subkernel_killed_from_outside_while_idle(
    beaker: tuple[KernelManager, BeakerClient],
) -> None:
    _, client = beaker
    pid = subkernel_pid(client)
    os.kill(pid, signal.SIGKILL)
    # the new subkernel may write warnings of its own first; find Beaker's notice
    texts = []
    deadline = time.monotonic() + 30
    while not any("died and was restarted" in text for text in texts):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no restart notice; streams seen: {texts}"
        texts.append(client.wait_for_iopub("stream", timeout=remaining)["content"]["text"])
    assert subkernel_pid(client) != pid


def test_subkernel_segfault_is_recovered(beaker: tuple[KernelManager, BeakerClient]) -> None:
    _, client = beaker
    crash = client.run("import ctypes; ctypes.string_at(0)", timeout=30)
    assert crash.content["status"] == "error"
    assert crash.content["ename"] == "SubkernelDiedError"
    assert client.run("print('alive')", timeout=60).stdout() == "alive\n"
