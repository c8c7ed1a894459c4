"""``beaker serve``: Jupyter Server with the Beaker extension, API and websockets only.

Settings are traitlets (``--port=…``, ``--ServerApp.ip=…``,
``--BeakerServiceApp.allow_origin=…`` or a config file) with environment variables as
fallbacks. The environment only supplies *defaults*: the command line and config files
always win.

==================================  ==========================  ===========================
setting                             environment                 default
==================================  ==========================  ===========================
``ServerApp.ip``                    ``BEAKER_IP``               ``127.0.0.1``
``ServerApp.port``                  ``BEAKER_PORT``,            ``8888``
                                    ``JUPYTER_PORT``
``ServerApp.allow_origin``          ``BEAKER_ALLOW_ORIGIN``     ``*``
``IdentityProvider.token``          ``BEAKER_TOKEN``,           a random token, printed
                                    ``JUPYTER_TOKEN``           once at start
``KernelManager.transport``         ``BEAKER_TRANSPORT``        ``ipc`` (see ``transport.py``)
==================================  ==========================  ===========================
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import sys
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from traitlets import Bool, Float, Int, TraitError, Unicode, default, validate
from traitlets.config.loader import KVArgParseConfigLoader

from .. import __version__
from ..environment import is_secret
from ..settings import env_bool, env_float, env_int
from ..transport import chosen_transport, local_transport
from . import redaction
from .api_only import make_api_only
from .auth import TokenOnlyIdentityProvider
from .command_line import HELP_HINT, StrictCommandLineLoader
from .handlers import handlers
from .kernels import BeakerMappingKernelManager
from .state import SERVICE_TOKEN_NAMES, ServiceState, set_state
from .websocket import NoDelayWebsocketConnection

#: Variables the server process itself needs to keep (its own token is read before).
_SERVER_KEEPS = frozenset({"BEAKER_IP", "BEAKER_PORT", "BEAKER_ALLOW_ORIGIN"})


def _env(*names: str, fallback: str = "") -> str:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return fallback


def _address_problem(ip: str) -> str:
    """Why the server could not listen on ``ip`` ('' when it can try)."""
    if not ip or ip in ("*", "localhost"):
        return ""
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        # A host name: Jupyter Server would fail on it later, with a traceback.
        try:
            socket.getaddrinfo(ip, None)
        except OSError as e:
            return f"is neither an IP address nor a host name this machine resolves ({e})"
    return ""


def _check_environment() -> None:
    """Refuse environment settings that cannot work, with a message (before any start)."""
    ip = _env("BEAKER_IP")
    problem = _address_problem(ip)
    if problem:
        raise SystemExit(f"BEAKER_IP={ip!r} {problem}")
    port = _env("BEAKER_PORT", "JUPYTER_PORT")
    if port and not (port.isdigit() and int(port) <= 65535):
        raise SystemExit(f"BEAKER_PORT must be a port number, not {port!r}")
    try:
        chosen_transport()
    except ValueError as e:
        raise SystemExit(str(e)) from None
    payload = _env("BEAKER_DEFAULT_CONTEXT_PAYLOAD")
    if payload:
        # Every Beaker kernel would otherwise start its default context without it.
        try:
            parsed = json.loads(payload)
        except ValueError as e:
            raise SystemExit(f"BEAKER_DEFAULT_CONTEXT_PAYLOAD is not JSON: {e}") from e
        if not isinstance(parsed, dict):
            raise SystemExit(
                f"BEAKER_DEFAULT_CONTEXT_PAYLOAD must be a JSON object, not {payload!r}"
            )


#: Classes whose ``transport`` setting applies to the service's local kernels.
_TRANSPORT_SECTIONS = (
    "ConnectionFileMixin",
    "KernelManager",
    "AsyncKernelManager",
    "AsyncIOLoopKernelManager",
)


class BeakerServerApp(ServerApp):
    """Jupyter Server as ``beaker serve`` runs it.

    Beaker's settings are the *defaults* of this server's traits (environment variables
    included), so that every one of them can still be changed on the command line
    (``--port``, ``--ip``, ``--ServerApp.port``…) or in a config file. After every
    handler is registered, each of them answers errors as JSON, never sets a cookie and
    never redirects with the token (:mod:`.api_only`).
    """

    port_retries_default_value = 0

    def migrate_config(self) -> None:
        """Skipped (and so in the Beaker kernel): Beaker never had IPython 3's
        configuration to move. jupyter_core moves it when an IPython directory exists and
        then writes a marker into the Jupyter config directory, so a read-only one (a
        mounted ConfigMap, say) stopped the service and made every Beaker kernel exit at
        start."""

    @default("ip")
    def _beaker_default_ip(self) -> str:
        return _env("BEAKER_IP", fallback="127.0.0.1")

    @validate("ip")
    def _validate_ip(self, proposal: Any) -> str:
        value: str = super()._validate_ip(proposal)
        problem = _address_problem(value)
        if problem:
            raise TraitError(f"ip {value!r} {problem}")
        return value

    @validate("port")
    def _validate_port(self, proposal: Any) -> int:
        value = int(proposal["value"])
        # tornado would bind another port than the one the log shows
        if not 0 <= value <= 65535:
            raise TraitError(f"port must be from 0 to 65535, not {value}")
        return value

    @default("reraise_server_extension_failures")
    def _beaker_default_reraise(self) -> bool:
        # A service without its extension (a bad --BeakerServiceApp.* value) must not
        # start as if nothing happened.
        return True

    @default("port")
    def _beaker_default_port(self) -> int:
        return int(_env("BEAKER_PORT", "JUPYTER_PORT", fallback="8888"))

    @default("allow_origin")
    def _beaker_default_allow_origin(self) -> str:
        return _env("BEAKER_ALLOW_ORIGIN", fallback="*")

    @default("disable_check_xsrf")
    def _beaker_default_disable_check_xsrf(self) -> bool:
        # Safe because authentication is token only (no cookie a browser would send).
        return True

    @default("allow_unauthenticated_access")
    def _beaker_default_allow_unauthenticated_access(self) -> bool:
        # Only handlers marked @allow_unauthenticated (GET /health, GET /contexts) answer
        # without the token; an unknown path or a handler another extension forgot to
        # protect does not.
        value = os.environ.get(self._allow_unauthenticated_access_env, "")
        return value.lower() in ("true", "yes")

    @default("identity_provider_class")
    def _beaker_default_identity_provider_class(self) -> type[TokenOnlyIdentityProvider]:
        return TokenOnlyIdentityProvider

    @default("kernel_manager_class")
    def _beaker_default_kernel_manager_class(self) -> Any:
        if self.gateway_config.gateway_enabled:
            return super()._default_kernel_manager_class()
        return BeakerMappingKernelManager

    @default("kernel_websocket_connection_class")
    def _beaker_default_websocket_class(self) -> Any:
        if self.gateway_config.gateway_enabled:
            return super()._default_kernel_websocket_connection_class()
        return NoDelayWebsocketConnection

    @default("terminals_enabled")
    def _beaker_default_terminals_enabled(self) -> bool:
        return False

    @default("allow_root")
    def _beaker_default_allow_root(self) -> bool:
        # Containers run the service as a non-root user; on a workstation or CI machine
        # where root runs it, Beaker warns instead of refusing.
        return True

    def _create_loader(
        self,
        argv: list[str] | None,
        aliases: Any,
        flags: Any,
        classes: Any,
    ) -> KVArgParseConfigLoader:
        return StrictCommandLineLoader(
            argv, aliases, flags, classes=classes, log=self.log, subcommands=self.subcommands
        )

    def init_logging(self) -> None:
        super().init_logging()
        # Beaker's own records go where the server's go, formatted the same way.
        logger = logging.getLogger("beaker_kernel")
        logger.propagate = True
        logger.parent = self.log
        logger.setLevel(self.log.level)

    def init_configurables(self) -> None:
        kernel_config = [self.config[section] for section in _TRANSPORT_SECTIONS]
        if not any("transport" in section for section in kernel_config):
            self.config.KernelManager.transport = local_transport()
        super().init_configurables()
        redaction.add_secret(str(self.identity_provider.token))

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        if getattr(self, "web_app", None) is not None:
            make_api_only(self.web_app)


class BeakerServiceApp(ExtensionApp):
    """The Beaker service."""

    name = "beaker"
    description = "The Beaker service: a Jupyter Server for Beaker kernels (API only)."
    load_other_extensions = True
    serverapp_class = BeakerServerApp
    # The server's default URL; "/" redirects there (without the query string).
    extension_url = "/health"

    @default("open_browser")
    def _default_open_browser(self) -> bool:
        return False

    @property
    def server(self) -> ServerApp:
        """The server this extension runs in (set before any of the hooks below)."""
        assert self.serverapp is not None
        return self.serverapp

    allow_origin = Unicode(
        "",
        help="Value of Access-Control-Allow-Origin (the origins of web front ends allowed "
        "to call the API). Empty: ServerApp.allow_origin, whose default under 'beaker serve' "
        "is BEAKER_ALLOW_ORIGIN or '*'.",
    ).tag(config=True)

    def _chosen_origin(self) -> str:
        if self.allow_origin:
            return self.allow_origin
        if self.server.allow_origin or self.server.allow_origin_pat:
            return str(self.server.allow_origin)
        return _env("BEAKER_ALLOW_ORIGIN", fallback="*")

    dev_ui = Bool(
        help="Serve the development interface (a notebook page on beaker-ts) at /dev/. Off by "
        "default: the service is API-only. Command line: --dev-ui. Environment: BEAKER_DEV_UI."
    ).tag(config=True)

    @default("dev_ui")
    def _default_dev_ui(self) -> bool:
        return env_bool("BEAKER_DEV_UI", False)

    @default("default_url")
    def _default_url(self) -> str:
        # "/" leads to the page when there is one (beaker notebook), else to /health.
        return "/dev/" if self.dev_ui else self.extension_url

    contexts_need_token = Bool(
        help="Ask for the token on GET /contexts too. Off by default, as upstream Beaker: "
        "front ends built on beaker-ts list the contexts before they hold a session, without "
        "the token. The list names contexts, their languages and default payloads, nothing "
        "else. Environment: BEAKER_CONTEXTS_NEED_TOKEN."
    ).tag(config=True)

    @default("contexts_need_token")
    def _default_contexts_need_token(self) -> bool:
        return env_bool("BEAKER_CONTEXTS_NEED_TOKEN", False)

    summary_timeout = Float(
        help="Seconds a POST /summary may take; its summarizer process is then stopped "
        "and the answer is 504. Environment: BEAKER_SUMMARY_TIMEOUT.",
    ).tag(config=True)

    @default("summary_timeout")
    def _default_summary_timeout(self) -> float:
        return env_float("BEAKER_SUMMARY_TIMEOUT", 300.0)

    summary_max_body = Int(
        help="Largest body of a POST /summary, in bytes (a larger one is refused with 413). "
        "Environment: BEAKER_SUMMARY_MAX_BODY.",
    ).tag(config=True)

    @default("summary_max_body")
    def _default_summary_max_body(self) -> int:
        return env_int("BEAKER_SUMMARY_MAX_BODY", 20 * 1024 * 1024)

    summary_concurrency = Int(
        help="POST /summary requests that may run at once (each runs a process that loads "
        "the LLM stack); one more is answered with 429. Environment: "
        "BEAKER_SUMMARY_CONCURRENCY.",
    ).tag(config=True)

    @default("summary_concurrency")
    def _default_summary_concurrency(self) -> int:
        return env_int("BEAKER_SUMMARY_CONCURRENCY", 2)

    def initialize_settings(self) -> None:
        from ..lib.registry import ContextRegistry
        from .summary import SummarySlots

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
            name: value for name, value in kept.items() if name not in SERVICE_TOKEN_NAMES
        }
        # Also when loaded into a plain Jupyter Server: no record of this process shows
        # the token or a key.
        redaction.install([str(self.server.identity_provider.token)])
        for name, value in kept.items():
            if not name.startswith(("TOOL_ENABLED_", "LLM_PROVIDER_", "LLM_SERVICE_MODEL")):
                redaction.add_secret(value)
        state = ServiceState(self.server, beaker_only_env=beaker_only)
        set_state(state)
        self.settings.update(
            beaker_state=state,
            beaker_contexts=ContextRegistry(parent=self),
            beaker_contexts_need_token=self.contexts_need_token,
            beaker_summary_timeout=self.summary_timeout,
            beaker_summary_max_body=self.summary_max_body,
            beaker_summary_running=SummarySlots(max(1, self.summary_concurrency)),
        )
        if isinstance(self.server.identity_provider, TokenOnlyIdentityProvider):
            origin = self._chosen_origin()
            self.settings.update(allow_origin=origin, disable_check_xsrf=True)
            self.server.allow_origin = origin
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
        provider = self.server.identity_provider
        if isinstance(provider, TokenOnlyIdentityProvider) and provider.beaker_generated:
            # Shown once on the terminal, like Jupyter does, but never in a log record
            # (every record is redacted). Set BEAKER_TOKEN to choose the token instead.
            print(
                f"Beaker: generated token (set BEAKER_TOKEN to choose one): {provider.token}",
                file=sys.stderr,
                flush=True,
            )
        user = _user_name()
        self.log.warning(
            "Beaker: local mode is single-user. Kernels that run as local processes (every "
            "Beaker kernel, and subkernels of local kernelspecs) run as user %r with this "
            "service's rights: code run in them can read the service's runtime files (its "
            "token, other kernels' connection files) and the environment of the service and "
            "of Beaker kernels. Serve one user who trusts the code they run, or run "
            "subkernels in containers (docs/security.md).",
            user,
        )
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.log.warning("Beaker is running as root: every kernel runs user code as root too.")
        if _loopback_only(self.server.ip):
            self.log.info(
                "Beaker: listening on %s only, so other machines and containers cannot "
                "connect; BEAKER_IP=0.0.0.0 (or --ip=0.0.0.0) listens on every interface, as "
                "the service image does (docs/deploy.md).",
                self.server.ip,
            )
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

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # Now that the server's event loop runs: the warm subkernel (see .prestart).
        manager = self.server.kernel_manager
        if isinstance(manager, BeakerMappingKernelManager):
            try:
                await manager.start_warm()
            except Exception:
                self.log.exception(
                    "Beaker: could not start the warm subkernel; each Beaker kernel starts "
                    "its first subkernel along with it instead"
                )

    async def stop_extension(self) -> None:
        set_state(None)


def _loopback_only(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _user_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "?")


def main(argv: list[str] | None = None) -> None:
    """``beaker serve [ServerApp options]``.

    Also what ``beaker notebook`` and upstream Beaker's start commands run
    (:mod:`.notebook`, :mod:`.server`). An unknown option or a bad value stops the
    service with a message (:mod:`.command_line`).
    """
    redaction.install(value for name in SERVICE_TOKEN_NAMES if (value := os.environ.get(name)))
    _check_environment()
    args = list(argv or [])
    if args and not args[0].startswith("-"):
        # Jupyter Server would look the first word up as a subcommand, and fail on it.
        raise SystemExit(
            f"unexpected argument {args[0]!r}: every option starts with -- ({HELP_HINT})"
        )
    # --dev-ui: a flag of this extension, which the server's command line does not carry over
    args = ["--BeakerServiceApp.dev_ui=True" if arg == "--dev-ui" else arg for arg in args]
    BeakerServiceApp.launch_instance(args)  # type: ignore[no-untyped-call]


__all__ = ["BeakerServerApp", "BeakerServiceApp", "__version__", "main"]
