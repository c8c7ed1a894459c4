"""Shared pieces of the built-in subkernel definitions."""

from __future__ import annotations

from typing import Any


class SharedProcedure:
    """A class attribute holding a shared procedure, rendered for the class's language.

    ``FETCH_STATE_CODE`` is upstream's name for the code that reads the user's variables;
    Beaker keeps that code in the shared ``state`` procedure of each language and
    renders it the first time it is asked for (never at import time).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._code: dict[str, str] = {}

    def __get__(self, instance: Any, owner: type[Any]) -> str:
        slug: str = owner.SLUG
        if slug not in self._code:
            from ..lib.procedures import shared_procedures

            self._code[slug] = shared_procedures(slug).render(self.name)
        return self._code[slug]
