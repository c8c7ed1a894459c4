"""The dataset context: a CSV file as the language's table type, in Python, R and Julia.

``context_info``: ``{"path": "<csv file>", "variable": "df"}`` (``variable`` optional).

* Python: a pandas ``DataFrame``; R: a ``data.frame``; Julia: a ``NamedTuple`` of column
  vectors (a Tables.jl column table, built with the standard library's ``DelimitedFiles``).
* Actions: ``describe_dataset``, ``preview_dataset {rows}``,
  ``filter_dataset {column, op, value, target}``.
* After each cell, a ``preview`` of the first rows.
"""

from __future__ import annotations

import math
import re
from typing import Any

from beaker_kernel.errors import ContextInfoError, MessageError
from beaker_kernel.lib.context import BeakerContext
from beaker_kernel.lib.utils import action

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
OPERATORS = ("==", "!=", "<", "<=", ">", ">=")


def _check_identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise MessageError(
            f"{what} must be a variable name (letters, digits, underscores), got {value!r}"
        )
    return value


class DatasetContext(BeakerContext):
    """A CSV file loaded as a table in Python, R or Julia."""

    SLUG = "dataset"
    agent_cls = f"{__package__}.agent:DatasetAgent"

    def __init__(self, beaker_kernel: Any, config: dict[str, Any]) -> None:
        super().__init__(beaker_kernel, self.agent_cls, config)

    @property
    def variable(self) -> str:
        return str(self.config["context_info"].get("variable", "df"))

    async def setup(
        self,
        context_info: dict[str, Any] | None = None,
        parent_header: dict[str, Any] | None = None,
    ) -> None:
        info = dict(context_info or {})
        path = info.get("path")
        if not isinstance(path, str) or not path:
            raise ContextInfoError(
                'The dataset context needs context_info {"path": "<a CSV file>", '
                '"variable": "df"}: path is missing'
            )
        info.setdefault("variable", "df")
        try:
            _check_identifier(info["variable"], "context_info.variable")
        except MessageError as e:
            raise ContextInfoError(e.message) from e
        self.config["context_info"] = info
        await self.run_procedure("setup", path=path, variable=info["variable"])

    async def generate_preview(self) -> dict[str, Any]:
        """The first rows of the dataset."""
        preview = await self.run_procedure("preview", variable=self.variable, rows=5)
        return {"dataset": {self.variable: {"application/json": preview}}}

    @action(default_payload="{}")
    async def describe_dataset(self, message: Any) -> Any:
        """Each column's name, type, count of present values, and min/max/mean if numeric."""
        return await self.run_procedure("describe", variable=self.variable)

    @action(default_payload='{"rows": 5}')
    async def preview_dataset(self, message: Any) -> Any:
        """The first ``rows`` rows: {variable, columns, rows, total_rows}."""
        rows = (message.content or {}).get("rows", 5)
        if not isinstance(rows, int) or isinstance(rows, bool) or not 0 <= rows <= 1000:
            raise MessageError(f"rows must be an integer from 0 to 1000, got {rows!r}")
        return await self.run_procedure("preview", variable=self.variable, rows=rows)

    @action(
        default_payload='{"column": "population", "op": ">", "value": 1000000, "target": "big"}'
    )
    async def filter_dataset(self, message: Any) -> Any:
        """Keep the rows where ``column op value``; store them in ``target``; {variable, rows}."""
        content = message.content or {}
        column, op, value = content.get("column"), content.get("op"), content.get("value")
        target = content.get("target", "filtered")
        if not isinstance(column, str):
            raise MessageError("column must be a column name")
        if op not in OPERATORS:
            raise MessageError(f"op must be one of {', '.join(OPERATORS)}, got {op!r}")
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            raise MessageError("value must be a number or a string")
        if isinstance(value, float) and not math.isfinite(value):
            raise MessageError(f"value must be a finite number, got {value}")
        _check_identifier(target, "target")
        return await self.run_procedure(
            "filter", variable=self.variable, column=column, op=op, value=value, target=target
        )
