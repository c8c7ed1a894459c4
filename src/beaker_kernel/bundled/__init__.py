"""The contexts and procedures bundled with Beaker.

They are kept in the repository's top-level ``contexts/`` and ``procedures/`` folders. A
wheel installs them here (``beaker_kernel/bundled/contexts`` and ``.../procedures``); in a
source checkout installed with ``pip install -e .`` they are used from where they are, so
development from a checkout works like an install.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: The repository root when this package runs from a source checkout, else ``None``.
CHECKOUT: Path | None = (
    _HERE.parents[2] if (_HERE.parents[2] / "pyproject.toml").is_file() else None
)


def bundled_folder(name: str) -> Path:
    """The installed ``name`` folder (``contexts`` or ``procedures``), or the checkout's."""
    installed = _HERE / name
    if CHECKOUT is not None and (CHECKOUT / name).is_dir():
        checkout = CHECKOUT / name
        if not installed.is_dir() or not any(p.name != "__init__.py" for p in installed.iterdir()):
            return checkout
    return installed
