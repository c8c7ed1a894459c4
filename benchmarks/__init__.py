"""Benchmarks: the Beaker kernel side by side with a plain ipykernel, through the service.

Run ``python -m benchmarks --help`` (or ``benchmarks/run``, which installs Beaker into
``.venv`` first). See ``benchmarks/README.md`` and ``docs/performance.md``.
"""
