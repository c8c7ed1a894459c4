"""Every context this installation offers, found in three places.

1. Entry points in the group ``beaker.contexts`` (name → ``module:Class``). The
   bundled contexts are registered this way.
2. Upstream Beaker's ``share/beaker/contexts/<slug>.json`` mappings (see
   :mod:`.autodiscovery`), which packages built for upstream install.
3. Folders on :attr:`ContextRegistry.context_path` (``BEAKER_CONTEXT_PATH``): each
   sub-folder with a ``context.py`` is a context package (it may import its siblings, as
   in ``from .agent import MyAgent``), with ``procedures/<language>/`` beside it. This is
   how a deployment mounts contexts of its own into a container.

One rule for precedence: a later source overrides an earlier one with the same slug, so
a mounted folder can replace an installed context. A context that fails to import is
logged and reported when someone asks for it; the others load. Discovery happens on
first use, never at import time.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import logging
import os
import sys
from pathlib import Path
from typing import Any

from traitlets import List, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import ContextError, UnknownContextError
from .plugins import Candidates, Discovered, PluginError, candidates, load_candidate

ENTRY_POINT_GROUP = "beaker.contexts"

#: Package under which context folders of ``context_path`` are imported.
FOLDER_PACKAGE = "beaker_user_contexts"

log = logging.getLogger(__name__)


class ContextRegistry(LoggingConfigurable):
    """Context classes by slug."""

    context_path = List(
        Unicode(),
        help="Folders searched for context folders (each with a context.py). "
        "Environment: BEAKER_CONTEXT_PATH (os.pathsep-separated).",
    ).tag(config=True)

    @default("context_path")
    def _default_context_path(self) -> list[str]:
        raw = os.environ.get("BEAKER_CONTEXT_PATH", "")
        return [p for p in raw.split(os.pathsep) if p]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._found: Discovered | None = None
        self._candidates: Candidates | None = None
        self._everything_loaded = False

    @property
    def problems(self) -> dict[str, str]:
        return self._discovered().problems

    def names(self) -> list[str]:
        """The slugs on offer, without importing anything (folders excepted)."""
        self._discovered()
        assert self._candidates is not None
        assert self._found is not None
        return sorted({*self._candidates, *self._found.classes})

    def all(self) -> dict[str, type[Any]]:
        """slug → context class (every one imported), sorted by ``WEIGHT``, then slug."""
        found = self._discovered()
        if not self._everything_loaded:
            assert self._candidates is not None
            for slug in list(self._candidates):
                self._load(slug)
            self._everything_loaded = True
        classes = found.classes
        return dict(sorted(classes.items(), key=lambda item: (_weight(item[1]), item[0])))

    def origin(self, slug: str) -> str:
        return self._discovered().origins.get(slug, "")

    def get(self, slug: str) -> type[Any]:
        """The context ``slug``; only its own module is imported."""
        cls = self._find(slug)
        if cls is None:
            # Installed or mounted since the last look: look again before refusing.
            self.reload()
            cls = self._find(slug)
        if cls is None:
            found = self._discovered()
            hint = f" ({found.problems[slug]})" if slug in found.problems else ""
            raise UnknownContextError(
                f"Unknown context {slug!r}{hint}. Available contexts: "
                f"{', '.join(self.names()) or 'none'}."
            )
        return cls

    def _find(self, slug: str) -> type[Any] | None:
        found = self._discovered()
        if slug not in found.classes:
            self._load(slug)
        if slug not in found.classes:
            # a class may declare a SLUG other than the name it was registered under
            self.all()
        return found.classes.get(slug)

    def reload(self) -> None:
        self._found = None
        self._candidates = None
        self._everything_loaded = False

    def _load(self, slug: str) -> None:
        from .context import BeakerContext

        found = self._discovered()
        assert self._candidates is not None
        entry = self._candidates.pop(slug, None)
        if entry is None:
            return
        origin, load = entry
        try:
            cls = load_candidate("contexts", slug, origin, load, BeakerContext)
        except PluginError as e:
            found.fail(slug, str(e))
            return
        # a class may name its own slug (SLUG); its registration name is only a default
        found.add(slug_of(cls, slug), cls, origin)

    def _discovered(self) -> Discovered:
        if self._found is None:
            self._candidates = candidates("contexts", ENTRY_POINT_GROUP)
            self._found = self._folders()
            # a mounted folder overrides an installed context of the same slug
            for slug in self._found.classes:
                self._candidates.pop(slug, None)
        return self._found

    def _folders(self) -> Discovered:
        found = Discovered()
        for folder in self.context_path:
            path = Path(folder)
            if not path.is_dir():
                log.warning("Context folder %s does not exist", path)
                continue
            for child in sorted(path.iterdir()):
                if not (child / "context.py").is_file():
                    continue
                try:
                    cls = load_context_folder(child)
                except ContextError as e:
                    found.fail(child.name, e.message)
                    continue
                found.add(slug_of(cls, child.name), cls, str(child))
        return found


def _weight(cls: type[Any]) -> int:
    weight = getattr(cls, "WEIGHT", 50)
    return weight if isinstance(weight, int) else 50


def slug_of(cls: type[Any], fallback: str) -> str:
    """The slug a context class declares (``SLUG``, or a plain ``slug``), else ``fallback``."""
    for attribute in ("SLUG", "slug"):
        value = inspect.getattr_static(cls, attribute, None)
        if isinstance(value, str) and value:
            return value
    return fallback


def load_context_folder(folder: Path) -> type[Any]:
    """Import ``folder`` as a package and return the context class of its ``context.py``."""
    from .context import BeakerContext

    package = f"{FOLDER_PACKAGE}.{folder.name}"
    if FOLDER_PACKAGE not in sys.modules:
        parent = importlib.util.module_from_spec(
            importlib.machinery.ModuleSpec(FOLDER_PACKAGE, None, is_package=True)
        )
        parent.__path__ = []
        sys.modules[FOLDER_PACKAGE] = parent
    init = folder / "__init__.py"
    stale = [name for name in sys.modules if name == package or name.startswith(package + ".")]
    for name in stale:
        del sys.modules[name]
    try:
        if init.is_file():
            spec = importlib.util.spec_from_file_location(
                package, init, submodule_search_locations=[str(folder)]
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {init}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[package] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.util.module_from_spec(
                importlib.machinery.ModuleSpec(package, None, is_package=True)
            )
            module.__path__ = [str(folder)]
            sys.modules[package] = module
        context_module = importlib.import_module(f"{package}.context")
    except Exception as e:
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
        raise ContextError(f"The context folder {folder} failed to import: {e}") from e
    classes = [
        obj
        for obj in vars(context_module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BeakerContext)
        and obj.__module__ == context_module.__name__
    ]
    if len(classes) != 1:
        raise ContextError(
            f"{folder / 'context.py'} must define exactly one context class (found {len(classes)})"
        )
    return classes[0]
