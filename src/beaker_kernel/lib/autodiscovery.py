"""Upstream Beaker's discovery functions (``beaker_kernel.lib.autodiscovery``).

Installed plugins are found by :mod:`.plugins` (entry points and upstream's
``share/beaker/<kind>/<slug>.json`` mappings) and contexts by :mod:`.registry`; this
module offers them under the names contexts written for upstream import.
:data:`LIB_LOCATIONS` is computed when it is used, never at import time.
"""

from __future__ import annotations

from typing import Any

from .plugins import (
    Discovered,
    ResourceType,
    discover,
    find_mappings,
    find_resource_dirs,
    lib_locations,
    load_mapping,
    log,
)
from .subkernel import discover_subkernels


def autodiscover(mapping_type: ResourceType) -> dict[str, type[Any]]:
    """Upstream's entry point: classes of ``mapping_type`` by slug."""
    if mapping_type == "subkernels":
        return discover_subkernels()
    if mapping_type == "contexts":
        from .registry import ContextRegistry

        return dict(ContextRegistry().all())
    found: dict[str, type[Any]] = {}
    for path, data in find_mappings(mapping_type):
        try:
            found[data["slug"]] = load_mapping(data)
        except Exception as e:
            log.error("The %s mapping %s failed to load: %s", mapping_type, path, e)
    return found


def autodiscover_contexts() -> dict[str, type[Any]]:
    from .registry import ContextRegistry

    return ContextRegistry().all()


def __getattr__(name: str) -> Any:
    if name == "LIB_LOCATIONS":
        return lib_locations()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Discovered",
    "autodiscover",
    "autodiscover_contexts",
    "discover",
    "discover_subkernels",
    "find_mappings",
    "find_resource_dirs",
    "lib_locations",
]
