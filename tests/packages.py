"""Context packages built as wheels and pip-installed into the environment the tests run in.

Installing for real is the point: Beaker must find an installed package through the
``share/beaker/contexts/<slug>.json`` mapping pip puts under ``sys.prefix``, as it finds
packages built for upstream Beaker.
"""

from __future__ import annotations

import json
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
    """Build ``project``, pip-install the wheel here, and uninstall it afterwards."""
    wheel = build_wheel(project, out)
    pip("install", "--no-deps", "--force-reinstall", str(wheel))
    try:
        yield wheel
    finally:
        pip("uninstall", "--yes", distribution)


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
