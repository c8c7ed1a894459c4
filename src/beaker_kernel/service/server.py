"""``python -m beaker_kernel.service.server``: upstream Beaker's start command for containers.

Images built for upstream Beaker (``askem-beaker``'s among them) start the server with
this command. Here it runs the Beaker service exactly as ``beaker serve`` does, with the
same options and environment (see :mod:`.notebook`).

One difference: upstream's listened on every interface (``0.0.0.0``) by default. This
one listens where ``beaker serve`` does: ``--ip``, else ``BEAKER_IP``, else
``127.0.0.1``. The service image sets ``BEAKER_IP=0.0.0.0``, so in it the command is
reachable through the container's published port as before; an image of your own sets
it too (docs/deploy.md, "Coming from upstream Beaker").

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
