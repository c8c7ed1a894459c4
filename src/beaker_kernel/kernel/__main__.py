"""``python -m beaker_kernel.kernel -f CONNECTION_FILE``."""

from __future__ import annotations

from .app import main

if __name__ == "__main__":
    main()
