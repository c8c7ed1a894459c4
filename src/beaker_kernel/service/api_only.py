"""Every handler of the API-only service: JSON errors, no cookies, no token in redirects.

Jupyter Server answers an unknown path, a wrong method or an error of a page handler
with an HTML page rendered from a template. That page embeds the token, and rendering
it sets an ``_xsrf`` cookie. ``beaker serve`` has no pages, so after every handler is
registered, :func:`make_api_only` swaps each handler class of the web application for a
subclass with :class:`ApiOnlyHandler` in front, which

* answers every error as ``{"message": …, "reason": …}`` (``application/json``) with the
  CORS headers of the service, 401/403/404 included, so a front end on another origin
  can read why it failed;
* never sets a cookie (the service authenticates by token only);
* strips ``token`` from the query of every redirect (``GET /?token=…`` redirects to
  ``/health``, not to ``/health?token=…``), and refuses with 403 instead of redirecting
  to a login page;
* leaves the token out of anything a template may still render.
"""

from __future__ import annotations

import json
import logging
from http.client import responses
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tornado import web
from tornado.routing import Rule, RuleRouter

from .redaction import redact

log = logging.getLogger("beaker_kernel.service")


def error_body(status_code: int, exc: BaseException | None) -> dict[str, Any]:
    """The JSON body of an error response: ``{"message", "reason"}``, without secrets."""
    reason = responses.get(status_code, "Unknown HTTP Error")
    message = reason
    if isinstance(exc, web.HTTPError):
        if exc.log_message:
            try:
                message = exc.log_message % exc.args if exc.args else exc.log_message
            except (TypeError, ValueError):
                message = exc.log_message
        reason = exc.reason or reason
    elif exc is not None:
        message = "Internal error: the service's log has the details"
    return {"message": redact(str(message)), "reason": reason}


def strip_token(url: str) -> str:
    """``url`` without any ``token`` query parameter (nor an empty ``?``, which Jupyter
    Server's redirect of ``/`` leaves)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


class ApiOnlyHandler(web.RequestHandler):
    """Put in front of a handler class by :func:`make_api_only`."""

    _beaker_writing_error = False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        body = error_body(status_code, exc_info[1] if exc_info else None)
        if status_code == 404 and body["message"] == body["reason"]:
            body["message"] = f"Nothing here: {self.request.method} {self.request.path}"
        self._beaker_error_headers()
        self._beaker_writing_error = True
        self.finish(json.dumps(body))

    def _beaker_error_headers(self) -> None:
        # send_error cleared the headers prepare() had set, CORS included.
        set_cors = getattr(self, "set_cors_headers", None)
        try:
            if set_cors is not None:
                set_cors()
            elif self.settings.get("allow_origin"):
                self.set_header("Access-Control-Allow-Origin", self.settings["allow_origin"])
        except Exception:
            log.exception("Could not set the CORS headers of an error response")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def finish(
        self, chunk: str | bytes | dict[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        if (
            self.get_status() >= 400
            and not self._beaker_writing_error
            and isinstance(chunk, (str, bytes))
            and not self._headers_written
        ):
            # An error a handler writes itself as text (a websocket URL fetched without
            # the upgrade, say): the same JSON shape as every other error.
            text = chunk.decode(errors="replace") if isinstance(chunk, bytes) else chunk
            self._beaker_writing_error = True
            self._beaker_error_headers()
            reason = responses.get(self.get_status(), "Unknown HTTP Error")
            chunk = json.dumps({"message": redact(text), "reason": reason})
        return super().finish(chunk, *args, **kwargs)

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        log.debug("Not setting cookie %r: the service authenticates by token only", name)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        super().redirect(strip_token(url), permanent=permanent, status=status)

    def get_login_url(self) -> str:
        raise web.HTTPError(403, "Authenticate with the header 'Authorization: token <token>'")

    @property
    def template_namespace(self) -> dict[str, Any]:
        namespace: dict[str, Any] = dict(super().template_namespace)  # type: ignore[misc]
        namespace["token"] = ""
        return namespace


_api_only_classes: dict[type[web.RequestHandler], type[web.RequestHandler]] = {}


def api_only(handler_class: type[web.RequestHandler]) -> type[web.RequestHandler]:
    """``handler_class`` with :class:`ApiOnlyHandler` in front (same name and module)."""
    if issubclass(handler_class, ApiOnlyHandler):
        return handler_class
    known = _api_only_classes.get(handler_class)
    if known is not None:
        return known
    made = type(
        handler_class.__name__,
        (ApiOnlyHandler, handler_class),
        {
            "__module__": handler_class.__module__,
            "__qualname__": handler_class.__qualname__,
            "__doc__": handler_class.__doc__,
        },
    )
    _api_only_classes[handler_class] = made
    return made


def make_api_only(app: web.Application) -> int:
    """Swap every handler class routed by ``app`` for its :func:`api_only` form.

    Returns how many routes were changed. Call it once every handler is registered.
    """
    changed = 0
    routers: list[RuleRouter] = [app.default_router, app.wildcard_router]
    seen: set[int] = set()
    while routers:
        router = routers.pop()
        if id(router) in seen:
            continue
        seen.add(id(router))
        rule: Rule
        for rule in router.rules:
            target = rule.target
            if isinstance(target, RuleRouter):
                routers.append(target)
            elif (
                isinstance(target, type)
                and issubclass(target, web.RequestHandler)
                and not issubclass(target, ApiOnlyHandler)
            ):
                rule.target = api_only(target)
                changed += 1
    return changed


__all__ = ["ApiOnlyHandler", "api_only", "error_body", "make_api_only", "strip_token"]
