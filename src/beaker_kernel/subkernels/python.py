"""The Python subkernel (ipykernel)."""

from __future__ import annotations

from .base import Subkernel


class PythonSubkernel(Subkernel):
    slug = "python3"
    display_name = "Python 3"
    kernelspec_names = ("python3",)
    kernelspec_languages = ("python",)
