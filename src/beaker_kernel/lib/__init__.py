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
with upstream. Each is loaded only when asked for: ``BeakerAgent`` imports archytas,
``BeakerContext`` Jinja, and the kernel imports neither until a context needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agent import BeakerAgent
    from .context import BeakerContext
    from .subkernel import BeakerSubkernel

__all__ = ["BeakerAgent", "BeakerContext", "BeakerSubkernel"]


#: Names loaded on first use (upstream imported them here, so ``beaker_kernel.lib.context``
#: was there after ``import beaker_kernel.lib``): name → (module, attribute or ``None``).
_LAZY = {
    "BeakerAgent": (".agent", "BeakerAgent"),
    "BeakerContext": (".context", "BeakerContext"),
    "BeakerSubkernel": (".subkernel", "BeakerSubkernel"),
    "agent": (".agent", None),
    "context": (".context", None),
    "subkernel": (".subkernel", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    return module if attribute is None else getattr(module, attribute)
