"""Build hook of the wheel: bundle the development interface (``beaker serve --dev-ui``).

The page's sources are in ``src/beaker_kernel/service/devui/web``; their npm packages are
pinned by its ``package-lock.json``. For every wheel (editable ones included) this hook

1. installs those packages with ``npm ci`` into ``build/devui-npm`` (ignored by git and by
   the wheel; reinstalled only when the lock file changes);
2. runs ``web/build.mjs`` (esbuild) into ``src/beaker_kernel/service/devui/static``, which
   the wheel ships and an editable install reads in place.

``BEAKER_DEV_UI_BUILD`` chooses: ``auto`` (default: build when ``npm`` and ``node`` are on
the PATH, otherwise warn and ship no page — ``/dev/`` then says how to build it),
``required`` (a failed or impossible build fails the wheel; the service image uses it) or
``skip``. npm honours its usual settings (``npm_config_cache``, ``npm_config_offline``),
so an image build can install from a prepared cache without a network.

Also a script, for working on the page in a checkout: ``python hatch_build.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "src" / "beaker_kernel" / "service" / "devui" / "web"
STATIC = ROOT / "src" / "beaker_kernel" / "service" / "devui" / "static"
NPM_DIR = ROOT / "build" / "devui-npm"
MODES = ("auto", "required", "skip")


class DevUIBuildError(RuntimeError):
    """The page could not be built (the message says why and what to do)."""


def _run(command: list[str], cwd: Path) -> str:
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DevUIBuildError(f"{' '.join(command)} could not run: {e}") from e
    if result.returncode != 0:
        raise DevUIBuildError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def install_packages(npm: str) -> Path:
    """``npm ci`` of web/package-lock.json into build/devui-npm (when the lock changed)."""
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    lock = (WEB / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (WEB / "package.json").read_bytes()).hexdigest()
    stamp = NPM_DIR / "node_modules" / ".beaker-lock-sha256"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return NPM_DIR / "node_modules"
    shutil.copyfile(WEB / "package.json", NPM_DIR / "package.json")
    shutil.copyfile(WEB / "package-lock.json", NPM_DIR / "package-lock.json")
    _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], NPM_DIR)
    stamp.write_text(digest + "\n")
    return NPM_DIR / "node_modules"


def build() -> dict[str, Any]:
    """Bundle the page into STATIC; returns build.mjs's summary (file names and sizes)."""
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        raise DevUIBuildError(
            "Node.js 18 or newer and npm are needed to build the development interface "
            "(beaker serve --dev-ui); install them and build again"
        )
    node_modules = install_packages(npm)
    out = _run(
        [
            node,
            str(WEB / "build.mjs"),
            "--outdir",
            str(STATIC),
            "--node-modules",
            str(node_modules),
        ],
        WEB,
    )
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def mode() -> str:
    chosen = os.environ.get("BEAKER_DEV_UI_BUILD", "auto").strip().lower() or "auto"
    if chosen not in MODES:
        raise DevUIBuildError(
            f"BEAKER_DEV_UI_BUILD must be one of {', '.join(MODES)}, not {chosen!r}"
        )
    return chosen


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script without hatchling installed
    BuildHookInterface = object  # type: ignore[assignment,misc]


class DevUIBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Hatch's ``custom`` build hook (``[tool.hatch.build.targets.wheel.hooks.custom]``)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        chosen = mode()
        if chosen == "skip":
            self.app.display_info(
                "Beaker: BEAKER_DEV_UI_BUILD=skip, the development interface is not built"
            )
            return
        try:
            summary = build()
        except DevUIBuildError as e:
            if chosen == "required":
                raise
            self.app.display_warning(
                f"Beaker: the development interface (beaker serve --dev-ui) is not built: {e}"
            )
            return
        sizes = ", ".join(f"{name} {size // 1024} KiB" for name, size in summary["files"].items())
        self.app.display_info(f"Beaker: development interface built ({sizes})")
        # Shipped even where an ignore file would leave the folder out.
        build_data["artifacts"].append("/src/beaker_kernel/service/devui/static/")


if __name__ == "__main__":
    try:
        result = build()
    except DevUIBuildError as e:
        print(f"hatch_build.py: {e}", file=sys.stderr)
        raise SystemExit(1) from e
    print(json.dumps(result, indent=2))
