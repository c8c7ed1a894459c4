"""The Julia subkernel (IJulia, or the offline kernel of ``images/julia``)."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from ..lib.subkernel import CheckpointableBeakerSubkernel, parse_printed_json
from .base import SharedProcedure


class JuliaSubkernel(CheckpointableBeakerSubkernel):
    """Julia through any kernelspec whose language is ``julia`` (``julia-1.10``, …)."""

    DISPLAY_NAME = "Julia"
    SLUG = "julia"
    KERNEL_NAME = "julia"
    SERIALIZATION_EXTENSION = "jls"
    WEIGHT = 30
    kernelspec_languages = ("julia",)
    FETCH_STATE_CODE = SharedProcedure("state")

    @classmethod
    def parse_subkernel_return(cls, execution_result: Mapping[str, Any]) -> Any:
        """The shown value as a JSON string (upstream's form), else the printed JSON."""
        value = execution_result.get("return")
        if isinstance(value, str) and value:
            try:
                return json.loads(ast.literal_eval(value))
            except (ValueError, SyntaxError, TypeError):
                pass
        return parse_printed_json(execution_result)
