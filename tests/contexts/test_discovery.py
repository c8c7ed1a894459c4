"""Entry points are read once and read again when a package is installed or removed.

The distributions here are real ``.dist-info`` folders in a folder put on ``sys.path``,
read by ``importlib.metadata`` like any installed package. ``sys.path`` holds that folder
and the standard library only, so that what the other tests install does not matter.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from beaker_kernel.lib import plugins
from beaker_kernel.lib.plugins import candidates, installed_entry_points

GROUP = "beaker.contexts"
#: Modification times are set by hand: two changes within the file system's time
#: resolution could leave the same one.
LONG_AGO = time.time() - 3600


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    stdlib = sysconfig.get_paths()["stdlib"]
    monkeypatch.setattr(sys, "path", [str(folder), stdlib, os.path.join(stdlib, "lib-dynload")])
    monkeypatch.setattr(plugins, "_entry_points_seen", None)
    set_mtime(folder, LONG_AGO)
    return folder


def install(site: Path, name: str, slug: str) -> None:
    """A distribution ``name`` whose entry point names context ``slug``."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{slug} = {name}.context:Context\n")


def set_mtime(folder: Path, when: float) -> None:
    os.utime(folder, (when, when))


def slugs() -> set[str]:
    """The contexts found through entry points (mappings are read from ``sys.prefix``,
    where another test process may have installed a context package meanwhile)."""
    found = candidates("contexts", GROUP)
    return {slug for slug, (origin, _) in found.items() if origin.startswith("entry point")}


def test_read_once_while_nothing_changes(site: Path) -> None:
    install(site, "beaker_one", "one")
    set_mtime(site, LONG_AGO + 1)
    assert slugs() == {"one"}
    seen = plugins._entry_points_seen
    assert seen is not None
    assert [ep.name for ep in installed_entry_points(GROUP)] == ["one"]
    assert plugins._entry_points_seen is seen  # not read again


def test_read_again_after_an_install_and_a_removal(site: Path) -> None:
    assert slugs() == set()
    install(site, "beaker_one", "one")
    set_mtime(site, LONG_AGO + 1)
    assert slugs() == {"one"}
    install(site, "beaker_two", "two")
    set_mtime(site, LONG_AGO + 2)
    assert slugs() == {"one", "two"}
    shutil.rmtree(site / "beaker_one-1.0.dist-info")
    set_mtime(site, LONG_AGO + 3)
    assert slugs() == {"two"}


def test_a_changed_path_is_read_again(site: Path, tmp_path: Path) -> None:
    assert slugs() == set()
    other = tmp_path / "other"
    other.mkdir()
    install(other, "beaker_three", "three")
    set_mtime(other, LONG_AGO)
    sys.path.append(str(other))
    assert slugs() == {"three"}
