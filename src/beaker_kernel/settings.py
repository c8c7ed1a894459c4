"""Environment fallbacks for settings.

Every setting is a traitlet with ``help=`` whose ``@default`` method reads an
environment variable through these helpers, so a bad value is reported the same way
everywhere: a warning naming the variable, then the built-in default.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("beaker_kernel")

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def env_str(*names: str, default: str = "") -> str:
    """The value of the first of ``names`` that is set and not empty."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return default


def env_float(name: str, default: float, *, positive: bool = True) -> float:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value != value or (positive and not value > 0) or (not positive and value < 0):
        kind = "a positive number" if positive else "a number ≥ 0"
        log.warning("%s=%r is not %s; using %g", name, raw, kind, default)
        return default
    return value


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        log.warning("%s=%r is not a positive whole number; using %d", name, raw, default)
        return default
    return value


def parse_bool(value: str | bool | None) -> bool | None:
    """``"true"``/``"false"`` (and 1/0, yes/no, on/off) in any case → bool; ``None`` stays."""
    if value is None or isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"Expected true or false, got {value!r}")


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = parse_bool(raw)
    except ValueError:
        log.warning("%s=%r is not true or false; using %s", name, raw, default)
        return default
    return default if value is None else value
