"""The bundled contexts (``beaker_kernel.bundled.contexts.<slug>.context``).

In a source checkout the repository's ``contexts/`` folder is part of this package's
path, so the entry points in ``pyproject.toml`` resolve the same way as in a wheel.
"""

from __future__ import annotations

from .. import CHECKOUT

if CHECKOUT is not None and (CHECKOUT / "contexts").is_dir():
    __path__.append(str(CHECKOUT / "contexts"))
