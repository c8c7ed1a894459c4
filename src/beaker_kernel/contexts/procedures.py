"""Procedures: Jinja templates of code, one folder per subkernel language.

A context's procedures live in ``<context folder>/procedures/<language>/<name>.jinja``;
shared ones in the package's ``procedures/<language>/``. A context's own template wins
over a shared one of the same name. Templates render code, so there is no HTML
autoescaping, and a variable the caller did not pass is an error, never an empty string.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2

from ..bundled import bundled_folder
from ..errors import ProcedureNotFoundError, ProcedureRenderError

SUFFIX = ".jinja"

#: Shared procedures shipped with the package (``procedures/`` at the repository top).
SHARED_PROCEDURES = bundled_folder("procedures")


def _json_filter(value: Any) -> str:
    """``{{ value | tojson }}`` without HTML escaping: a JSON literal for any language."""
    _check_finite(value)
    return json.dumps(value)


def _julia_literal(value: Any) -> str:
    """A Julia literal: JSON, with ``$`` escaped so strings do not interpolate."""
    _check_finite(value)
    # ensure_ascii=False: Julia reads a JSON surrogate pair as two invalid characters
    return json.dumps(value, ensure_ascii=False).replace("$", "\\$")


def _check_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} has no literal in every language; pass a finite number")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_finite(item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_finite(item)


class ProcedureSet:
    """The procedures one context has for one language."""

    def __init__(self, language: str, folders: list[Path]) -> None:
        self.language = language
        self.folders = [folder / language for folder in folders]
        self.environment = jinja2.Environment(
            auto_reload=False,
            loader=jinja2.FileSystemLoader([str(f) for f in self.folders if f.is_dir()]),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["tojson"] = _json_filter
        self.environment.filters["julia_literal"] = _julia_literal
        self._names: frozenset[str] | None = None

    def names(self) -> list[str]:
        """Names of the procedures available (without the ``.jinja`` suffix)."""
        found: set[str] = set()
        for folder in self.folders:
            if folder.is_dir():
                found.update(
                    p.name[: -len(SUFFIX)]
                    for p in folder.iterdir()
                    if p.name.endswith(SUFFIX) and not p.name.startswith("_")
                )
        return sorted(found)

    def has(self, name: str) -> bool:
        # Asked after every user cell: look at the disk once per context set-up.
        if self._names is None:
            self._names = frozenset(self.names())
        return name in self._names

    def render(self, name: str, /, **variables: Any) -> str:
        """The code of procedure ``name`` rendered with ``variables``."""
        try:
            template = self.environment.get_template(f"{name}{SUFFIX}")
        except jinja2.TemplateNotFound as e:
            raise ProcedureNotFoundError(
                f"No procedure {name!r} for language {self.language!r} "
                f"(available: {', '.join(self.names()) or 'none'})"
            ) from e
        try:
            return template.render(**variables)
        except jinja2.UndefinedError as e:
            raise ProcedureRenderError(
                f"Procedure {name!r} ({self.language}) needs a value that was not given: "
                f"{e.message}"
            ) from e
        except jinja2.TemplateError as e:
            raise ProcedureRenderError(
                f"Procedure {name!r} ({self.language}) is broken: {e}"
            ) from e
        except ValueError as e:
            raise ProcedureRenderError(f"Procedure {name!r} ({self.language}): {e}") from e


def languages_in(folder: Path) -> set[str]:
    """Languages a ``procedures`` folder has templates for."""
    if not folder.is_dir():
        return set()
    return {
        child.name
        for child in folder.iterdir()
        if child.is_dir() and any(p.name.endswith(SUFFIX) for p in child.iterdir())
    }
