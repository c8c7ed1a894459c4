"""Subkernel definitions: which installed kernel serves a language.

A *subkernel definition* names a language the way Beaker front ends do (``python3``,
``rlang``, ``julia``) and knows how to recognise a kernelspec that runs it. Definitions
are plugins found through the ``beaker.subkernels`` entry point group; the built-in ones
are registered the same way as third-party ones (see ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar

from ..errors import SubkernelUnavailableError, UnknownLanguageError

ENTRY_POINT_GROUP = "beaker.subkernels"


class Subkernel:
    """Describes one subkernel language.

    Subclasses set the class attributes and may override :meth:`matches_kernelspec`.
    Instances carry no state: they are looked up by :func:`get_subkernel`.
    """

    #: The language name front ends use (``context_setup_request.language``).
    slug: ClassVar[str]
    #: A human-readable name.
    display_name: ClassVar[str]
    #: Kernelspec names tried first, in order.
    kernelspec_names: ClassVar[tuple[str, ...]] = ()
    #: Kernelspec ``language`` values (lower case) that also identify this language.
    kernelspec_languages: ClassVar[tuple[str, ...]] = ()

    def matches_kernelspec(self, name: str, spec: Mapping[str, Any]) -> bool:
        """Whether the kernelspec ``name`` (with ``spec`` = its kernel.json) runs this language."""
        language = str(spec.get("language", "")).lower()
        return name in self.kernelspec_names or language in self.kernelspec_languages

    def answers_to(self, name: str) -> bool:
        """Whether a front end's language ``name`` means this subkernel.

        Front ends send either the subkernel slug or a kernelspec name
        (``python3``, ``ir``, ``julia-1.10``).
        """
        if name == self.slug or name in self.kernelspec_names:
            return True
        return any(name.startswith(f"{lang}-") for lang in self.kernelspec_languages)

    def choose_kernelspec(self, specs: Mapping[str, Mapping[str, Any]]) -> str:
        """Pick the kernelspec that runs this language from ``specs`` (name → kernel.json).

        Raises :class:`SubkernelUnavailableError` when none does.
        """
        for name in self.kernelspec_names:
            if name in specs:
                return name
        for name in sorted(specs):
            if self.matches_kernelspec(name, specs[name]):
                return name
        raise SubkernelUnavailableError(
            f"No kernel for {self.display_name} is installed (looked for kernelspecs "
            f"{', '.join(self.kernelspec_names) or '-'} or language "
            f"{', '.join(self.kernelspec_languages)}). Installed kernels: "
            f"{', '.join(sorted(specs)) or 'none'}."
        )

    def info(self, kernelspec_name: str) -> dict[str, str]:
        """The ``language`` entry of the context info sent to front ends."""
        return {"slug": self.slug, "subkernel": kernelspec_name}


def load_subkernels() -> dict[str, Subkernel]:
    """Instantiate every subkernel definition registered under ``beaker.subkernels``."""
    found: dict[str, Subkernel] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Subkernel)):
            raise TypeError(f"Entry point {ep.name!r} = {ep.value!r} is not a Subkernel subclass")
        found[cls.slug] = cls()
    return found


def get_subkernel(name: str, subkernels: Mapping[str, Subkernel]) -> Subkernel:
    """The definition that answers to the front end's language ``name``."""
    if name in subkernels:
        return subkernels[name]
    for subkernel in subkernels.values():
        if subkernel.answers_to(name):
            return subkernel
    raise UnknownLanguageError(
        f"Unknown language {name!r}. Known languages: {', '.join(sorted(subkernels))}."
    )
