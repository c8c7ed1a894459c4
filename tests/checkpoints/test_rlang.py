"""What only R checkpoints do: closures, odd names, dot-names, external pointers."""

from __future__ import annotations

from pathlib import Path

import pytest

from beaker_kernel.checkpoints import CheckpointStore

from .conftest import Subkernel

pytestmark = pytest.mark.r


@pytest.fixture
def rk(r: Subkernel) -> Subkernel:
    r.reset()
    return r


@pytest.fixture
def store(rk: Subkernel, tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(rk.evaluate, "rlang", directory=str(tmp_path / "checkpoints"))


async def test_functions_and_data_frames_come_back(rk: Subkernel, store: CheckpointStore) -> None:
    rk.run(
        "bump <- function(x) x + 1\n"
        "df <- data.frame(city = c('Lagos', 'Lima'), population = c(15388000, 10719000))\n"
        "original <- df"
    )
    checkpoint = await store.add()
    assert set(checkpoint.saved) == {"bump", "df", "original"}

    rk.run("bump <- function(x) x + 100\ndf$population[1] <- 0\ndf$extra <- 1\nrm(original)")
    report = await store.rollback(checkpoint.index)

    assert sorted(report.restored) == ["bump", "df", "original"]
    assert rk.run("cat(bump(1), identical(df, original), names(df))") == ("2 TRUE city population")


async def test_names_that_need_quoting_and_dot_names(rk: Subkernel, store: CheckpointStore) -> None:
    rk.run('`my var` <- 1\n`it\'s "odd"` <- 2\n.hidden <- 3')
    checkpoint = await store.add()
    assert set(checkpoint.saved) == {"my var", 'it\'s "odd"'}

    rk.run("`my var` <- 10\n`new one!` <- 4\n.later <- 5")
    report = await store.rollback(checkpoint.index)

    assert report.removed == ["new one!"]
    assert rk.run('cat(`my var`, `it\'s "odd"`, .hidden, .later, exists("new one!"))') == (
        "1 2 3 5 FALSE"
    )


async def test_external_pointers_are_reported(
    rk: Subkernel, store: CheckpointStore, tmp_path: Path
) -> None:
    path = str(tmp_path / "out.txt")
    rk.run(
        f"con <- file('{path}', 'w')\n"
        "holder <- list(connection = con, n = 1)\n"
        "pointer <- new('externalptr')\n"
        "n <- 1"
    )
    try:
        checkpoint = await store.add()
        assert checkpoint.saved == ["n"]
        assert set(checkpoint.skipped) == {"con", "holder", "pointer"}
        assert "an open connection" in checkpoint.skipped["con"]
        assert "external pointer" in checkpoint.skipped["holder"]
        assert "external pointer" in checkpoint.skipped["pointer"]
        rk.run("n <- 2")
        report = await store.rollback(checkpoint.index)
        assert set(report.unrestorable) == {"con", "holder", "pointer"}
        assert rk.run("cat(n, isOpen(con))") == "1 TRUE"
    finally:
        rk.run("close(con)")
