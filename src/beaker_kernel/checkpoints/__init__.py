"""Checkpoints: save a subkernel's variables and roll them back (Python, R and Julia).

:class:`CheckpointStore` is the whole interface a kernel needs: ``add()`` before the agent
runs code, ``rollback(index)`` on a ``rollback`` request, ``discard_all()`` when the session
ends. The code that saves and restores runs in the subkernel (templates per language in
``templates/``); :mod:`.local` removes directories of local subkernels from the outside.
See ``docs/checkpoints.md``.
"""

from __future__ import annotations

from .errors import (
    CheckpointError,
    CheckpointFailedError,
    CheckpointLanguageError,
    CheckpointTooLargeError,
    UnknownCheckpointError,
)
from .local import cleanup_local, create_local_directory, sweep_stale_local
from .store import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_COUNT,
    FIRST_INDEX,
    Checkpoint,
    CheckpointStore,
    Evaluate,
    RollbackReport,
)
from .templates import LANGUAGES

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_COUNT",
    "FIRST_INDEX",
    "LANGUAGES",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFailedError",
    "CheckpointLanguageError",
    "CheckpointStore",
    "CheckpointTooLargeError",
    "Evaluate",
    "RollbackReport",
    "UnknownCheckpointError",
    "cleanup_local",
    "create_local_directory",
    "sweep_stale_local",
]
