"""Procedures: Jinja templates of code, one folder per subkernel language.

A context's procedures live in ``<context folder>/procedures/<language slug>/``; shared
ones in Beaker's ``procedures/<language slug>/``. A context's own template wins over an
inherited or shared one of the same name. Templates render code, so there is never HTML
autoescaping.

Two kinds of file are procedures:

* ``<name>.jinja`` — Beaker's form. A variable the caller did not pass is an error
  naming the procedure and the variable, never an empty string; ``{% include %}``,
  and the filters ``tojson`` and ``julia_literal`` (literals of any value, safe in every
  language) are available.
* any other file (``<name>.py``, ``<name>.r``, ``<name>.jl``, ``<name>.json``, …) —
  upstream Beaker's form, rendered as upstream renders it: an undefined variable renders
  as an empty string (and is logged), and the file's last newline is dropped. Names of
  files in sub-folders contain ``/``; files starting with ``__`` are skipped.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path
from typing import Any

import jinja2

from ..bundled import bundled_folder
from ..errors import ProcedureNotFoundError, ProcedureRenderError

log = logging.getLogger(__name__)

SUFFIX = ".jinja"


@functools.cache
def shared_folder() -> Path:
    """Beaker's shared procedures (``procedures/`` at the repository top)."""
    return bundled_folder("procedures")


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


class _LoggedUndefined(jinja2.Undefined):
    """Empty and false, like upstream Beaker's undefined values, but said so in the log."""

    def _note(self) -> None:
        log.warning(
            "A procedure used the undefined variable %r; it rendered as empty",
            self._undefined_name,
        )

    def __str__(self) -> str:
        self._note()
        return ""

    def __bool__(self) -> bool:
        self._note()
        return False


def _environment(folders: list[Path], *, strict: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        auto_reload=False,
        loader=jinja2.FileSystemLoader([str(f) for f in folders if f.is_dir()]),
        autoescape=False,
        undefined=jinja2.StrictUndefined if strict else _LoggedUndefined,
        keep_trailing_newline=strict,
        trim_blocks=strict,
        lstrip_blocks=strict,
    )
    environment.filters["tojson"] = _json_filter
    environment.filters["julia_literal"] = _julia_literal
    return environment


class ProcedureSet:
    """The procedures one context has for one language."""

    def __init__(self, language: str, folders: list[Path]) -> None:
        self.language = language
        self.folders = [folder / language for folder in folders]
        self.environment = _environment(self.folders, strict=True)
        self._upstream = _environment(self.folders, strict=False)
        self._files: dict[str, tuple[str, bool]] | None = None

    def _index(self) -> dict[str, tuple[str, bool]]:
        """name → (template path, Beaker form?); looked at on the disk once."""
        if self._files is None:
            files: dict[str, tuple[str, bool]] = {}
            # Most specific folder last, so that it wins.
            for folder in reversed(self.folders):
                if not folder.is_dir():
                    continue
                for path in sorted(folder.rglob("*")):
                    if not path.is_file():
                        continue
                    relative = path.relative_to(folder).as_posix()
                    if path.name.startswith(("_", ".")):
                        continue  # includes of Beaker's form, upstream's __init__.py, dot files
                    if path.name.endswith(SUFFIX):
                        files[relative[: -len(SUFFIX)]] = (relative, True)
                    else:
                        files[relative.rsplit(".", 1)[0] if "." in path.name else relative] = (
                            relative,
                            False,
                        )
            self._files = files
        return self._files

    def names(self) -> list[str]:
        """Names of the procedures available."""
        return sorted(self._index())

    def has(self, name: str) -> bool:
        return name in self._index()

    def render(self, name: str, /, **variables: Any) -> str:
        """The code of procedure ``name`` rendered with ``variables``."""
        entry = self._index().get(name)
        if entry is None:
            raise ProcedureNotFoundError(
                f"No procedure {name!r} for language {self.language!r} "
                f"(available: {', '.join(self.names()) or 'none'})"
            )
        path, strict = entry
        environment = self.environment if strict else self._upstream
        try:
            template = environment.get_template(path)
            return template.render(**variables)
        except UnicodeDecodeError as e:
            raise ProcedureRenderError(
                f"Procedure {name!r} ({self.language}) is not text: {e}"
            ) from e
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
    return {child.name for child in folder.iterdir() if child.is_dir() and any(child.iterdir())}


@functools.cache
def shared_procedures(language: str) -> ProcedureSet:
    """Beaker's shared procedures for ``language`` (``state``, …)."""
    return ProcedureSet(language, [shared_folder()])
