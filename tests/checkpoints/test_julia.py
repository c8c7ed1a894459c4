"""What only Julia checkpoints do: constants, functions, `nothing` for a removed variable."""

from __future__ import annotations

import pytest

from beaker_kernel.checkpoints import CheckpointStore

from .conftest import Subkernel

pytestmark = pytest.mark.julia


@pytest.fixture
def jl(julia: Subkernel) -> Subkernel:
    julia.reset()
    return julia


@pytest.fixture
def store(jl: Subkernel, request: pytest.FixtureRequest) -> CheckpointStore:
    # The container's own disk.
    return CheckpointStore(jl.evaluate, "julia", directory=f"/tmp/checkpoints-{request.node.name}")


async def test_a_removed_variable_is_rebound_to_nothing(
    jl: Subkernel, store: CheckpointStore
) -> None:
    jl.run("kept = 1")
    checkpoint = await store.add()
    jl.run("created = [1, 2]")

    report = await store.rollback(checkpoint.index)

    assert report.removed == ["created"]
    assert jl.run('println(isdefined(Main, :created), " ", created === nothing)') == "true true\n"
    # Bound to nothing counts as absent: the next checkpoint does not save it, the next
    # rollback does not report it again.
    again = await store.add()
    assert "created" not in again.saved
    assert (await store.rollback(again.index)).removed == []


async def test_functions_types_and_constants(jl: Subkernel, store: CheckpointStore) -> None:
    jl.run(
        "twice(x) = 2x\n"
        "struct Pair2; a::Int; b::Int; end\n"
        "const LIMIT_BEFORE = 10\n"
        "pair = Pair2(1, 2)\n"
        'table = Dict("a" => [1.0, 2.0], "b" => [3.0])\n'
        'named = (x = [1, 2], y = "text")\n'
        "grid = [1.0 2.0; 3.0 4.0]"
    )
    checkpoint = await store.add()
    assert {"pair", "table", "named", "grid"} <= set(checkpoint.saved)
    assert not {"twice", "Pair2"} & set(checkpoint.names)
    assert checkpoint.skipped["LIMIT_BEFORE"] == "a constant: Julia cannot rebind it"

    jl.run(
        'pair = Pair2(9, 9)\ntable["a"][1] = 100.0\nnamed = nothing\ngrid[1, 1] = 0.0\n'
        "const LIMIT_AFTER = 20\nthrice(x) = 3x"
    )
    report = await store.rollback(checkpoint.index)

    assert report.unrestorable["LIMIT_AFTER"] == (
        "a constant defined after the checkpoint; Julia cannot remove it"
    )
    assert report.unrestorable["LIMIT_BEFORE"].startswith("could not be saved at checkpoint")
    assert "thrice" not in report.removed  # functions are definitions, not variables
    assert (
        jl.run(
            'println(pair.a, " ", table["a"][1], " ", named.y, " ", grid[1, 1], " ", '
            'twice(2), " ", thrice(2), " ", LIMIT_AFTER)'
        )
        == "1 1.0 text 1.0 4 6 20\n"
    )


async def test_a_stream_inside_a_container_is_reported(
    jl: Subkernel, store: CheckpointStore
) -> None:
    jl.run('log_file = open("/tmp/julia-stream.txt", "w")\nholder = Dict("io" => log_file)\nn = 1')
    try:
        checkpoint = await store.add()
        assert checkpoint.saved == ["n"]
        assert "open IOStream" in checkpoint.skipped["log_file"]
        assert "open IOStream" in checkpoint.skipped["holder"]
        jl.run("n = 2")
        await store.rollback(checkpoint.index)
        assert jl.run('println(n, " ", isopen(log_file), " ", holder["io"] === log_file)') == (
            "1 true true\n"
        )
    finally:
        jl.run("close(log_file)")


async def test_the_users_ans_is_kept(jl: Subkernel, store: CheckpointStore) -> None:
    jl.run("kept = 1")
    jl.run("40 + 2")
    checkpoint = await store.add()
    await store.rollback(checkpoint.index)
    await store.discard_all()
    assert jl.run("println(ans)") == "42\n"
