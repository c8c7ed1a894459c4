"""HTTP endpoints of the Beaker service.

``GET /health``
    No token needed: ``{"status": "ok", "version": ...}``.
``GET /contexts``
    Every context and the languages it can run here (only languages with an installed
    kernel): ``{slug: {"languages": [{"slug", "subkernel"}], "defaultPayload": "<json>"}}``.
    No token needed, as upstream (beaker-ts lists contexts without one), unless
    ``BeakerServiceApp.contexts_need_token`` is set.
``POST /beaker/subkernels`` ``{kernel_id, parent_id}``
    A Beaker kernel claims a kernel it started with ``POST /api/kernels`` as its
    subkernel and receives ``{"connection": {...}}``. The server's auto-restart is turned
    off for it: the Beaker kernel restarts it itself and tells its front end.
``POST /beaker/subkernels/prestarted`` ``{parent_id, kernel_name}``
    A Beaker kernel claims the subkernel the service started for it at the same time as
    itself (prestart.py): ``{"kernel_id", "connection"}`` once it has started. ``404``
    when there is none, or it runs another kernelspec (it is then deleted), or it failed
    to start; the Beaker kernel then starts one itself.
``GET /beaker/subkernels/<id>``
    ``{"alive": bool, "connection": {...}, "started_ahead": bool}`` (after a restart,
    the new ports).
``DELETE /beaker/kernels/<parent id>/subkernels``
    Shut down every subkernel of a Beaker kernel.
``POST /summary`` ``{notebook, summary_prompts?}``
    The agent's summary of a notebook, as upstream Beaker: ``{"history": <the events,
    a JSON array as text>, "title": ..., "summary": ...}``, one key per summary prompt
    (:mod:`beaker_kernel.agent.summary`). Runs in a child process (:mod:`.summary`):
    ``400`` for a body that is not such a request, ``413`` for one larger than
    ``BeakerServiceApp.summary_max_body``, ``503`` without a model, ``502`` when the
    model fails, ``504`` after ``BeakerServiceApp.summary_timeout``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .. import __version__
from ..agent.summary import check_request
from ..errors import BeakerError, MessageError
from ..lib.subkernel import discover_subkernels
from .kernels import BeakerMappingKernelManager
from .prestart import discard
from .state import ServiceState
from .summary import SummaryProcess, SummarySlots, summarizer_environment

UUID = r"(?P<kernel_id>[0-9a-fA-F-]{1,64})"


class BeakerHandler(ExtensionHandlerMixin, APIHandler):
    @property
    def beaker(self) -> ServiceState:
        state: ServiceState = self.settings["beaker_state"]
        return state

    def body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as e:
            raise web.HTTPError(400, f"The request body is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise web.HTTPError(400, "The request body must be a JSON object")
        return body

    def connection(self, kernel_id: str) -> dict[str, Any]:
        km = self.kernel_manager.get_kernel(kernel_id)
        info = dict(km.get_connection_info(session=False))
        key = info.get("key", b"")
        info["key"] = key.decode() if isinstance(key, bytes) else key
        return info

    def require_kernel(self, kernel_id: str) -> None:
        if kernel_id not in self.kernel_manager:
            raise web.HTTPError(404, f"No kernel {kernel_id}")

    def claim(self, kernel_id: str, parent_id: str | None) -> None:
        """Make ``kernel_id`` a subkernel of ``parent_id``."""
        km = self.kernel_manager.get_kernel(kernel_id)
        # The Beaker kernel watches and restarts its subkernel and tells its front end;
        # a second restart by the server would race with it.
        # (stop_restarter does nothing once autorestart is off: stop it first)
        km.stop_restarter()
        km.autorestart = False
        self.beaker.claim(kernel_id, parent_id)
        if parent_id is not None and isinstance(self.kernel_manager, BeakerMappingKernelManager):
            # What it publishes reaches the server through its Beaker kernel (kernels.py).
            self.kernel_manager.unwatch_subkernel(kernel_id)


class HealthHandler(ExtensionHandlerMixin, JupyterHandler):
    """Liveness for load balancers and compose health checks; no token, no details."""

    @allow_unauthenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"status": "ok", "version": __version__}))


class ContextsHandler(BeakerHandler):
    @allow_unauthenticated
    async def get(self) -> None:
        if self.settings.get("beaker_contexts_need_token") and self.current_user is None:
            raise web.HTTPError(403, "Authenticate with the header 'Authorization: token <token>'")
        registry = self.settings["beaker_contexts"]
        registry.reload()
        specs = {
            name: model["spec"]
            for name, model in (await _all_specs(self.kernel_spec_manager)).items()
            if not model["spec"].get("metadata", {}).get("beaker_kernel")
        }
        installed: dict[str, str] = {}
        for slug, subkernel in discover_subkernels().items():
            try:
                installed[slug] = subkernel.choose_kernelspec(specs)
            except BeakerError:
                continue  # this language has no kernel here
        result = {}
        for slug, cls in registry.all().items():
            try:
                languages = [
                    {"slug": language, "subkernel": installed[language]}
                    for language in cls.available_subkernels()
                    if language in installed
                ]
                payload = cls.default_payload()
            except Exception:
                self.log.exception("Context %r cannot describe itself", slug)
                continue
            result[slug] = {"languages": languages, "defaultPayload": payload}
        self.finish(json.dumps(result))


async def _all_specs(kernel_spec_manager: Any) -> dict[str, Any]:
    getter = getattr(kernel_spec_manager, "async_get_all_specs", None)
    if getter is not None:
        specs: dict[str, Any] = await getter()
        return specs
    result: dict[str, Any] = kernel_spec_manager.get_all_specs()
    return result


class SubkernelsHandler(BeakerHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.body()
        kernel_id = body.get("kernel_id")
        parent_id = body.get("parent_id")
        if not isinstance(kernel_id, str):
            raise web.HTTPError(400, "kernel_id must be the id of a running kernel")
        if parent_id is not None and not isinstance(parent_id, str):
            raise web.HTTPError(400, "parent_id must be a kernel id or null")
        self.require_kernel(kernel_id)
        if parent_id is not None:
            self.require_kernel(parent_id)
        self.claim(kernel_id, parent_id)
        self.finish(json.dumps({"connection": self.connection(kernel_id)}))


class PrestartedHandler(BeakerHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.body()
        parent_id = body.get("parent_id")
        kernel_name = body.get("kernel_name")
        if not isinstance(parent_id, str) or not isinstance(kernel_name, str):
            raise web.HTTPError(400, "parent_id and kernel_name must be strings")
        prestart = self.beaker.pop_prestart(parent_id)
        if prestart is None:
            raise web.HTTPError(404, f"No subkernel was started ahead for kernel {parent_id}")
        if prestart.kernel_name != kernel_name:
            self.beaker.spawn(discard(prestart, self.kernel_manager))
            raise web.HTTPError(
                404,
                f"The subkernel started ahead runs {prestart.kernel_name!r}, not "
                f"{kernel_name!r}; it is deleted",
            )
        try:
            kernel_id = await prestart.started()
        except Exception as e:
            raise web.HTTPError(
                404, f"The subkernel started ahead ({kernel_name}) failed to start: {e}"
            ) from e
        self.require_kernel(kernel_id)
        self.claim(kernel_id, parent_id)
        self.finish(json.dumps({"kernel_id": kernel_id, "connection": self.connection(kernel_id)}))


class SubkernelHandler(BeakerHandler):
    @web.authenticated
    async def get(self, kernel_id: str) -> None:
        self.require_kernel(kernel_id)
        km = self.kernel_manager.get_kernel(kernel_id)
        alive = km.is_alive()
        if inspect.isawaitable(alive):
            alive = await alive
        self.finish(
            json.dumps(
                {
                    "alive": alive,
                    "connection": self.connection(kernel_id),
                    "started_ahead": kernel_id in self.beaker.started_ahead,
                }
            )
        )


class ChildrenHandler(BeakerHandler):
    @web.authenticated
    async def delete(self, kernel_id: str) -> None:
        deleted = await self.beaker.delete_children(kernel_id)
        self.finish(json.dumps({"deleted": deleted}))


@web.stream_request_body
class SummaryHandler(BeakerHandler):
    """``POST /summary``. The body is streamed so that a too large one is refused
    without being kept."""

    _chunks: list[bytes]
    _size = 0
    _too_large = False
    _run: SummaryProcess | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        self._chunks = []
        await super().prepare()
        if self._finished or self.request.method != "POST":
            return
        if self.current_user is None:
            # before a body is read (a plain Jupyter Server may let unknown users in)
            raise web.HTTPError(403, "Authenticate with the header 'Authorization: token <token>'")
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self._limit:
            raise web.HTTPError(413, self._too_large_message())

    @property
    def _limit(self) -> int:
        return int(self.settings.get("beaker_summary_max_body", 20 * 1024 * 1024))

    def _too_large_message(self) -> str:
        return (
            f"The request body is larger than {self._limit} bytes (setting: "
            "BEAKER_SUMMARY_MAX_BODY or --BeakerServiceApp.summary_max_body)"
        )

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self._too_large = True
            self._chunks.clear()
        else:
            self._chunks.append(chunk)

    @web.authenticated
    async def post(self) -> None:
        if self._too_large:
            raise web.HTTPError(413, self._too_large_message())
        raw = b"".join(self._chunks)
        self._chunks = []
        # a large notebook takes a while to parse: not on the event loop
        try:
            await asyncio.to_thread(_check_summary_request, raw)
        except MessageError as e:
            raise web.HTTPError(400, "%s", e.message) from e
        slots: SummarySlots = self.settings["beaker_summary_running"]
        slots.take()
        self._run = SummaryProcess(
            summarizer_environment(self.beaker.beaker_only_env),
            timeout=float(self.settings.get("beaker_summary_timeout", 300.0)),
        )
        try:
            result = await self._run.run(raw)
        finally:
            self._run = None
            slots.give_back()
        self.finish(json.dumps(result))

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._run is not None:
            self._run.kill()


def _check_summary_request(raw: bytes) -> None:
    try:
        request = json.loads(raw)
    except ValueError as e:
        raise MessageError(f"The request body is not JSON: {e}") from e
    check_request(request)


def handlers() -> list[tuple[str, type[Any]]]:
    return [
        (r"/health", HealthHandler),
        (r"/contexts", ContextsHandler),
        (r"/beaker/subkernels", SubkernelsHandler),
        (r"/beaker/subkernels/prestarted", PrestartedHandler),
        (rf"/beaker/subkernels/{UUID}", SubkernelHandler),
        (rf"/beaker/kernels/{UUID}/subkernels", ChildrenHandler),
        (r"/summary", SummaryHandler),
    ]
