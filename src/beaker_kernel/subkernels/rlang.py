"""The R subkernel (IRkernel)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

from ..lib.subkernel import CheckpointableBeakerSubkernel, parse_printed_json
from .base import SharedProcedure


class RSubkernel(CheckpointableBeakerSubkernel):
    """R through IRkernel (kernelspec ``ir``, or any ``language: R`` one)."""

    DISPLAY_NAME = "R"
    SLUG = "rlang"
    KERNEL_NAME = "ir"
    SERIALIZATION_EXTENSION = "rds"
    WEIGHT = 60
    DATAFRAME_TYPE_NAME = "data.frame"
    kernelspec_names = ("ir",)
    kernelspec_languages = ("r",)
    FETCH_STATE_CODE = SharedProcedure("state")

    @classmethod
    def parse_subkernel_return(cls, execution_result: Mapping[str, Any]) -> Any:
        """What the code printed: a JSON document, or (upstream's form) a printed R string
        such as ``[1] "{...}"`` holding one."""
        text = "".join(str(chunk) for chunk in execution_result.get("stdout_list") or [])
        printed = re.sub(r"^\[\d*\]\s*", "", text.strip())
        if printed.startswith('"'):
            try:
                return json.loads(ast.literal_eval(printed))
            except (ValueError, SyntaxError, TypeError):
                pass
        return parse_printed_json(execution_result)
