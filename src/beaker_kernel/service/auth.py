"""Token-only authentication.

The service relaxes ``allow_origin`` and turns the XSRF check off so that web front ends
on other origins can call it. That is only safe if a browser never authenticates a
request by itself, which a login cookie would do: any page could then drive the API
with the user's cookie. So the token must come with every request (``Authorization:
token …`` header or ``?token=`` for websockets), no cookie is ever set or accepted, and
there is no login or logout page.

The token is ``IdentityProvider.token`` if configured, else ``BEAKER_TOKEN``, else
``JUPYTER_TOKEN`` (or the file named by ``JUPYTER_TOKEN_FILE``), else a random one.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from traitlets import default


class TokenOnlyIdentityProvider(IdentityProvider):
    #: Whether the token was generated here (it is then shown once at start).
    beaker_generated = False

    @default("token")
    def _beaker_token_default(self) -> str:
        # Jupyter Server would print a generated token inside a log record; Beaker's
        # records are redacted, so the service shows it itself (see .app).
        self.token_generated = False
        for name in ("BEAKER_TOKEN", "JUPYTER_TOKEN"):
            value = os.environ.get(name)
            if value:
                return value
        path = os.environ.get("JUPYTER_TOKEN_FILE")
        if path:
            with open(path) as f:
                return f.read().strip()
        self.beaker_generated = True
        return secrets.token_hex(24)

    def get_user_cookie(self, handler: Any) -> User | None:
        return None

    def set_login_cookie(self, handler: Any, user: User) -> None:
        return None

    def get_handlers(self) -> list[tuple[str, object]]:
        # No /login, no /logout: both would only deal in cookies.
        return []

    @property
    def login_available(self) -> bool:
        return False
