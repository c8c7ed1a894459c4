"""Values reach subkernel code as literals of its language, unchanged by the trip."""

from __future__ import annotations

from typing import Any

import pytest

from beaker_kernel.checkpoints import templates

from .conftest import Subkernel

STRINGS = [
    "plain",
    "quote \" and ' apostrophe",
    "back\\slash \\n \\U{41}",
    "dollar $x $(1 + 1) ${y}",
    "tab\tnew\nline\rreturn",
    "é ü 漢字 😀",
    "percent %s {braces} {{ jinja }}",
    "control \x01 \x1f \x7f",
    "",
]

ECHO = {
    # Each prints its literal back as JSON; Julia through the JSON writer the templates use.
    "python3": "import json as _j\nprint(_j.dumps({{ value | literal }}))\ndel _j",
    "rlang": "cat(jsonlite::toJSON({{ value | literal }}, auto_unbox = TRUE))",
    "julia": (
        'let\n{% include "_json.jinja" %}\n    println(__beaker_json({{ value | literal }}))\nend'
    ),
}


def echo(kernel: Subkernel, value: Any) -> Any:
    source = templates.environment(kernel.language.slug).from_string(ECHO[kernel.language.slug])
    return kernel.value(source.render(value=value))


async def test_strings_come_back_unchanged(kernel: Subkernel) -> None:
    for text in STRINGS:
        assert echo(kernel, text) == text, text
    # R writes a one-element character vector unboxed, so compare lists of two or more.
    assert echo(kernel, STRINGS) == STRINGS


async def test_numbers_and_mappings_come_back_unchanged(kernel: Subkernel) -> None:
    assert echo(kernel, 1073741824) == 1073741824
    assert echo(kernel, 3) == 3
    assert echo(kernel, {"files": {"a b": "1.pickle", "c": "2.pickle"}, "n": 2}) == {
        "files": {"a b": "1.pickle", "c": "2.pickle"},
        "n": 2,
    }
    assert echo(kernel, True) is True


def test_literals_of_each_language() -> None:
    assert templates.python_literal({"a": [1, None, True]}) == "{'a': [1, None, True]}"
    assert templates.r_literal(None) == "NULL"
    assert templates.r_literal(3) == "3L"
    assert templates.r_literal(10 * 1024**3) == "10737418240.0"
    assert templates.r_literal([]) == "character(0)"
    assert templates.r_literal(["a", "b"]) == 'c("a", "b")'
    assert templates.r_literal({}) == "structure(list(), names = character(0))"
    assert templates.r_literal({"k": 1.5}) == 'list("k" = 1.5)'
    assert templates.r_literal("é\n") == '"\\U{e9}\\n"'
    assert templates.julia_literal("a $b") == '"a \\$b"'
    assert templates.julia_literal({"k": [1]}) == 'Dict{String,Any}("k" => Any[1])'
    assert templates.julia_literal(None) == "nothing"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("inf"), "has no literal in every language"),
        (float("nan"), "has no literal in every language"),
        ("nul \0", "holds a NUL or a lone surrogate"),
        ("lone \ud800", "holds a NUL or a lone surrogate"),
        ({1: "x"}, "keys must be strings"),
        (object(), "object values cannot be passed"),
    ],
)
def test_values_without_a_literal_everywhere_are_refused(value: Any, message: str) -> None:
    for literal in (templates.python_literal, templates.r_literal, templates.julia_literal):
        with pytest.raises(ValueError, match=message):
            literal(value)
    with pytest.raises(ValueError, match="does not fit Julia's Int64"):
        templates.julia_literal(2**64)


def test_every_language_has_every_operation() -> None:
    for language in templates.LANGUAGES:
        for operation in ("save", "load", "drop", "discard"):
            assert (templates.TEMPLATES / language / f"{operation}.jinja").is_file()
