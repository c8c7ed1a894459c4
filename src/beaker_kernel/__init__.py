"""Beaker: a Jupyter kernel that proxies to a language subkernel and adds contexts."""

__version__ = "0.1.0"
