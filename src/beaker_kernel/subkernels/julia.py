"""The Julia subkernel (IJulia, or the offline kernel of ``images/julia``)."""

from __future__ import annotations

from .base import Subkernel


class JuliaSubkernel(Subkernel):
    slug = "julia"
    display_name = "Julia"
    kernelspec_languages = ("julia",)
