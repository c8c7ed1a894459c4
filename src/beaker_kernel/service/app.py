"""``beaker serve``: Jupyter Server with the Beaker extension, API and websockets only.

Settings are traitlets (``--ServerApp.ip=…``, ``--BeakerServiceApp.allow_origin=…`` or a
config file) with environment variables as fallbacks:

==================================  ==========================  ===========================
setting                             environment                 default
==================================  ==========================  ===========================
``ServerApp.ip``                    ``BEAKER_IP``               ``127.0.0.1``
``ServerApp.port``                  ``BEAKER_PORT``             ``8888``
``BeakerServiceApp.allow_origin``   ``BEAKER_ALLOW_ORIGIN``     ``*``
``IdentityProvider.token``          ``BEAKER_TOKEN``,           a random token, printed
                                    ``JUPYTER_TOKEN``           at start
==================================  ==========================  ===========================
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from traitlets import Bool, Unicode, default

from .. import __version__
from ..environment import is_secret
from .auth import TokenOnlyIdentityProvider
from .handlers import handlers
from .kernels import BeakerMappingKernelManager
from .state import ServiceState, set_state
from .websocket import NoDelayWebsocketConnection

#: Variables the server process itself needs to keep (its own token is read before).
_SERVER_KEEPS = frozenset({"BEAKER_IP", "BEAKER_PORT", "BEAKER_ALLOW_ORIGIN"})


def _env(*names: str, fallback: str = "") -> str:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return fallback


#: Longest runtime directory for which IPC socket paths (``<dir>/kernel-<uuid>-ipc-<n>``)
#: stay under the ~107 bytes a Unix socket path may have.
_IPC_DIR_LIMIT = 50


def _local_transport() -> str:
    """ZMQ transport for kernels the service runs as local processes.

    IPC (Unix sockets in the private runtime directory) is faster than loopback TCP and
    reachable only by this user; TCP when the directory's path is too long for socket
    paths. ``BEAKER_TRANSPORT`` (``ipc``/``tcp``) chooses. Container kernels always
    use TCP (their provisioner sets it).
    """
    from jupyter_core.paths import jupyter_runtime_dir

    chosen = _env("BEAKER_TRANSPORT")
    if chosen:
        if chosen not in ("ipc", "tcp"):
            raise SystemExit(f"BEAKER_TRANSPORT must be ipc or tcp, not {chosen!r}")
        return chosen
    return "ipc" if len(jupyter_runtime_dir()) <= _IPC_DIR_LIMIT else "tcp"


class BeakerServiceApp(ExtensionApp):
    """The Beaker service."""

    name = "beaker"
    description = "The Beaker service: a Jupyter Server for Beaker kernels (API only)."
    load_other_extensions = True
    open_browser = False
    _beaker_token = ""
    _token_generated = False

    @property
    def server(self) -> ServerApp:
        """The server this extension runs in (set before any of the hooks below)."""
        assert self.serverapp is not None
        return self.serverapp

    allow_origin = Unicode(
        help="Value of Access-Control-Allow-Origin (the origins of web front ends allowed "
        "to call the API). Environment: BEAKER_ALLOW_ORIGIN."
    ).tag(config=True)

    @default("allow_origin")
    def _default_allow_origin(self) -> str:
        return _env("BEAKER_ALLOW_ORIGIN", fallback="*")

    dev_ui = Bool(
        help="Serve the development interface (a notebook page on beaker-ts) at /dev/. Off by "
        "default: the service is API-only. Command line: --dev-ui. Environment: BEAKER_DEV_UI."
    ).tag(config=True)

    @default("dev_ui")
    def _default_dev_ui(self) -> bool:
        return _env("BEAKER_DEV_UI").lower() in ("1", "true", "yes")

    def initialize_settings(self) -> None:
        from ..lib.registry import ContextRegistry

        # Secrets leave this process's environment, so no kernel the server starts
        # inherits them; Beaker kernels get the LLM ones back (see .provisioner).
        kept = {
            name: value
            for name, value in os.environ.items()
            if is_secret(name) and name not in _SERVER_KEEPS
        }
        for name in kept:
            del os.environ[name]
        beaker_only = {
            name: value
            for name, value in kept.items()
            if name not in ("JUPYTER_TOKEN", "BEAKER_TOKEN", "JPY_API_TOKEN")
        }
        state = ServiceState(self.server, beaker_only_env=beaker_only)
        set_state(state)
        self.settings.update(beaker_state=state, beaker_contexts=ContextRegistry(parent=self))
        if isinstance(self.server.identity_provider, TokenOnlyIdentityProvider):
            self.settings.update(allow_origin=self.allow_origin, disable_check_xsrf=True)
            self.server.allow_origin = self.allow_origin
            self.server.disable_check_xsrf = True
        else:
            # Loaded into a server that accepts login cookies: relaxing the origin and
            # the XSRF check there would let any web page use the visitor's cookie.
            self.log.warning(
                "Beaker: this server accepts login cookies, so allow_origin and the XSRF "
                "check are left as configured. Use 'beaker serve' (token only) for "
                "cross-origin front ends."
            )
        self._forget_deleted_kernels(state)

    def _forget_deleted_kernels(self, state: ServiceState) -> None:
        manager = self.server.kernel_manager
        original = manager.remove_kernel

        def remove_kernel(kernel_id: str) -> Any:
            state.forget(kernel_id)
            return original(kernel_id)

        manager.remove_kernel = remove_kernel  # type: ignore[method-assign]

    def initialize_handlers(self) -> None:
        if type(self)._token_generated:
            # Printed once on the terminal, like Jupyter does; set BEAKER_TOKEN to choose it.
            self.log.info(
                "Beaker: generated token (set BEAKER_TOKEN to choose one): %s",
                self.server.identity_provider.token,
            )
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.log.warning("Beaker is running as root: every kernel runs user code as root too.")
        self.handlers.extend(handlers())
        if self.dev_ui:
            from .devui import dev_ui_handlers

            self.handlers.extend(dev_ui_handlers())
            self.log.info("Beaker: development interface at %sdev/", self.server.connection_url)
        self.log.info(
            "Beaker %s: API and websockets only. Authenticate every request with the header "
            "'Authorization: token <token>' (or '?token=<token>' on websocket URLs); "
            "GET /health needs none. Ctrl-C or SIGTERM stops the service and every kernel.",
            __version__,
        )

    async def stop_extension(self) -> None:
        set_state(None)

    @classmethod
    def configure_server(cls, argv: list[str] | None) -> None:
        """The ServerApp settings ``beaker serve`` starts with (the command line wins)."""
        token = _env("BEAKER_TOKEN", "JUPYTER_TOKEN")
        cls._token_generated = not token
        token = token or secrets.token_hex(24)
        cls.serverapp_config = {
            "ip": _env("BEAKER_IP", fallback="127.0.0.1"),
            "port": int(_env("BEAKER_PORT", fallback="8888")),
            "port_retries": 0,
            "open_browser": False,
            "allow_origin": _env("BEAKER_ALLOW_ORIGIN", fallback="*"),
            "disable_check_xsrf": True,
            "identity_provider_class": TokenOnlyIdentityProvider,
            "kernel_websocket_connection_class": NoDelayWebsocketConnection,
            "kernel_manager_class": BeakerMappingKernelManager,
            "terminals_enabled": False,
            # Containers run the service as a non-root user; on a workstation or CI
            # machine where root runs it, warn (below) instead of refusing.
            "allow_root": True,
            "default_url": "/health",
            # No front end is served, so no page needs to be embedded anywhere.
            "tornado_settings": {
                "headers": {"X-Content-Type-Options": "nosniff"},
            },
        }
        cls._beaker_token = token


def main(argv: list[str] | None = None) -> None:
    """``beaker serve [ServerApp options]``."""
    BeakerServiceApp.configure_server(argv)
    token = BeakerServiceApp._beaker_token
    os.environ.pop("JUPYTER_TOKEN", None)
    os.environ.pop("BEAKER_TOKEN", None)
    # --dev-ui: a flag of this extension, which the server's command line does not carry over
    args = ["--BeakerServiceApp.dev_ui=True" if arg == "--dev-ui" else arg for arg in argv or []]
    args.insert(0, f"--IdentityProvider.token={token}")
    args.insert(0, f"--KernelManager.transport={_local_transport()}")
    BeakerServiceApp.launch_instance(args)  # type: ignore[no-untyped-call]


__all__ = ["BeakerServiceApp", "__version__", "main"]
