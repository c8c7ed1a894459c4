"""HTTP endpoints of the development interface (only with ``beaker serve --dev-ui``).

``GET /dev``
    Redirects to ``/dev/``.
``GET /dev/``
    The page (no token needed: it holds no data; the page asks for the token and sends
    it with every API call). ``503`` with instructions when the page was not built.
``GET /dev/<asset>``
    The page's script and stylesheet, named by their content hash, cached for good.

Every response forbids scripts from anywhere but this origin (Content-Security-Policy),
so HTML that a kernel outputs cannot run code next to the token.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin

#: Where the build hook puts the page (inside the installed package, or the checkout).
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The files the page consists of (build.mjs names them).
_ASSET = re.compile(r"^(index\.html|devui-[0-9a-f]{12}\.(?:js|css)|devui\.js\.LEGAL\.txt)$")

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

#: Scripts, styles and connections from this origin only; images also as data: URLs
#: (kernel outputs); no plugins, frames, forms or <base>.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

NOT_BUILT = (
    "The development interface is not built into this installation. "
    "From a checkout, build it with 'python hatch_build.py' (needs Node.js 18 or newer and npm), "
    "or reinstall Beaker with 'pip install .' on a machine with Node.js and npm: the wheel's "
    "build hook bundles the page."
)


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes
    content_type: str


_cache: dict[Path, _Asset] = {}


def _asset(path: Path) -> _Asset:
    """A file of the page, read and compressed once per process (they never change)."""
    asset = _cache.get(path)
    if asset is None:
        body = path.read_bytes()
        asset = _Asset(
            body, gzip.compress(body, 6), _TYPES.get(path.suffix, "application/octet-stream")
        )
        _cache[path] = asset
    return asset


class DevUIHandler(ExtensionHandlerMixin, JupyterHandler):
    """The page and its assets, from :data:`STATIC_DIR`."""

    static_dir: Path = STATIC_DIR

    def initialize(self, name: str, static_dir: Path | None = None, **kwargs: Any) -> None:
        super().initialize(name, **kwargs)
        if static_dir is not None:
            self.static_dir = static_dir

    @property
    def content_security_policy(self) -> str:
        return CONTENT_SECURITY_POLICY

    @allow_unauthenticated
    def get(self, name: str = "") -> None:
        name = name or "index.html"
        if not _ASSET.match(name):
            self.send_error(404)
            return
        path = self.static_dir / name
        if not path.is_file():
            if name == "index.html":
                self._not_built()
            else:
                self.send_error(404)
            return
        asset = _asset(path)
        self.set_header("Content-Type", asset.content_type)
        self.set_header("Referrer-Policy", "no-referrer")
        if name == "index.html":
            self.set_header("Cache-Control", "no-cache")
        else:
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        self.set_header("Vary", "Accept-Encoding")
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.finish(asset.gzipped)
        else:
            self.finish(asset.body)

    def _not_built(self) -> None:
        self.set_status(503)
        self.set_header("Cache-Control", "no-store")
        if "text/html" in self.request.headers.get("Accept", ""):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(
                "<!doctype html><meta charset='utf-8'><title>Beaker</title>"
                f"<h1>Beaker development interface</h1><p>{NOT_BUILT}</p>"
            )
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": NOT_BUILT, "reason": "not built"}))


class DevUIRedirectHandler(ExtensionHandlerMixin, JupyterHandler):
    """``/dev`` → ``/dev/``, so the page's relative asset URLs resolve."""

    @allow_unauthenticated
    def get(self) -> None:
        self.redirect(self.request.path + "/", permanent=False)


def dev_ui_handlers(static_dir: Path | None = None) -> list[tuple[str, type[Any], dict[str, Any]]]:
    """The handlers to add to the service (their patterns get the server's base URL)."""
    options: dict[str, Any] = {"static_dir": static_dir} if static_dir is not None else {}
    return [
        (r"/dev", DevUIRedirectHandler, {}),
        (r"/dev/([^/]*)", DevUIHandler, options),
    ]
