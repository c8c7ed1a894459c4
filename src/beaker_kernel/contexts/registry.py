"""Finding contexts: entry points and folders on a search path.

* Entry points in the group ``beaker.contexts`` (name → ``module:Class``). The bundled
  contexts are registered this way too.
* Folders on :attr:`ContextRegistry.context_path` (environment ``BEAKER_CONTEXT_PATH``,
  ``os.pathsep``-separated). Each sub-folder with a ``context.py`` defining a
  :class:`~beaker_kernel.contexts.base.BeakerContext` subclass is a context, with its
  ``procedures/<language>/`` beside it. This is how users mount their own contexts into a
  container.

Discovery happens on first use, never at import time. A folder context wins over an
entry point of the same slug, so a deployment can override a bundled context.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from traitlets import List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import ContextError, UnknownContextError
from .base import BeakerContext

ENTRY_POINT_GROUP = "beaker.contexts"

log = logging.getLogger(__name__)


class ContextRegistry(LoggingConfigurable):
    """Every context this installation offers, by slug."""

    context_path = List(
        Unicode(),
        help="Folders searched for context folders (each with a context.py). "
        "Environment: BEAKER_CONTEXT_PATH (os.pathsep-separated).",
    ).tag(config=True)

    @default("context_path")
    def _default_context_path(self) -> list[str]:
        raw = os.environ.get("BEAKER_CONTEXT_PATH", "")
        return [p for p in raw.split(os.pathsep) if p]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._contexts: dict[str, type[BeakerContext]] | None = None
        self.problems: dict[str, str] = {}

    def all(self) -> dict[str, type[BeakerContext]]:
        """slug → context class, discovered on the first call."""
        if self._contexts is None:
            self._contexts = self._discover()
        return self._contexts

    def get(self, slug: str) -> type[BeakerContext]:
        contexts = self.all()
        if slug not in contexts:
            hint = f" ({self.problems[slug]})" if slug in self.problems else ""
            raise UnknownContextError(
                f"Unknown context {slug!r}{hint}. Available contexts: "
                f"{', '.join(sorted(contexts)) or 'none'}."
            )
        return contexts[slug]

    def reload(self) -> None:
        self._contexts = None

    def _discover(self) -> dict[str, type[BeakerContext]]:
        found: dict[str, type[BeakerContext]] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
            except Exception as e:
                # One broken plugin must not hide the others; its slug reports why.
                self.problems[ep.name] = f"entry point {ep.value} failed to load: {e}"
                log.exception("Context entry point %s failed to load", ep.value)
                continue
            if not (isinstance(cls, type) and issubclass(cls, BeakerContext)):
                self.problems[ep.name] = f"{ep.value} is not a BeakerContext subclass"
                continue
            found[cls.slug] = cls
        for folder in self.context_path:
            for slug, cls in self._scan_folder(Path(folder)).items():
                found[slug] = cls
        return found

    def _scan_folder(self, folder: Path) -> dict[str, type[BeakerContext]]:
        found: dict[str, type[BeakerContext]] = {}
        if not folder.is_dir():
            log.warning("Context folder %s does not exist", folder)
            return found
        for child in sorted(folder.iterdir()):
            module_file = child / "context.py"
            if not module_file.is_file():
                continue
            try:
                cls = load_context_file(module_file)
            except ContextError as e:
                self.problems[child.name] = e.message
                log.error("%s", e.message)
                continue
            found[cls.slug] = cls
        return found


def load_context_file(path: Path) -> type[BeakerContext]:
    """Import ``path`` (a context folder's ``context.py``) and return its context class."""
    module_name = f"beaker_user_contexts.{path.parent.name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ContextError(f"Cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise ContextError(f"Context file {path} failed to import: {e}") from e
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BeakerContext)
        and obj.__module__ == module_name
        and hasattr(obj, "slug")
    ]
    if len(classes) != 1:
        raise ContextError(
            f"{path} must define exactly one BeakerContext subclass with a slug "
            f"(found {len(classes)})"
        )
    cls = classes[0]
    if cls.folder is None:
        cls.folder = path.parent
    return cls
