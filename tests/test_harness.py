"""The test harness's own behaviour, where a mistake would hide failures or cause them."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from .client import beaker_manager, start_ready, taken_ports
from .packages import _users, installed


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


def tiny_project(folder: Path) -> Path:
    """A one-module distribution, ``beaker-test-shared``, to install and uninstall."""
    project = folder / "beaker-test-shared"
    (project / "src" / "beaker_test_shared").mkdir(parents=True)
    (project / "src" / "beaker_test_shared" / "__init__.py").write_text("ANSWER = 42\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "beaker-test-shared"\nversion = "0.1.0"\n\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/beaker_test_shared"]\n'
    )
    return project


def is_installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
def test_an_installation_is_shared_by_the_test_processes(tmp_path: Path) -> None:
    """The last living process that uses a package uninstalls it (tests/packages.py)."""
    project = tiny_project(tmp_path)
    distribution = "beaker-test-shared"
    other = subprocess.Popen(["sleep", "300"])  # another test process, still running
    try:
        with installed(project, distribution, tmp_path / "first"):
            assert is_installed(distribution)
            with _users(distribution) as users:
                assert users == {os.getpid()}
                users.add(other.pid)  # what the other process does when it needs it
        # the other process still uses it: left installed, and this one is no user now
        assert is_installed(distribution)
        with _users(distribution) as users:
            assert users == {other.pid}
    finally:
        other.kill()
        other.wait()

    # The other process died without saying it was done: it is left out, so the next
    # user installs the package again and, the last one done, uninstalls it.
    with installed(project, distribution, tmp_path / "second"):
        assert is_installed(distribution)
        with _users(distribution) as users:
            assert users == {os.getpid()}
    assert not is_installed(distribution)
    with _users(distribution) as users:
        assert users == set()
