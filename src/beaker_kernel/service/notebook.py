"""``python -m beaker_kernel.service.notebook``: upstream Beaker's start command.

Deployments written for upstream Beaker (Terarium's among them) start the server with
this command. Here it runs the Beaker service exactly as ``beaker serve`` does: the same
options (``--port``, ``--ip``, any ``--ServerApp.*``), the same environment
(``JUPYTER_TOKEN``, ``BEAKER_PORT``, ``BEAKER_IP``, ``BEAKER_DEFAULT_CONTEXT*``,
``LLM_*``), API and websockets only. Upstream's version also served its notebook page;
``--dev-ui`` (or ``BEAKER_DEV_UI=1``) serves this project's development page, and
``beaker notebook`` turns it on. What maps to what: docs/deploy.md, "Coming from
upstream Beaker".

Importing this module defines :func:`main` and does nothing else.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run the Beaker service with ``argv`` (default: this process's arguments)."""
    from .app import main as serve

    serve(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
