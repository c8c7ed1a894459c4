"""``python -m beaker_kernel.provisioning remove-orphans [--instance NAME]``."""

from __future__ import annotations

import sys

from .orphans import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "remove-orphans":
        print(
            "usage: python -m beaker_kernel.provisioning remove-orphans [--instance NAME]",
            file=sys.stderr,
        )
        raise SystemExit(2)
    main(args[1:])
