"""Errors of the checkpoint store.

All of them are :class:`~beaker_kernel.errors.BeakerError`, so a kernel turns them into
``status: error`` replies with ``reply_content()``::

    BeakerError
    └── CheckpointError
        ├── CheckpointLanguageError    no checkpoint procedures for that subkernel language
        ├── UnknownCheckpointError     no checkpoint with that index (nothing was changed)
        ├── CheckpointTooLargeError    a checkpoint went over the size limit (its files are gone)
        └── CheckpointFailedError      the subkernel could not run a checkpoint procedure
"""

from __future__ import annotations

from ..errors import BeakerError


class CheckpointError(BeakerError):
    """Something went wrong saving, restoring or deleting checkpoints."""


class CheckpointLanguageError(CheckpointError):
    """The subkernel's language has no checkpoint procedures."""


class UnknownCheckpointError(CheckpointError):
    """A rollback named a checkpoint that does not exist (or no longer exists).

    Raised before anything is done: variables and files are as they were.
    """

    def __init__(self, message: str, *, index: object, available: list[int]) -> None:
        super().__init__(message)
        self.index = index
        self.available = available


class CheckpointTooLargeError(CheckpointError):
    """The variables took more than the size limit of one checkpoint.

    The files written for that checkpoint were removed; earlier checkpoints are kept.
    """

    def __init__(
        self, message: str, *, index: int, written: int, limit: int, variable: str
    ) -> None:
        super().__init__(message)
        self.index = index
        self.written = written
        self.limit = limit
        self.variable = variable


class CheckpointFailedError(CheckpointError):
    """A checkpoint procedure raised in the subkernel or printed something unexpected."""
