"""The test harness's own behaviour, where a mistake would hide failures or cause them."""

from __future__ import annotations

import socket

import pytest
from jupyter_client.manager import KernelManager

from .client import beaker_manager, start_ready, taken_ports


def listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_a_kernel_whose_port_was_taken_is_started_again_on_new_ports(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # The ports jupyter_client chose, one of them taken by another process meanwhile.
    # (Without its port cache, the kernel is given the ports written here.)
    first = KernelManager(
        kernel_name="beaker_kernel", client_class="tests.client.BeakerClient", cache_ports=False
    )
    first.write_connection_file()
    taken = first.iopub_port
    managers = iter([first])
    with listener(taken):
        assert taken_ports(first.get_connection_info()) == [taken]
        km, client = start_ready(lambda: next(managers, None) or beaker_manager(), 60)
        try:
            assert km is not first
            assert taken not in km.get_connection_info().values()
            assert client.run("print(6 * 7)").stdout() == "42\n"
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=True)
    err = capfd.readouterr().err
    assert "Address already in use" in err
    assert f"its ports [{taken}] are held by another process" in err
    assert "attempt 2 of 3" in err


def test_a_kernel_that_dies_of_something_else_is_not_started_again(
    capfd: pytest.CaptureFixture[str],
) -> None:
    made: list[KernelManager] = []

    def manager() -> KernelManager:
        made.append(beaker_manager())
        return made[-1]

    with pytest.raises(RuntimeError, match="Kernel died before replying to kernel_info"):
        start_ready(manager, 60, extra_arguments=["--log-level=NOPE"])
    err = capfd.readouterr().err
    assert "Bad config encountered during initialization" in err
    assert "starting it again" not in err
    assert len(made) == 1
    assert not made[0].has_kernel
