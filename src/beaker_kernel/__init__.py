"""Beaker: a Jupyter kernel that proxies to a Python, R or Julia subkernel and adds contexts."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Beaker service as a Jupyter Server extension (see :mod:`.service`)."""
    return [{"module": "beaker_kernel.service.app", "app": _app_class()}]


def _app_class() -> Any:
    from .service.app import BeakerServiceApp

    return BeakerServiceApp
