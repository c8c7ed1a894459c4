"""No connection file (with its HMAC key) lands in the checkout or the working directory."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest

from beaker_kernel.service.kernels import BeakerMappingKernelManager

from ..packages import REPO

pytestmark = pytest.mark.security


def test_no_connection_file_in_the_checkout() -> None:
    assert sorted(p.name for p in REPO.glob("kernel-*.json")) == []
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert any(fnmatch.fnmatch("kernel-1234.json", pattern) for pattern in ignored)


async def test_the_kernel_manager_writes_no_connection_file_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    runtime = tmp_path / "runtime"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    manager = BeakerMappingKernelManager(root_dir=str(workdir))
    kernel_id = await manager.start_kernel(kernel_name="python3")
    try:
        assert os.listdir(workdir) == []
        assert (runtime / f"kernel-{kernel_id}.json").exists()
    finally:
        await manager.shutdown_kernel(kernel_id, now=True)
    assert os.listdir(workdir) == []
