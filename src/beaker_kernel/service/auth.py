"""Token-only authentication.

The service relaxes ``allow_origin`` and turns the XSRF check off so that web front ends
on other origins can call it. That is only safe if a browser never authenticates a
request by itself, which a login cookie would do: any page could then drive the API
with the user's cookie. So the token must come with every request (``Authorization:
token …`` header or ``?token=`` for websockets), no cookie is ever set or accepted, and
there is no login page.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User


class TokenOnlyIdentityProvider(IdentityProvider):
    def get_user_cookie(self, handler: Any) -> User | None:
        return None

    def set_login_cookie(self, handler: Any, user: User) -> None:
        return None

    @property
    def login_available(self) -> bool:
        return False
