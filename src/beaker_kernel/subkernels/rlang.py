"""The R subkernel (IRkernel)."""

from __future__ import annotations

from .base import Subkernel


class RSubkernel(Subkernel):
    slug = "rlang"
    display_name = "R"
    kernelspec_names = ("ir",)
    kernelspec_languages = ("r",)
