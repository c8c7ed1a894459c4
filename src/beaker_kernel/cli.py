"""The ``beaker`` command."""

from __future__ import annotations

import sys

USAGE = (
    "usage: beaker serve [server options]    run the Beaker service (API + websockets)\n"
    "       beaker notebook [server options] the same, with the development page at /dev/\n"
    "       beaker kernel -f FILE            run one Beaker kernel (front ends do this)\n"
    "       beaker context list              the contexts found, and broken ones\n"
    "       beaker context new NAME          write a context package to start from\n"
    "Server options: --port N, --ip ADDRESS, --dev-ui, any --ServerApp.*;\n"
    "'beaker serve --help-all' lists them all. Upstream Beaker's start commands\n"
    "(python -m beaker_kernel.service.notebook, ...service.server) run 'beaker serve'."
)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else "serve"
    if command == "serve":
        from .service.app import main as serve

        serve(args)
    elif command == "notebook":
        # Upstream's `beaker notebook` serves a notebook page: here, the development one.
        from .service.app import main as serve

        serve(["--dev-ui", *args])
    elif command == "kernel":
        from .kernel.app import main as kernel_main

        kernel_main(args)
    elif command == "context":
        from .cli_context import main as context_main

        context_main(args)
    elif command in ("-h", "--help", "help"):
        print(USAGE)
    else:
        print(f"beaker: unknown command {command!r}; try 'beaker --help'", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
