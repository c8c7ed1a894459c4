"""The dataset context: a CSV file as the language's table type, in Python, R and Julia.

``context_info``: ``{"path": "<csv file>", "variable": "df"}`` (``variable`` optional).

* Python: a pandas ``DataFrame``; R: a ``data.frame``; Julia: a ``NamedTuple`` of column
  vectors (a Tables.jl column table, built with the standard library's ``DelimitedFiles``).
* Actions: ``describe_dataset``, ``preview_dataset``, ``filter_dataset``.
* After each user cell, a ``preview`` of the first rows is published.
"""

from __future__ import annotations

import math
import re
from typing import Any

from beaker_kernel.contexts.base import BeakerContext, action
from beaker_kernel.errors import ContextInfoError, MessageError

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
OPERATORS = ("==", "!=", "<", "<=", ">", ">=")


def _check_identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise MessageError(
            f"{what} must be a variable name (letters, digits, underscores), got {value!r}"
        )
    return value


class DatasetContext(BeakerContext):
    slug = "dataset"
    display_name = "Dataset"
    required_info = ("path",)
    default_payload = {"path": "data.csv", "variable": "df"}
    preview_procedure = "preview"
    agent_prompt = (
        "You help the user explore a tabular dataset loaded from a CSV file into the "
        "variable named in the context. Inspect the variables before writing code, "
        "and prefer short code that the user can rerun."
    )

    @classmethod
    def validate_info(cls, context_info: Any) -> dict[str, Any]:
        info = super().validate_info(context_info)
        if not isinstance(info["path"], str) or not info["path"]:
            raise ContextInfoError("context_info.path must be the path of a CSV file")
        info.setdefault("variable", "df")
        try:
            _check_identifier(info["variable"], "context_info.variable")
        except MessageError as e:
            raise ContextInfoError(e.message) from e
        return info

    def get_code(self, name: str, /, **variables: Any) -> str:
        variables.setdefault("rows", 5)
        return super().get_code(name, **variables)

    @action()
    async def describe_dataset(self) -> Any:
        """Each column's name, type, count of present values, and min/max/mean if numeric."""
        return await self.run_procedure("describe")

    @action()
    async def preview_dataset(self, rows: int = 5) -> Any:
        """The first ``rows`` rows: {variable, columns, rows, total_rows}."""
        if not isinstance(rows, int) or isinstance(rows, bool) or not 0 <= rows <= 1000:
            raise MessageError(f"rows must be an integer from 0 to 1000, got {rows!r}")
        return await self.run_procedure("preview", rows=rows)

    @action()
    async def filter_dataset(
        self, column: str, op: str, value: Any, target: str = "filtered"
    ) -> Any:
        """Keep the rows where ``column op value``; store them in ``target``; {variable, rows}."""
        if not isinstance(column, str):
            raise MessageError("column must be a column name")
        if op not in OPERATORS:
            raise MessageError(f"op must be one of {', '.join(OPERATORS)}, got {op!r}")
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            raise MessageError("value must be a number or a string")
        if isinstance(value, float) and not math.isfinite(value):
            raise MessageError(f"value must be a finite number, got {value}")
        _check_identifier(target, "target")
        return await self.run_procedure("filter", column=column, op=op, value=value, target=target)
