"""The transport of a subkernel Beaker starts itself (outside the service), and the
transport the service gives its local kernels."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from beaker_kernel.transport import local_transport

from ..client import running_beaker

# The subkernel's own view of its connection (Beaker removes the file once it answered).
CONNECTION = (
    "import json; from ipykernel.kernelapp import IPKernelApp as A; a = A.instance(); "
    "print(json.dumps({'file': a.connection_file, 'info': {'transport': a.transport, 'ip': a.ip}}))"
)


@pytest.fixture
def runtime() -> Iterator[Path]:
    # short, as Unix socket paths must be (a pytest tmp_path may be too long for IPC)
    with tempfile.TemporaryDirectory(prefix="bk-rt-", dir="/tmp") as folder:
        yield Path(folder)


def connection(client) -> dict:
    run = client.run(CONNECTION, timeout=60)
    assert run.content["status"] == "ok", run.content
    return json.loads(run.stdout())


def test_local_subkernel_uses_tcp_by_default(runtime: Path) -> None:
    # A kernelspec may start its kernel in a container, where IPC paths are out of reach.
    with running_beaker({"JUPYTER_RUNTIME_DIR": str(runtime)}) as (_, client):
        seen = connection(client)
        assert seen["info"]["transport"] == "tcp"
        assert client.run("print(6 * 7)").stdout() == "42\n"


def test_local_subkernel_uses_ipc_in_the_runtime_directory_when_chosen(
    runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = {"JUPYTER_RUNTIME_DIR": str(runtime), "BEAKER_TRANSPORT": "ipc"}
    with running_beaker(env) as (_, client):
        seen = connection(client)
        assert seen["info"]["transport"] == "ipc"
        assert Path(seen["file"]).parent == runtime
        stem = Path(seen["file"]).stem
        assert seen["info"]["ip"] == str(runtime / f"{stem}-ipc")
        sockets = sorted(p.name for p in runtime.glob(f"{stem}-ipc-*"))
        assert len(sockets) == 5, sockets
        assert client.run("print(6 * 7)").stdout() == "42\n"
    # nothing in the working directory, and the sockets are gone with the kernel
    assert list(work.iterdir()) == []
    assert list(runtime.glob(f"{stem}*")) == []


def test_unknown_transport_is_a_clear_error(runtime: Path) -> None:
    env = {"JUPYTER_RUNTIME_DIR": str(runtime), "BEAKER_TRANSPORT": "udp"}
    with running_beaker(env, wait=False) as (_, client):
        assert "BEAKER_TRANSPORT must be ipc or tcp, not 'udp'" in client.start_error()
        # the kernel itself still answers Beaker's own requests (the reply only, as above)
        contexts = client.request("context_info_request", timeout=30, wait_idle=False)
        assert contexts.reply["msg_type"] == "context_info_reply"
        assert contexts.content["status"] == "ok", contexts.content


def test_tcp_when_the_runtime_directory_cannot_hold_sockets(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BEAKER_TRANSPORT", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    assert local_transport() == "ipc"
    # cannot be made, even by root
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", "/proc/beaker-runtime")
    assert local_transport() == "tcp"
    # too long for socket paths
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime / ("x" * 60)))
    assert local_transport() == "tcp"
    assert not (runtime / ("x" * 60)).exists()
