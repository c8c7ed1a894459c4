"""The Python subkernel (ipykernel)."""

from __future__ import annotations

from ..lib.subkernel import CheckpointableBeakerSubkernel
from .base import SharedProcedure


class PythonSubkernel(CheckpointableBeakerSubkernel):
    """Python 3 through ipykernel (kernelspec ``python3``, or any ``language: python`` one)."""

    DISPLAY_NAME = "Python 3"
    SLUG = "python3"
    KERNEL_NAME = "python3"
    WEIGHT = 20
    SERIALIZATION_EXTENSION = "pickle"
    kernelspec_names = ("python3",)
    kernelspec_languages = ("python",)
    FETCH_STATE_CODE = SharedProcedure("state")

    async def setup(self) -> None:
        # pip install --user in a cell must be importable without a restart
        if self.context is not None:
            await self.context.execute(
                "import importlib as _i, os as _o, site as _s, sys as _y\n"
                "if _s.ENABLE_USER_SITE and _s.USER_SITE not in _y.path:\n"
                "    _o.makedirs(_s.USER_SITE, exist_ok=True)\n"
                "    _y.path.append(_s.USER_SITE)\n"
                "    _i.invalidate_caches()\n"
                "del _i, _o, _s, _y\n"
            )
