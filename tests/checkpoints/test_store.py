"""The checkpoint store against real subkernels, the same tests in Python, R and Julia."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from beaker_kernel.checkpoints import (
    FIRST_INDEX,
    CheckpointFailedError,
    CheckpointStore,
    CheckpointTooLargeError,
    UnknownCheckpointError,
)

from .conftest import Subkernel


def store_for(kernel: Subkernel, directory: str | None, **limits: int) -> CheckpointStore:
    return CheckpointStore(kernel.evaluate, kernel.language.slug, directory=directory, **limits)


def folders(kernel: Subkernel, directory: str) -> set[str]:
    """The checkpoint folders (by index) that have files under directory."""
    files = kernel.files(directory) or []
    return {path[len(directory) + 1 :].split("/", 1)[0] for path in files}


async def test_rollback_restores_overwritten_and_deleted_variables(
    fresh: Subkernel, scratch: str
) -> None:
    lit = fresh.language.literal
    fresh.set(count=lit(1), label=lit("before"), values=lit([1, 2, 3]))
    store = store_for(fresh, scratch)
    checkpoint = await store.add()
    assert checkpoint.index == FIRST_INDEX
    assert {"count", "label", "values"} <= set(checkpoint.saved)
    assert checkpoint.skipped == {}
    assert checkpoint.bytes > 0
    before = {name: fresh.show(name) for name in ("count", "label", "values")}

    fresh.set(count=lit(2), values=lit([9]), created=lit("new"))
    fresh.delete("label")
    assert fresh.show("label") is None

    report = await store.rollback(checkpoint.index)

    assert {name: fresh.show(name) for name in before} == before
    assert fresh.show("created") is None
    assert "created" not in fresh.names()
    assert report.index == checkpoint.index
    assert {"count", "label", "values"} <= set(report.restored)
    assert report.removed == ["created"]
    assert report.unrestorable == {}
    assert report.dropped == []
    # The checkpoint stays: rolling back to it again works.
    assert store.indexes == [checkpoint.index]
    fresh.set(count=lit(3))
    await store.rollback(checkpoint.index)
    assert fresh.show("count") == before["count"]
    await store.discard_all()


async def test_an_unsaveable_variable_is_reported_and_the_rest_restored(
    fresh: Subkernel, scratch: str
) -> None:
    lang = fresh.language
    stream_path = f"{scratch}-stream.txt"
    fresh.run(lang.open_stream("stream", stream_path))
    fresh.set(kept=lang.literal(10))
    kept = fresh.show("kept")
    store = store_for(fresh, scratch)

    checkpoint = await store.add()

    assert "kept" in checkpoint.saved
    assert "stream" not in checkpoint.saved
    assert set(checkpoint.skipped) == {"stream"}
    reason = checkpoint.skipped["stream"]
    assert any(word in reason for word in ("connection", "IOStream", "TextIOWrapper")), reason

    fresh.set(kept=lang.literal(99))
    report = await store.rollback(checkpoint.index)

    assert fresh.show("kept") == kept
    assert "kept" in report.restored
    assert set(report.unrestorable) == {"stream"}
    assert report.unrestorable["stream"].startswith(
        f"could not be saved at checkpoint {checkpoint.index}"
    )
    # Left as it is: still the same open stream.
    assert fresh.value(lang.stream_open("stream")) is True
    await store.discard_all()


async def test_an_unknown_index_raises_and_changes_nothing(fresh: Subkernel, scratch: str) -> None:
    lit = fresh.language.literal
    fresh.set(kept=lit(1))
    store = store_for(fresh, scratch)
    checkpoint = await store.add()
    fresh.set(kept=lit(5), added=lit(6))
    files_before = fresh.files(scratch)
    shown_before = fresh.show("kept"), fresh.show("added")

    for wrong in (checkpoint.index + 100, 0, -1, "1", None):
        with pytest.raises(UnknownCheckpointError) as raised:
            await store.rollback(wrong)  # type: ignore[arg-type]
        assert f"There is no checkpoint {wrong!r}" in raised.value.message
        assert f"are {checkpoint.index}." in raised.value.message
        assert "Nothing was changed" in raised.value.message
        assert raised.value.reply_content()["ename"] == "UnknownCheckpointError"

    assert (fresh.show("kept"), fresh.show("added")) == shown_before
    assert fresh.files(scratch) == files_before
    assert store.indexes == [checkpoint.index]
    await store.discard_all()


async def test_the_count_limit_drops_the_oldest(fresh: Subkernel, scratch: str) -> None:
    store = store_for(fresh, scratch, max_count=2)
    made = []
    for n in range(4):
        fresh.set(step=fresh.language.literal(n))
        made.append((await store.add()).index)

    assert made == [FIRST_INDEX + n for n in range(4)]
    assert store.indexes == made[-2:]
    assert folders(fresh, scratch) == {str(i) for i in made[-2:]}
    with pytest.raises(UnknownCheckpointError):
        await store.rollback(made[0])
    await store.rollback(made[2])
    assert fresh.show("step") == "2"
    await store.discard_all()


async def test_the_size_limit_refuses_a_checkpoint_cleanly(fresh: Subkernel, scratch: str) -> None:
    lang = fresh.language
    store = store_for(fresh, scratch, max_bytes=200_000)
    fresh.set(small=lang.literal(1))
    first = await store.add()
    files_before = fresh.files(scratch)

    fresh.set(large=lang.big(1_000_000))
    with pytest.raises(CheckpointTooLargeError) as raised:
        await store.add()
    error = raised.value
    assert error.index == first.index + 1
    assert error.variable == "large"
    assert error.limit == 200_000
    assert "over the size limit of 195.3 KiB per checkpoint" in error.message
    assert "Earlier checkpoints are kept" in error.message
    # Nothing of the refused checkpoint is left; the earlier one is untouched.
    assert fresh.files(scratch) == files_before
    assert store.indexes == [first.index]

    fresh.delete("large")
    after = await store.add()
    assert after.index == first.index + 2  # the refused one used its number up
    assert store.indexes == [first.index, after.index]
    await store.discard_all()


async def test_discard_all_leaves_no_files(fresh: Subkernel, scratch: str) -> None:
    store = store_for(fresh, scratch)
    fresh.set(value=fresh.language.literal("x"))
    await store.add()
    await store.add()
    assert folders(fresh, scratch) == {str(FIRST_INDEX), str(FIRST_INDEX + 1)}

    await store.discard_all()

    assert fresh.files(scratch) is None
    assert store.indexes == []
    # Indexes keep growing: a front end's old index never names a new checkpoint.
    again = await store.add()
    assert again.index == FIRST_INDEX + 2
    await store.discard_all()
    assert fresh.files(scratch) is None


async def test_rollback_to_an_older_checkpoint_drops_the_later_ones(
    fresh: Subkernel, scratch: str
) -> None:
    lit = fresh.language.literal
    store = store_for(fresh, scratch)
    fresh.set(stage=lit("one"))
    stage = fresh.show("stage")
    one = await store.add()
    fresh.set(stage=lit("two"), extra=lit(2))
    two = await store.add()
    fresh.set(stage=lit("three"))
    three = await store.add()

    report = await store.rollback(one.index)

    assert report.dropped == [two.index, three.index]
    assert report.removed == ["extra"]
    assert store.indexes == [one.index]
    assert folders(fresh, scratch) == {str(one.index)}
    assert fresh.show("stage") == stage
    with pytest.raises(UnknownCheckpointError):
        await store.rollback(three.index)
    # A new checkpoint after the rollback gets a new number, not a dropped one.
    assert (await store.add()).index == three.index + 1
    await store.discard_all()


async def test_the_subkernel_can_choose_a_private_directory(fresh: Subkernel) -> None:
    store = store_for(fresh, None)
    assert store.directory is None
    fresh.set(value=fresh.language.literal(1))
    checkpoint = await store.add()
    directory = store.directory
    assert directory is not None
    assert "beaker-checkpoints-" in directory
    assert checkpoint.index == FIRST_INDEX
    assert folders(fresh, directory) == {str(FIRST_INDEX)}
    await store.discard_all()
    assert fresh.files(directory) is None
    assert store.directory is None  # the next add chooses anew


async def test_a_directory_other_users_can_enter_is_refused(fresh: Subkernel, scratch: str) -> None:
    make_open = {
        "python3": f"__import__('os').makedirs({scratch!r}, mode=0o777); "
        f"__import__('os').chmod({scratch!r}, 0o777)",
        "rlang": f"dir.create({fresh.language.literal(scratch)}); "
        f"Sys.chmod({fresh.language.literal(scratch)}, '0777', use_umask = FALSE)",
        "julia": f"mkpath({fresh.language.literal(scratch)}); "
        f"chmod({fresh.language.literal(scratch)}, 0o777)",
    }[fresh.language.slug]
    fresh.run(make_open)
    fresh.set(value=fresh.language.literal(1))
    store = store_for(fresh, scratch)

    with pytest.raises(CheckpointFailedError) as raised:
        await store.add()

    assert "can be used by other users (mode 777)" in raised.value.message
    assert "chmod 700" in raised.value.message
    assert raised.value.message.startswith(f"Saving checkpoint {FIRST_INDEX} failed in the")
    assert store.indexes == []
    assert fresh.files(scratch) == []


SLOW = {
    # A variable that takes 30 s to save, so that the save can be interrupted halfway.
    "python3": (
        "class Slow:\n"
        "    def __reduce__(self):\n"
        "        import time\n"
        "        time.sleep(30)\n"
        "        return (int, ())\n"
        "slow = Slow()"
    ),
    "rlang": 'makeActiveBinding("slow", function() { Sys.sleep(30); 1 }, globalenv())',
    "julia": (
        "import Serialization\n"
        "struct Slow end\n"
        "Serialization.serialize(s::Serialization.AbstractSerializer, ::Slow) = sleep(30)\n"
        "slow = Slow()"
    ),
}


async def test_an_interrupted_checkpoint_leaves_no_files(fresh: Subkernel, scratch: str) -> None:
    lit = fresh.language.literal
    store = store_for(fresh, scratch)
    fresh.set(aardvark=lit(1))  # saved before `slow`: the folder has a file when interrupted
    first = await store.add()
    fresh.run(SLOW[fresh.language.slug])
    started = time.monotonic()
    saving = asyncio.create_task(store.add())
    await asyncio.sleep(3)  # the kernel is busy with the save: it cannot be asked how far
    # What KernelManager.interrupt_kernel does for interrupt_mode "signal" (all three).
    assert fresh.manager.provisioner is not None
    await fresh.manager.provisioner.send_signal(signal.SIGINT)

    with pytest.raises(CheckpointFailedError) as raised:
        await saving

    assert time.monotonic() - started < 25
    assert raised.value.message.startswith(f"Saving checkpoint {first.index + 1} failed")
    assert store.indexes == [first.index]
    assert folders(fresh, scratch) == {str(first.index)}
    fresh.reset()
    assert (await store.add()).index == first.index + 2
    await store.discard_all()
