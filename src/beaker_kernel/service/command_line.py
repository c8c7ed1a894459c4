"""The service's command line: Jupyter Server's options, and nothing it would ignore.

Jupyter Server only warns about an option it does not know (``--prot=9000``, a word
left over from a shell script) and then runs with its defaults: a service on a port
nobody expects, or with a setting nobody asked for. The Beaker service stops instead,
through the same path as a bad value (``--port=abc``): one line that names the
argument, exit status 1, no traceback.

Accepted: every alias and flag of the server (``--port``, ``--ip``, ``--debug``…),
``--Class.trait=value`` for any class (extensions bring their own) and what the
commands add before parsing (``--dev-ui``, see :func:`.app.main`). Refused: other
``--names`` and arguments that are no option's value (Jupyter Server would take them
for files to open).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from traitlets.config.loader import ArgumentError, KVArgParseConfigLoader

#: Where to look when an option is refused.
HELP_HINT = "--help-all lists every option"


class StrictCommandLineLoader(KVArgParseConfigLoader):
    """traitlets' command-line loader that refuses unknown options and stray arguments.

    :class:`~.app.BeakerServerApp` creates it in ``_create_loader``; argparse's own
    errors are raised as :class:`ArgumentError` too, never printed with
    the whole usage. traitlets' :class:`ArgumentError` is what the server's
    ``catch_config_error`` turns into that one line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)

    def _parse_args(self, args: Any) -> Any:
        check_arguments(list(args), aliases=self.aliases, flags=self.flags)
        try:
            return super()._parse_args(args)
        except argparse.ArgumentError as e:
            raise ArgumentError(f"{e} ({HELP_HINT})") from e


def _names(table: Mapping[Any, Any]) -> set[str]:
    names: set[str] = set()
    for key in table:
        names.update(key if isinstance(key, tuple) else (key,))
    return names


def check_arguments(
    args: Iterable[str], *, aliases: Mapping[Any, Any], flags: Mapping[Any, Any]
) -> None:
    """Raise :class:`ArgumentError` for the first argument the server would not use.

    ``aliases`` take a value (``--port 9000`` or ``--port=9000``), ``flags`` do not
    (``--debug``), a name in both takes one when the next argument is not an option,
    and ``--Class.trait`` always takes one.
    """
    alias_names, flag_names = _names(aliases), _names(flags)
    remaining = list(args)
    while remaining:
        arg = remaining.pop(0)
        if arg == "--":
            if remaining:
                raise ArgumentError(f"unexpected argument {remaining[0]!r} after '--'")
            return
        if arg == "-" or not arg.startswith("-"):
            raise ArgumentError(
                f"unexpected argument {arg!r}: every option starts with -- ({HELP_HINT})"
            )
        name, has_value, _ = arg.lstrip("-").partition("=")
        if "." in name:
            takes_value = True
        elif name in alias_names:
            next_is_value = bool(remaining) and not remaining[0].startswith("-")
            takes_value = name not in flag_names or next_is_value
        elif name in flag_names:
            if has_value:
                raise ArgumentError(f"option --{name} takes no value ({HELP_HINT})")
            takes_value = False
        else:
            raise ArgumentError(f"unknown option {arg.partition('=')[0]} ({HELP_HINT})")
        if takes_value and not has_value:
            if not remaining:
                raise ArgumentError(f"option --{name} needs a value")
            remaining.pop(0)


__all__ = ["HELP_HINT", "StrictCommandLineLoader", "check_arguments"]
