"""Checkpoint directories the Beaker process can see: local subkernels.

A local subkernel writes its checkpoints into a private directory that the kernel
creates for it (:func:`create_local_directory`). When the subkernel dies, the store can no
longer delete its files through it, so the kernel removes the directory itself
(:func:`cleanup_local`); after a crash of the kernel itself, the next kernel removes the
directories of kernels that no longer run (:func:`sweep_stale_local`).

These functions do blocking file I/O: call them through ``asyncio.to_thread`` from async code.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
from pathlib import Path

log = logging.getLogger(__name__)

#: Directories made by :func:`create_local_directory` are named ``<PREFIX><pid>-<token>``.
PREFIX = "beaker-checkpoints-"


def create_local_directory(parent: str | os.PathLike[str], *, pid: int | None = None) -> Path:
    """Create a new private directory (mode 0700) for one session's checkpoints.

    ``parent`` (for example Jupyter's runtime directory) is created if missing. The name
    carries ``pid`` (default: this process) so that :func:`sweep_stale_local` can tell
    when its owner is gone.
    """
    base = Path(parent)
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = base / f"{PREFIX}{pid if pid is not None else os.getpid()}-{secrets.token_hex(6)}"
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o700)  # whatever the umask
    return directory


def cleanup_local(directory: str | os.PathLike[str]) -> bool:
    """Remove a checkpoint directory and everything in it; False if it was not there.

    Refuses (``ValueError``) a path that is a symbolic link or not a directory, so a
    mistaken setting cannot make it delete something else.
    """
    path = Path(directory)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{path} is not a checkpoint directory (not a directory, or a link)")
    shutil.rmtree(path)
    return True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep_stale_local(parent: str | os.PathLike[str]) -> list[Path]:
    """Remove the directories in ``parent`` whose creating process no longer runs.

    For start-up: a kernel that crashed could not clean up. Only directories named by
    :func:`create_local_directory` and owned by this user are touched. Returns those removed.
    """
    base = Path(parent)
    if not base.is_dir():
        return []
    removed = []
    for entry in base.iterdir():
        if not entry.name.startswith(PREFIX):
            continue
        pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _running(int(pid_text)):
            continue
        try:
            info = entry.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            continue
        try:
            shutil.rmtree(entry)
        except OSError as e:
            log.warning("Could not remove the stale checkpoint directory %s: %s", entry, e)
            continue
        removed.append(entry)
    return removed
