"""The development interface: a notebook page on beaker-ts, served with ``beaker serve --dev-ui``.

The page's sources are in ``web/`` (plain JavaScript modules and a pinned
``package.json``); the wheel's build hook (``hatch_build.py`` at the root of the
repository) bundles them with beaker-ts into ``static/``. Nothing here needs Node.js at
run time; without a build, ``/dev/`` says how to make one.
"""

from __future__ import annotations

from .handlers import STATIC_DIR, dev_ui_handlers

__all__ = ["STATIC_DIR", "dev_ui_handlers"]
