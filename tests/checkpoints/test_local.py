"""Checkpoint directories of local subkernels, seen from the Beaker process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from beaker_kernel.checkpoints import (
    CheckpointStore,
    cleanup_local,
    create_local_directory,
    sweep_stale_local,
)
from beaker_kernel.checkpoints.local import PREFIX

from .conftest import PYTHON, _start, _stop


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_local_directory_is_private_and_named_after_its_process(tmp_path: Path) -> None:
    parent = tmp_path / "runtime" / "checkpoints"
    old = os.umask(0)
    try:
        directory = create_local_directory(parent)
    finally:
        os.umask(old)
    assert directory.parent == parent
    assert directory.name.startswith(f"{PREFIX}{os.getpid()}-")
    assert mode(directory) == 0o700
    assert mode(parent) == 0o700
    assert create_local_directory(parent) != directory


def test_cleanup_local_removes_everything_and_refuses_a_link(tmp_path: Path) -> None:
    directory = create_local_directory(tmp_path)
    (directory / "1").mkdir()
    (directory / "1" / "0.pickle").write_bytes(b"x" * 10)
    assert cleanup_local(directory) is True
    assert not directory.exists()
    assert cleanup_local(directory) is False

    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        cleanup_local(link)
    assert (target / "keep.txt").read_text() == "keep"


def test_sweep_removes_only_directories_of_processes_that_are_gone(tmp_path: Path) -> None:
    stale = create_local_directory(tmp_path, pid=dead_pid())
    (stale / "3").mkdir()
    live = create_local_directory(tmp_path)
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()
    odd = tmp_path / f"{PREFIX}not-a-pid"
    odd.mkdir()

    assert sweep_stale_local(tmp_path) == [stale]

    assert not stale.exists()
    assert [p.is_dir() for p in (live, unrelated, odd)] == [True, True, True]
    assert sweep_stale_local(tmp_path / "missing") == []


async def test_after_the_subkernel_dies_the_files_are_removed_from_outside(
    tmp_path: Path,
) -> None:
    directory = create_local_directory(tmp_path)
    kernel = _start(PYTHON, None)
    try:
        store = CheckpointStore(kernel.evaluate, "python3", directory=str(directory))
        kernel.run("data = list(range(1000))")
        checkpoint = await store.add()
        assert (directory / str(checkpoint.index)).is_dir()
        assert mode(directory / str(checkpoint.index)) == 0o700
    finally:
        kernel.manager.shutdown_kernel(now=True)  # a crash: nothing ran to clean up
        _stop(kernel)
    assert any(directory.rglob("*.pickle"))

    store.forget()
    assert store.indexes == []
    assert cleanup_local(directory) is True
    assert not directory.exists()
