"""Context packages built as wheels and pip-installed into the environment the tests run in.

Installing for real is the point: Beaker must find an installed package through the
``share/beaker/contexts/<slug>.json`` mapping pip puts under ``sys.prefix``, as it finds
packages built for upstream Beaker.

``./scripts/test`` runs two pytest processes in the same environment, so an installation is
shared: the first process that needs a package installs it, and the last one done with it
uninstalls it (:func:`installed`).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WEATHER = REPO / "tests" / "fixtures" / "beaker-weather"


def pip(*args: str, timeout: float = 300) -> str:
    """Run this environment's pip; fail with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_wheel(project: Path, out: Path) -> Path:
    """``pip wheel`` of ``project`` (its build backend comes from the package index)."""
    pip("wheel", "--no-deps", "--wheel-dir", str(out), str(project))
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def mapping_path(slug: str) -> Path:
    """Where pip installs a package's mapping for context ``slug``."""
    return Path(sysconfig.get_path("data")) / "share" / "beaker" / "contexts" / f"{slug}.json"


@contextmanager
def installed(project: Path, distribution: str, out: Path) -> Iterator[Path]:
    """Build ``project``, pip-install the wheel here, and uninstall it afterwards; unless
    another test process of this environment uses it too, which then installed it or will
    uninstall it (see :func:`_users`)."""
    wheel = build_wheel(project, out)
    with _users(distribution) as users:
        if not users:
            pip("install", "--no-deps", "--force-reinstall", str(wheel))
        users.add(os.getpid())
    try:
        yield wheel
    finally:
        with _users(distribution) as users:
            users.discard(os.getpid())
            if not users:
                pip("uninstall", "--yes", distribution)


@contextmanager
def _users(distribution: str) -> Iterator[set[int]]:
    """The living test processes that use ``distribution``, kept in a file next to the
    environment; one process at a time reads and changes it (and installs or uninstalls),
    under a lock. A process that died without saying it is done is left out."""
    from .conftest import pid_alive  # conftest imports this module

    state = Path(sys.prefix) / f".beaker-tests-{distribution}.users"
    with open(state.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            users = {int(pid) for pid in state.read_text().split()} if state.exists() else set()
        except ValueError:  # written by something else: start over
            users = set()
        users = {pid for pid in users if pid_alive(pid)}
        yield users
        state.write_text(" ".join(map(str, sorted(users))))


#: A module that fails to import, named by one of :func:`broken_mappings`.
BROKEN_MODULE = "beaker_test_broken_context"


def broken_mappings(folder: Path) -> dict[str, str]:
    """Two upstream-style mappings in ``folder``: ``broken`` names a module that raises
    while it is imported, ``nowhere`` a package that does not exist. Returns the
    environment that makes Beaker read them ($XDG_DATA_HOME/beaker/contexts) and find the
    broken module (PYTHONPATH)."""
    modules = folder / "modules"
    modules.mkdir()
    (modules / f"{BROKEN_MODULE}.py").write_text(
        "import a_dependency_nobody_installed\n\n\nclass BrokenContext:\n    pass\n"
    )
    mappings = folder / "data" / "beaker" / "contexts"
    mappings.mkdir(parents=True)
    (mappings / "broken.json").write_text(
        json.dumps({"slug": "broken", "package": BROKEN_MODULE, "class_name": "BrokenContext"})
    )
    (mappings / "nowhere.json").write_text(
        json.dumps({"slug": "nowhere", "package": "no_such_package.context", "class_name": "X"})
    )
    return {"XDG_DATA_HOME": str(folder / "data"), "PYTHONPATH": str(modules)}
