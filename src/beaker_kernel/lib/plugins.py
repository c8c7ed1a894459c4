"""Finding plugins (contexts, subkernels): entry points and upstream's JSON mappings.

Packages written for upstream Beaker install one JSON *mapping* per plugin into
``share/beaker/<kind>/<slug>.json``: ``{"slug": ..., "package": "<module>", "class_name":
...}``. They are searched in these folders, from the most general to the most specific
(a later one overrides an earlier one with the same slug)::

    /usr/share/beaker, /usr/local/share/beaker, <sys.prefix>/share/beaker,
    ~/.local/share/beaker, $XDG_DATA_HOME/beaker, ~/.config/beaker, ~/.beaker

Upstream also searched ``./beaker`` and ``./.beaker`` under the working directory. Beaker
does not: the working directory is where user code writes files, and a mapping there
would make the kernel import a module of the user's choosing.

Nothing is read at import time. :mod:`.autodiscovery` offers this under upstream's names.

Entry points are read from every installed distribution's metadata, which takes 10 to 20 ms
(and the service starts subkernels ahead on its event loop). They are read once for every
group and kept while no folder on ``sys.path`` changes: installing, upgrading or removing a
package adds or removes entries in its folder, which changes the folder's modification
time (see :func:`installed_entry_points`). Mappings are read each time.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import EntryPoints, entry_points
from typing import Any, Literal, cast

log = logging.getLogger(__name__)

ResourceType = Literal["contexts", "subkernels", "apps", "commands", "integrations", "data"]

_entry_points_lock = threading.Lock()
_entry_points_seen: tuple[tuple[tuple[str, int | None], ...], EntryPoints] | None = None


def installed_entry_points(group: str) -> EntryPoints:
    """The entry points of ``group``: read again only when ``sys.path``, or the modification
    time of a folder on it, changed since the last read. (``importlib.metadata`` itself
    lists a folder again only when its modification time changed.)"""
    global _entry_points_seen
    stamp = _path_stamp()
    with _entry_points_lock:
        if _entry_points_seen is not None and _entry_points_seen[0] == stamp:
            return _entry_points_seen[1].select(group=group)
        # every group (typeshed still types a call without arguments as the old dict)
        everything = cast(EntryPoints, entry_points().select())
        _entry_points_seen = (stamp, everything)
    return everything.select(group=group)


def _path_stamp() -> tuple[tuple[str, int | None], ...]:
    """Each ``sys.path`` entry with its modification time (``None``: not there)."""
    stamp = []
    for entry in sys.path:
        try:
            mtime: int | None = os.stat(entry or ".").st_mtime_ns
        except OSError:
            mtime = None
        stamp.append((entry, mtime))
    return tuple(stamp)


def lib_locations() -> list[str]:
    """The existing ``beaker`` data folders, from the most general to the most specific."""
    raw = [
        "/usr/share/beaker",
        "/usr/local/share/beaker",
        os.path.join(sys.prefix, "share", "beaker"),
        os.path.expanduser("~/.local/share/beaker"),
    ]
    if os.environ.get("XDG_DATA_HOME"):
        raw.append(os.path.join(os.environ["XDG_DATA_HOME"], "beaker"))
    raw += [os.path.expanduser("~/.config/beaker"), os.path.expanduser("~/.beaker")]
    found: list[str] = []
    for location in raw:
        if location not in found and os.path.isdir(location):
            found.append(location)
    return found


def find_resource_dirs(
    resource_type: str, extra_locations: list[str] | None = None
) -> Iterator[str]:
    """Existing ``<location>/<resource_type>`` folders, the most general first."""
    for location in [*lib_locations(), *(extra_locations or [])]:
        folder = os.path.join(location, resource_type)
        if os.path.isdir(folder):
            yield folder


def find_mappings(resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, mapping)`` of every readable mapping file of ``resource_type``."""
    for folder in find_resource_dirs(resource_type):
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not name.endswith(".json"):
                continue
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                log.error("Cannot read the %s mapping %s: %s", resource_type, path, e)
                continue
            if not isinstance(data, dict) or not isinstance(data.get("slug"), str):
                log.error("The %s mapping %s has no slug", resource_type, path)
                continue
            yield path, data


@dataclass
class Discovered:
    """Classes found, by slug, and why some slugs could not be loaded."""

    classes: dict[str, type[Any]] = field(default_factory=dict)
    #: slug → where it came from (for ``beaker context list``)
    origins: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def add(self, slug: str, cls: type[Any], origin: str) -> None:
        self.classes[slug] = cls
        self.origins[slug] = origin
        self.problems.pop(slug, None)

    def fail(self, slug: str, problem: str) -> None:
        log.error("%s", problem)
        self.problems[slug] = problem
        self.classes.pop(slug, None)
        self.origins.pop(slug, None)


def load_mapping(data: dict[str, Any]) -> type[Any]:
    """The class a mapping names (imports its module)."""
    module = importlib.import_module(str(data["package"]))
    cls = getattr(module, str(data["class_name"]))
    if not isinstance(cls, type):
        raise TypeError(f"{data['package']}.{data['class_name']} is not a class")
    return cls


#: slug → (where it comes from, how to load its class)
Candidates = dict[str, tuple[str, Callable[[], type[Any]]]]


def candidates(kind: ResourceType, group: str) -> Candidates:
    """Every ``kind`` plugin by slug, without importing any: entry points in ``group``, then
    ``share/beaker`` mappings (a later one overrides an earlier one with the same slug)."""
    found: Candidates = {}
    for ep in installed_entry_points(group):
        found[ep.name] = (f"entry point {ep.value}", ep.load)
    for path, data in find_mappings(kind):
        found[data["slug"]] = (
            f"mapping file {path}",
            partial(_load_mapping_at, path, data),
        )
    return found


def _load_mapping_at(path: str, data: dict[str, Any]) -> type[Any]:
    cls = load_mapping(data)
    cls._autodiscovery = {"mapping_file": path, **data}
    return cls


def load_candidate(
    kind: str, slug: str, origin: str, load: Callable[[], type[Any]], base: type[Any]
) -> type[Any]:
    """Import one plugin; raises :class:`PluginError` saying what went wrong."""
    try:
        cls = load()
    except Exception as e:
        raise PluginError(f"The {kind} plugin {slug!r}, {origin}, failed to load: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"The {kind} plugin {slug!r}, {origin}, is not a {base.__name__}")
    return cls


class PluginError(Exception):
    """A plugin could not be loaded (the message says which and why)."""


def discover(kind: ResourceType, group: str, base: type[Any]) -> Discovered:
    """Every ``kind`` plugin, imported: see :func:`candidates`. One that cannot be imported,
    or is not a subclass of ``base``, is reported in ``problems`` and skipped."""
    found = Discovered()
    for slug, (origin, load) in candidates(kind, group).items():
        try:
            found.add(slug, load_candidate(kind, slug, origin, load, base), origin)
        except PluginError as e:
            found.fail(slug, str(e))
    return found
