"""The checkpoint store of one subkernel: save its variables, roll them back, delete the files.

Every file operation (writing, measuring, deleting) is code that runs in the subkernel,
through the ``evaluate`` callable the store is given, so the files live wherever the
subkernel can write: a private local folder, or the disk of the subkernel's container.
The store itself keeps only the record of what each checkpoint holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BeakerError
from . import templates
from .errors import (
    CheckpointFailedError,
    CheckpointLanguageError,
    CheckpointTooLargeError,
    UnknownCheckpointError,
)

log = logging.getLogger(__name__)

#: Runs code in the subkernel out of the user's sight and returns the one JSON document
#: it printed, decoded; raises a :class:`~beaker_kernel.errors.BeakerError` (normally
#: ``ProcedureFailedError``) when the code raised. ``BeakerKernel.evaluate`` is one.
Evaluate = Callable[[str], Awaitable[Any]]

#: Size limit of one checkpoint, in bytes of files written.
DEFAULT_MAX_BYTES = 1024**3
#: Checkpoints kept per session; the oldest is dropped first.
DEFAULT_MAX_COUNT = 10

#: The first index a store hands out. beaker-ts sends ``checkpoint_index || null`` back
#: with a rollback, so an index 0 would come back as null.
FIRST_INDEX = 1


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint holds.

    ``saved`` lists the variables a rollback restores (for Python, modules too: they are
    imported again by name); ``skipped`` the ones that could not be saved, with the reason.
    """

    index: int
    saved: list[str]
    skipped: dict[str, str]
    bytes: int
    #: The checkpoint's folder, as a path in the subkernel.
    folder: str = field(repr=False)
    #: Variable name → file name inside ``folder``.
    files: dict[str, str] = field(repr=False)
    #: Variable name → module name (Python: modules are imported again, not saved).
    modules: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        """Every variable the checkpoint knows of: a rollback removes all the others."""
        return [*self.saved, *self.skipped]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (for replies and logs)."""
        return {
            "checkpoint_index": self.index,
            "saved": self.saved,
            "skipped": self.skipped,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class RollbackReport:
    """What a rollback did.

    ``removed``: variables created after the checkpoint, now removed (in Julia, which cannot
    delete a global, rebound to ``nothing``). ``unrestorable``: variables the rollback could
    not bring back, with the reason (not saveable at checkpoint time, failed to load, or a
    Julia constant); they were left as they are. ``dropped``: later checkpoints deleted.
    """

    index: int
    restored: list[str]
    removed: list[str]
    unrestorable: dict[str, str]
    dropped: list[int]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (for replies and logs)."""
        return {
            "checkpoint_index": self.index,
            "restored": self.restored,
            "removed": self.removed,
            "unrestorable": self.unrestorable,
            "dropped": self.dropped,
        }


def _mapping(value: Any) -> dict[str, Any]:
    # R's jsonlite writes an empty named list as [].
    if value == []:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {value!r}")
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):  # a length-one R vector written unboxed
        return [value]
    if not isinstance(value, list):
        raise TypeError(f"expected a JSON array, got {value!r}")
    return [str(item) for item in value]


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"


class CheckpointStore:
    """The checkpoints of one subkernel session.

    ``evaluate`` runs code in the subkernel (see :data:`Evaluate`); ``language`` is the
    subkernel's slug (``python3``, ``rlang`` or ``julia``). ``directory`` is where the files
    go, as a path in the subkernel: it is created with mode 0700 if missing, and refused if
    it exists and another user can enter it. ``None`` lets the subkernel create a private
    temporary directory of its own (the choice for containers, whose disk the Beaker
    process cannot see); :attr:`directory` then tells which after the first :meth:`add`.

    Indexes start at 1 and only grow within a store, so an index a front end holds never
    names a different checkpoint later. Operations are serialised: one at a time.
    """

    def __init__(
        self,
        evaluate: Evaluate,
        language: str,
        *,
        directory: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_count: int = DEFAULT_MAX_COUNT,
    ) -> None:
        if language not in templates.LANGUAGES:
            raise CheckpointLanguageError(
                f"Checkpoints are not available for the language {language!r} "
                f"(available: {', '.join(templates.LANGUAGES)})"
            )
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        if max_count < 1:
            raise ValueError(f"max_count must be at least 1, not {max_count}")
        self._evaluate = evaluate
        self.language = language
        self.max_bytes = max_bytes
        self.max_count = max_count
        self._requested_directory = directory
        self._directory = directory
        self._checkpoints: dict[int, Checkpoint] = {}
        self._next_index = FIRST_INDEX
        self._lock = asyncio.Lock()

    @property
    def directory(self) -> str | None:
        """The checkpoint directory in the subkernel (``None`` until the subkernel chose it)."""
        return self._directory

    @property
    def indexes(self) -> list[int]:
        """Indexes of the checkpoints kept, oldest first."""
        return sorted(self._checkpoints)

    def get(self, index: int) -> Checkpoint:
        """The checkpoint ``index``; :class:`UnknownCheckpointError` if there is none."""
        checkpoint = self._checkpoints.get(index) if type(index) is int else None
        if checkpoint is None:
            kept = self.indexes
            raise UnknownCheckpointError(
                f"There is no checkpoint {index!r}: "
                + (
                    f"the checkpoints of this session are {', '.join(map(str, kept))}. "
                    if kept
                    else "this session has no checkpoints. "
                )
                + "Older ones are dropped when there are more than "
                f"{self.max_count}, and a rollback drops the ones after it. Nothing was changed.",
                index=index,
                available=kept,
            )
        return checkpoint

    async def _run(self, operation: str, what: str, **variables: Any) -> Any:
        code = templates.render(self.language, operation, **variables)
        try:
            return await self._evaluate(code)
        except BeakerError as e:
            raise CheckpointFailedError(
                f"{what} failed in the {self.language} subkernel: {e.message}",
                traceback=e.traceback,
            ) from e

    async def add(self) -> Checkpoint:
        """Save the subkernel's variables as a new checkpoint.

        Variables that cannot be saved are listed in :attr:`Checkpoint.skipped`. Raises
        :class:`CheckpointTooLargeError` when the files would exceed ``max_bytes`` (that
        checkpoint's files are removed, nothing else changes); drops the oldest checkpoints
        beyond ``max_count``. An index is used up even when its checkpoint is refused.
        """
        async with self._lock:
            index = self._next_index
            self._next_index += 1
            # A save that fails or is interrupted removes its own folder.
            report = await self._run(
                "save",
                f"Saving checkpoint {index}",
                directory=self._directory,
                index=index,
                max_bytes=self.max_bytes,
            )
            try:
                checkpoint = self._checkpoint_from(index, report)
            except (TypeError, KeyError, ValueError) as e:
                raise CheckpointFailedError(
                    f"Saving checkpoint {index} gave an unexpected report: {e}"
                ) from e
            self._checkpoints[index] = checkpoint
            excess = self.indexes[: -self.max_count]
            if excess:
                await self._forget(excess, reason=f"the limit of {self.max_count} checkpoints")
            return checkpoint

    def _checkpoint_from(self, index: int, report: Any) -> Checkpoint:
        if not isinstance(report, dict):
            raise TypeError(f"expected a JSON object, got {report!r}")
        if report.get("status") == "too_large":
            limit, written = int(report["limit"]), int(report["written"])
            variable = str(report["variable"])
            raise CheckpointTooLargeError(
                f"Checkpoint {index} was not kept: saving the variable {variable!r} took it "
                f"over the size limit of {_size(limit)} per checkpoint (the variables before "
                f"it took {_size(written)}). Raise the limit, or delete large variables you "
                "no longer need. Earlier checkpoints are kept.",
                index=index,
                written=written,
                limit=limit,
                variable=variable,
            )
        if report.get("status") != "ok":
            raise ValueError(f"status {report.get('status')!r}")
        self._directory = str(report["directory"])
        files = {str(k): str(v) for k, v in _mapping(report["files"]).items()}
        modules = {str(k): str(v) for k, v in _mapping(report.get("modules", {})).items()}
        return Checkpoint(
            index=index,
            saved=[*files, *modules],
            skipped={str(k): str(v) for k, v in _mapping(report["skipped"]).items()},
            bytes=int(report["bytes"]),
            folder=str(report["folder"]),
            files=files,
            modules=modules,
        )

    async def rollback(self, index: int) -> RollbackReport:
        """Bring the variables back to checkpoint ``index`` and drop the later checkpoints.

        Raises :class:`UnknownCheckpointError`, changing nothing, if there is no such
        checkpoint. The checkpoint itself is kept: rolling back to it again works.
        """
        async with self._lock:
            checkpoint = self.get(index)
            report = await self._run(
                "load",
                f"Rolling back to checkpoint {index}",
                folder=checkpoint.folder,
                files=checkpoint.files,
                modules=checkpoint.modules,
                known=checkpoint.names,
            )
            try:
                restored = _strings(report["restored"])
                removed = _strings(report["removed"])
                failed = {str(k): str(v) for k, v in _mapping(report["unrestorable"]).items()}
            except (TypeError, KeyError) as e:
                raise CheckpointFailedError(
                    f"Rolling back to checkpoint {index} gave an unexpected report: {e}"
                ) from e
            unrestorable = {
                name: f"could not be saved at checkpoint {index}: {reason}"
                for name, reason in checkpoint.skipped.items()
            }
            unrestorable.update(failed)
            later = [i for i in self.indexes if i > index]
            if later:
                await self._forget(later, reason=f"the rollback to checkpoint {index}")
            return RollbackReport(
                index=index,
                restored=restored,
                removed=removed,
                unrestorable=unrestorable,
                dropped=later,
            )

    async def _forget(self, indexes: list[int], *, reason: str) -> None:
        folders = [self._checkpoints.pop(i).folder for i in indexes]
        # The record is gone already; files left behind by a failure here are removed
        # with the whole directory by discard_all (or cleanup_local).
        try:
            await self._run("drop", "Deleting checkpoint files", folders=folders)
        except CheckpointFailedError as e:
            log.warning("Could not delete checkpoint files after %s: %s", reason, e.message)

    async def discard_all(self) -> None:
        """Delete every checkpoint and the directory (through the subkernel).

        Indexes keep growing afterwards; a directory the subkernel chose is chosen anew by
        the next :meth:`add`. Raises :class:`CheckpointFailedError` if the
        subkernel could not delete them; the record is cleared either way.
        """
        async with self._lock:
            self._checkpoints.clear()
            directory, self._directory = self._directory, self._requested_directory
            if directory is None:
                return
            await self._run("discard", "Deleting the checkpoint directory", directory=directory)

    def forget(self) -> None:
        """Clear the record without touching files: for when the subkernel is gone.

        A container's files went with it; a local directory is removed with
        :func:`~beaker_kernel.checkpoints.local.cleanup_local`.
        """
        self._checkpoints.clear()
