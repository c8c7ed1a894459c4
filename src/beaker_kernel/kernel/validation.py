"""Checks of the standard shell requests Beaker forwards to the subkernel.

A kernel drops a request it cannot read: ipykernel logs ``{"code": null}`` in an
``execute_request`` or a ``complete_request`` without ``cursor_pos`` and sends no reply,
so the front end waits forever. Beaker checks the content of these requests against the
Jupyter messaging specification before forwarding them, and answers a malformed one
itself with ``status: error``, as a kernel should. Only the requests below are decoded
(their content is small); nothing on the iopub path is.
"""

from __future__ import annotations

import json
from typing import Any

#: Field → (the types it may have, whether it is required), per request type.
_Fields = dict[str, tuple[tuple[type, ...], bool]]

_STRING = (str,)
_INTEGER = (int,)
_BOOLEAN = (bool,)
_OPTIONAL_STRING = (str, type(None))
_OPTIONAL_INTEGER = (int, type(None))

FIELDS: dict[str, _Fields] = {
    "execute_request": {
        "code": (_STRING, True),
        "silent": (_BOOLEAN, False),
        "store_history": (_BOOLEAN, False),
        "user_expressions": ((dict,), False),
        "allow_stdin": (_BOOLEAN, False),
        "stop_on_error": (_BOOLEAN, False),
    },
    "complete_request": {"code": (_STRING, True), "cursor_pos": (_INTEGER, True)},
    "inspect_request": {
        "code": (_STRING, True),
        "cursor_pos": (_INTEGER, True),
        "detail_level": (_INTEGER, False),
    },
    "is_complete_request": {"code": (_STRING, True)},
    "history_request": {
        "hist_access_type": (_STRING, True),
        "output": (_BOOLEAN, True),
        "raw": (_BOOLEAN, True),
        "session": (_OPTIONAL_INTEGER, False),
        "start": (_OPTIONAL_INTEGER, False),
        "stop": (_OPTIONAL_INTEGER, False),
        "n": (_OPTIONAL_INTEGER, False),
        "pattern": (_OPTIONAL_STRING, False),
        "unique": (_BOOLEAN, False),
    },
    "comm_info_request": {"target_name": (_OPTIONAL_STRING, False)},
    "kernel_info_request": {},
}

#: The request types :func:`problem` checks.
CHECKED_TYPES = frozenset(FIELDS)

_JSON_TYPES = {str: "a string", int: "an integer", bool: "true or false", dict: "an object"}
_HISTORY_TYPES = ("range", "tail", "search")


def problem(msg_type: str, raw_content: bytes) -> str | None:
    """What is wrong with the content of the standard request ``msg_type``, or ``None``."""
    fields = FIELDS.get(msg_type)
    if fields is None:
        return None
    try:
        content = json.loads(raw_content)
    except ValueError as e:
        return f"{msg_type}: the content is not JSON ({e})"
    if not isinstance(content, dict):
        return f"{msg_type}: the content must be a JSON object"
    for name, (types, required) in fields.items():
        if name not in content:
            if required:
                return f"{msg_type}: {name!r} is missing"
            continue
        value = content[name]
        # JSON true/false are Python bools, which are ints too
        wrong = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        if wrong:
            wanted = " or ".join(_JSON_TYPES.get(t, "null") for t in types)
            return f"{msg_type}: {name!r} must be {wanted}, not {_shown(value)}"
    if msg_type == "history_request":
        # the kernel takes these fields as keyword arguments
        unknown = sorted(set(content) - set(fields))
        if unknown:
            return f"history_request: unknown field {unknown[0]!r}; it takes {', '.join(fields)}"
        if content["hist_access_type"] not in _HISTORY_TYPES:
            return (
                "history_request: 'hist_access_type' must be one of "
                f"{', '.join(_HISTORY_TYPES)}, not {_shown(content['hist_access_type'])}"
            )
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
