"""The subkernel code of checkpoints: Jinja templates per language, and literals for them.

``templates/<language>/<name>.jinja`` renders the code of one operation (``save``,
``load``, ``drop``, ``discard``). Values reach the code as literals of its language,
written by the ``literal`` filter of that language's environment, never pasted in as text:
a path or a variable name with quotes, backslashes, ``$`` or non-ASCII characters stays
one string.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Subkernel languages (Beaker's subkernel slugs) that have checkpoint templates.
LANGUAGES = ("python3", "rlang", "julia")

#: R keeps integers in 32 bits; larger whole numbers are written as doubles.
_R_INT_MAX = 2**31 - 1


def _check(value: Any) -> None:
    """Refuse what has no literal in every language, before writing any of it."""
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str):
            for ch in value:
                if ch == "\0" or 0xD800 <= ord(ch) <= 0xDFFF:
                    raise ValueError(
                        f"{value!r} holds a NUL or a lone surrogate, which R and Julia "
                        "strings cannot hold"
                    )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no literal in every language; pass a finite number")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"dictionary keys must be strings, not {key!r}")
            _check(key)
            _check(item)
        return
    raise ValueError(f"{type(value).__name__} values cannot be passed to subkernel code")


def python_literal(value: Any) -> str:
    """A Python literal (``repr`` of JSON-like data is valid Python)."""
    _check(value)
    return repr(value)


def _r_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif code < 0x20 or code == 0x7F or code > 0x7E:
            # \U{...} keeps the code ASCII, so it parses the same in any session locale
            out.append(f"\\U{{{code:x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def r_literal(value: Any) -> str:
    """An R literal: ``NULL``, ``TRUE``, ``3L``, ``"text"``, ``c("a")``, ``list("k" = ...)``."""
    _check(value)
    return _r(value)


def _r(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"{value}L" if abs(value) <= _R_INT_MAX else f"{float(value)!r}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _r_string(value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, str) for item in value):
            return f"c({', '.join(map(_r_string, value))})" if value else "character(0)"
        return f"list({', '.join(map(_r, value))})"
    if isinstance(value, dict):
        if not value:
            return "structure(list(), names = character(0))"
        return "list(" + ", ".join(f"{_r_string(k)} = {_r(v)}" for k, v in value.items()) + ")"
    raise AssertionError(value)  # _check let something through


def julia_literal(value: Any) -> str:
    """A Julia literal: ``nothing``, ``"text"`` (``$`` escaped), ``Any[...]``, ``Dict(...)``."""
    _check(value)
    return _julia(value)


def _julia(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{value} does not fit Julia's Int64")
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a Julia string once `$` cannot interpolate; ensure_ascii=False
        # because Julia reads a JSON surrogate pair as two invalid characters.
        return json.dumps(value, ensure_ascii=False).replace("$", "\\$")
    if isinstance(value, (list, tuple)):
        return f"Any[{', '.join(map(_julia, value))}]"
    if isinstance(value, dict):
        items = ", ".join(f"{_julia(k)} => {_julia(v)}" for k, v in value.items())
        return f"Dict{{String,Any}}({items})"
    raise AssertionError(value)  # _check let something through


_LITERALS: dict[str, Callable[[Any], str]] = {
    "python3": python_literal,
    "rlang": r_literal,
    "julia": julia_literal,
}


@functools.cache
def environment(language: str) -> jinja2.Environment:
    """The template environment of one language (its folder, its ``literal`` filter).

    Jinja is imported with the first one: a kernel that takes no checkpoint (and has no
    context, whose procedures use it too) starts without it."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES / language)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["literal"] = _LITERALS[language]
    if language == "julia":
        env.globals["module"] = _julia_module_name()
    return env


def _julia_module_name() -> str:
    """The name of the module of Main that holds the Julia checkpoint functions.

    It is defined once per session; a name that changes with its code means a subkernel
    that outlives an upgrade of Beaker gets the new code, not the old module.
    """
    digest = hashlib.sha256()
    for part in ("_module.jinja", "_json.jinja"):
        digest.update((TEMPLATES / "julia" / part).read_bytes())
    return f"__beaker_checkpoints_{digest.hexdigest()[:12]}"


def render(language: str, name: str, /, **variables: Any) -> str:
    """The code of operation ``name`` in ``language``, with ``variables`` as literals."""
    return environment(language).get_template(f"{name}.jinja").render(**variables)
