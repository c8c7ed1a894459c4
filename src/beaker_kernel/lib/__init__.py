"""The API context authors write against, under upstream Beaker's names.

=======================  =============================================================
:mod:`.context`          ``BeakerContext`` (``BaseContext``): the context base class
:mod:`.agent`            ``BeakerAgent`` (``BaseAgent``): the agent base class (imports archytas)
:mod:`.subkernel`        ``BeakerSubkernel``: the languages
:mod:`.utils`            ``action``, ``intercept``, ``execution_context`` …
:mod:`.procedures`       procedures (Jinja templates of code)
:mod:`.registry`         finding contexts; :mod:`.autodiscovery`: upstream's mappings
:mod:`.config`           ``config``: settings contexts read
=======================  =============================================================

``from beaker_kernel.lib import BeakerContext, BeakerAgent, BeakerSubkernel`` works as
with upstream; ``BeakerAgent`` is loaded (with archytas) only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import BeakerContext
from .subkernel import BeakerSubkernel

if TYPE_CHECKING:
    from .agent import BeakerAgent

__all__ = ["BeakerAgent", "BeakerContext", "BeakerSubkernel"]


def __getattr__(name: str) -> Any:
    if name == "BeakerAgent":
        from .agent import BeakerAgent

        return BeakerAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
