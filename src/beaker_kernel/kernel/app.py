"""The Beaker kernel process: settings, and the parts put together.

:class:`BeakerKernelApp` loads the kernel's settings (Jupyter config files named
``jupyter_beaker_kernel_config.{py,json}`` on the Jupyter config path, then the command
line, with environment variables as defaults) and builds the kernel::

    FrontEnd ── Router ──▶ HandlerTable (built-in, context and agent handlers)
       ▲          │  └───▶ Interceptors ─▶ forwarded to the subkernel (SubkernelLink)
       │          ▼
       └──── Relay ◀── SubkernelLink ◀── Supervisor (start, language change, crashes)
                │
                └──▶ InternalExecutor (Beaker's own executions), PostExecuteScheduler

Contexts and the agent get a :class:`~.services.BeakerKernel` facade and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from typing import Any, cast

import zmq.asyncio
from jupyter_core.application import JupyterApp
from traitlets import Bool, Dict, Float, Int, Unicode, default

from .. import __version__
from ..agent.settings import AgentSettings
from ..checkpoints import DEFAULT_MAX_BYTES, DEFAULT_MAX_COUNT
from ..errors import BeakerError, SubkernelDiedError
from ..lib.config import config
from ..lib.jupyter_kernel_proxy import JupyterMessage
from ..lib.registry import ContextRegistry
from ..lib.subkernel import discover_subkernels
from ..lib.utils import execution_context
from ..settings import env_bool, env_float, env_int, env_str
from .agent_requests import AgentRunner
from .checkpointing import Checkpoints
from .context_switch import ContextSwitcher
from .executor import InternalExecutor
from .frontend import FrontEnd
from .handlers import KERNEL, HandlerTable
from .interception import Interceptors
from .launchers import LocalLauncher, ServiceLauncher
from .magics import Magics
from .pending import PendingRequests
from .post_execute import PostExecuteScheduler
from .relay import Relay
from .router import Router
from .services import BeakerKernel
from .supervisor import Supervisor
from .tasks import Tasks

log = logging.getLogger("beaker_kernel")


class BeakerKernelApp(JupyterApp):
    """The Beaker kernel: binds the front-end channels and proxies to a subkernel."""

    name = "beaker-kernel"
    description = "The Beaker kernel (started by Jupyter front ends with a connection file)."
    version = __version__

    aliases = {"f": "BeakerKernelApp.connection_file", "log-level": "Application.log_level"}
    flags = {
        "debug": (
            {"Application": {"log_level": logging.DEBUG}},
            "Log debug messages.",
        ),
    }

    @default("log_level")
    def _default_log_level(self) -> int:
        return logging.INFO

    @default("config_file_name")
    def _default_config_file_name(self) -> str:
        return "jupyter_beaker_kernel_config"

    def migrate_config(self) -> None:
        """Skipped: see :func:`beaker_kernel.service.app.BeakerServerApp.migrate_config`."""

    connection_file = Unicode(help="The connection file the front end wrote.").tag(config=True)

    default_language = Unicode(
        help="Subkernel language started with the kernel (slug or kernelspec name). "
        "Environment: BEAKER_DEFAULT_CONTEXT_LANGUAGE, else BEAKER_SUBKERNEL.",
    ).tag(config=True)

    @default("default_language")
    def _default_default_language(self) -> str:
        return env_str("BEAKER_DEFAULT_CONTEXT_LANGUAGE", "BEAKER_SUBKERNEL", default="python3")

    default_context = Unicode(
        help="Context set up when the kernel starts ('none' for none). "
        "Environment: BEAKER_DEFAULT_CONTEXT.",
    ).tag(config=True)

    @default("default_context")
    def _default_default_context(self) -> str:
        value = env_str("BEAKER_DEFAULT_CONTEXT", default="default")
        return "" if value.lower() == "none" else value

    default_context_payload = Dict(
        help="context_info of the default context. "
        "Environment: BEAKER_DEFAULT_CONTEXT_PAYLOAD (a JSON object).",
    ).tag(config=True)

    @default("default_context_payload")
    def _default_default_context_payload(self) -> dict[str, Any]:
        raw = env_str("BEAKER_DEFAULT_CONTEXT_PAYLOAD")
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as e:
            log.warning("BEAKER_DEFAULT_CONTEXT_PAYLOAD is not JSON (%s); using {}", e)
            return {}
        if not isinstance(value, dict):
            log.warning("BEAKER_DEFAULT_CONTEXT_PAYLOAD is not a JSON object; using {}")
            return {}
        return value

    default_context_debug = Bool(
        help="Set the default context up with debug on (debug_event messages). "
        "Environment: BEAKER_DEFAULT_CONTEXT_DEBUG (true/false).",
    ).tag(config=True)

    @default("default_context_debug")
    def _default_default_context_debug(self) -> bool:
        return env_bool("BEAKER_DEFAULT_CONTEXT_DEBUG", False)

    default_context_verbose = Bool(
        help="Set the default context up verbose (the agent's llm_observation messages). "
        "Environment: BEAKER_DEFAULT_CONTEXT_VERBOSE (true/false).",
    ).tag(config=True)

    @default("default_context_verbose")
    def _default_default_context_verbose(self) -> bool:
        return env_bool("BEAKER_DEFAULT_CONTEXT_VERBOSE", False)

    service_url = Unicode(
        help="Base URL of the Beaker service that started this kernel; subkernels are then "
        "started through it. Environment: BEAKER_SERVICE_URL (set by the service).",
    ).tag(config=True)

    @default("service_url")
    def _default_service_url(self) -> str:
        return env_str("BEAKER_SERVICE_URL")

    service_token = Unicode(
        help="Token for the Beaker service. Environment: BEAKER_SERVICE_TOKEN.",
    ).tag(config=True)

    @default("service_token")
    def _default_service_token(self) -> str:
        return env_str("BEAKER_SERVICE_TOKEN")

    kernel_id = Unicode(
        help="This kernel's id in the Beaker service. Environment: BEAKER_KERNEL_ID.",
    ).tag(config=True)

    @default("kernel_id")
    def _default_kernel_id(self) -> str:
        return env_str("BEAKER_KERNEL_ID")

    subkernel_startup_timeout = Float(
        help="Seconds to wait for a new subkernel to answer kernel_info. "
        "Environment: BEAKER_SUBKERNEL_STARTUP_TIMEOUT.",
    ).tag(config=True)

    @default("subkernel_startup_timeout")
    def _default_subkernel_startup_timeout(self) -> float:
        return env_float("BEAKER_SUBKERNEL_STARTUP_TIMEOUT", 60.0)

    crash_poll_interval = Float(
        help="Seconds between checks that the subkernel is alive (a disconnect is noticed "
        "at once; this is the fallback). Environment: BEAKER_CRASH_POLL_INTERVAL.",
    ).tag(config=True)

    @default("crash_poll_interval")
    def _default_crash_poll_interval(self) -> float:
        return env_float("BEAKER_CRASH_POLL_INTERVAL", 10.0)

    post_execute_delay = Float(
        help="Seconds the subkernel must have been idle before post-execute actions and "
        "previews run, so they never queue in front of a user's next request. "
        "Environment: BEAKER_POST_EXECUTE_DELAY.",
    ).tag(config=True)

    @default("post_execute_delay")
    def _default_post_execute_delay(self) -> float:
        return env_float("BEAKER_POST_EXECUTE_DELAY", 0.05, positive=False)

    restart_on_crash = Bool(
        help="Start a new subkernel when the current one dies. "
        "Environment: BEAKER_RESTART_ON_CRASH (true/false).",
    ).tag(config=True)

    @default("restart_on_crash")
    def _default_restart_on_crash(self) -> bool:
        return env_bool("BEAKER_RESTART_ON_CRASH", True)

    enable_checkpoints = Bool(
        help="Save the user's variables before each piece of code the agent runs, so that "
        "front ends can roll it back (actions add_checkpoint and rollback). "
        "Environment: ENABLE_CHECKPOINTS (true/false).",
    ).tag(config=True)

    @default("enable_checkpoints")
    def _default_enable_checkpoints(self) -> bool:
        return env_bool("ENABLE_CHECKPOINTS", True)

    checkpoint_max_bytes = Int(
        help="Largest checkpoint, in bytes of files written; a larger one is refused. "
        "Environment: BEAKER_CHECKPOINT_MAX_BYTES.",
    ).tag(config=True)

    @default("checkpoint_max_bytes")
    def _default_checkpoint_max_bytes(self) -> int:
        return env_int("BEAKER_CHECKPOINT_MAX_BYTES", DEFAULT_MAX_BYTES)

    checkpoint_max_count = Int(
        help="Checkpoints kept per subkernel; the oldest are dropped first. "
        "Environment: BEAKER_CHECKPOINT_MAX_COUNT.",
    ).tag(config=True)

    @default("checkpoint_max_count")
    def _default_checkpoint_max_count(self) -> int:
        return env_int("BEAKER_CHECKPOINT_MAX_COUNT", DEFAULT_MAX_COUNT)

    carbon_copies = Bool(
        help="Show front ends Beaker's own executions as beaker__execute_input, "
        "beaker__execute_reply and beaker__error copies, parented to the request they "
        "serve. Environment: BEAKER_CARBON_COPIES (true/false).",
    ).tag(config=True)

    @default("carbon_copies")
    def _default_carbon_copies(self) -> bool:
        return env_bool("BEAKER_CARBON_COPIES", True)

    # ------------------------------------------------------------ building

    def build(self) -> None:
        """Make the kernel's parts from the loaded settings (no I/O yet)."""
        with open(self.connection_file) as f:
            self.connection_info: dict[str, Any] = json.load(f)
        self.zmq_context = zmq.asyncio.Context()
        self.tasks = Tasks()
        self.handlers = HandlerTable()
        self.interceptors = Interceptors()
        self.pending = PendingRequests()
        self.frontend = FrontEnd(self.connection_info, self.zmq_context)
        self.supervisor = Supervisor(
            self,
            links=_LateLinks(self),
            on_death=self._on_subkernel_death,
            on_restarted=self._on_subkernel_restarted,
            on_restart_notice=self._restart_notice,
            on_link_closing=self._release_link,
        )
        self.executor = InternalExecutor(
            self.supervisor.running_link,
            on_execute=self._cancel_post_execute,
            send_copy=self.frontend.send_copy,
        )
        self.executor.carbon_copies = self.carbon_copies
        self.checkpoints = Checkpoints(
            self.executor,
            enabled=lambda: self.checkpoints_enabled_now,
            max_bytes=lambda: self.checkpoint_max_bytes,
            max_count=lambda: self.checkpoint_max_count,
        )
        self.agent_settings = AgentSettings(parent=self)
        config.attach_agent_settings(self.agent_settings)
        self.services = BeakerKernel(
            self,
            self.frontend,
            self.executor,
            self.supervisor,
            self.interceptors,
            self.agent_settings,
        )
        self.post_execute = PostExecuteScheduler(
            self.tasks,
            delay=lambda: self.post_execute_delay,
            busy=lambda: bool(self.pending),
            work=self._post_execute_work,
            wanted=lambda: self.contexts.current is not None,
        )
        self.relay = Relay(
            self.zmq_context,
            self.tasks,
            self.frontend,
            self.executor,
            self.pending,
            self.interceptors,
            self.post_execute,
            self.supervisor.watch,
        )
        self.router = Router(
            self.tasks,
            self.frontend,
            self.handlers,
            self.interceptors,
            self.supervisor,
            self.pending,
            self.post_execute,
            self.relay,
        )
        self.router.notebook_items = self.relay.notebook_items
        self.contexts = ContextSwitcher(
            self.services,
            self.supervisor,
            self.handlers,
            self.interceptors,
            ContextRegistry(parent=self),
            forward=self.router.forward_decoded,
            send_answer=self._answer_intercepted,
        )
        self.router.magics = Magics(self.frontend, self.contexts)
        self.agent = AgentRunner(
            self.services,
            self.agent_settings,
            lambda: self.contexts.current,
            lambda request, coro: self.router.detach(request, coro, name="llm-request"),
        )
        self.services._current_context = lambda: self.contexts.current
        self.services._ensure_agent_idle = self.agent.ensure_idle
        self.services._checkpoint_store = self._checkpoint_store
        self.services._checkpoints_enabled = lambda: self.checkpoints_enabled_now
        for channel in ("shell", "control"):
            self.handlers.register(KERNEL, "interrupt_request", self._on_interrupt, channel=channel)
            self.handlers.register(KERNEL, "shutdown_request", self._on_shutdown, channel=channel)
        self.handlers.register(
            KERNEL, "notebook_state_response", self._on_notebook_state, quiet=True
        )
        self.contexts.register()
        self.agent.register(self.handlers)
        self._shutdown = asyncio.Event()

    # ------------------------------------------------------------ hooks

    @property
    def checkpoints_enabled_now(self) -> bool:
        return bool(self.enable_checkpoints)

    async def _checkpoint_store(self) -> Any:
        link = await self.supervisor.running_link()
        subkernel = self.supervisor.subkernel
        if subkernel is None:
            return None
        return await self.checkpoints.store_for(link, subkernel.SLUG)

    async def _release_link(self, link: Any, alive: bool) -> None:
        await self.checkpoints.release(link, alive=alive)

    def _cancel_post_execute(self) -> None:
        self.post_execute.cancel()

    async def _post_execute_work(self, parent: dict[str, Any], reply: Any) -> None:
        """After a user cell: the context's post_execute, then preview, state and history."""
        context = self.contexts.current
        if context is None:
            return
        message = JupyterMessage(
            [],
            b"",
            reply.header() if reply is not None else {},
            parent,
            {},
            reply.content() if reply is not None else {},
            [],
        )
        services = self.services
        try:
            # No parent message context: this background work sends no beaker__ copies
            # (they would arrive after the cell is done, for nobody to show).
            hook = getattr(context, "post_execute", None)
            if callable(hook):
                with execution_context("post_execute", context.slug):
                    await hook(message)
            await services.send_preview(parent)
            await services.send_kernel_state_info(parent)
            context = self.contexts.current
            if context is not None and context.has_agent:
                await services.send_chat_history(parent)
        finally:
            self.relay.resume_passthrough()

    def _answer_intercepted(self, request: Any, content: dict[str, Any]) -> None:
        # A cell a context answered did not run in the subkernel: its count stays.
        if request.msg_type == "execute_request":
            content = {**content, "execution_count": self.relay.execution_count()}
        self.frontend.reply(request, content)
        self.frontend.publish("status", {"execution_state": "idle"}, request.header)

    async def _on_notebook_state(self, request: Any) -> None:
        self.services.notebook_state_arrived(request)

    async def _on_subkernel_death(self, error: SubkernelDiedError) -> None:
        for pending in self.pending.take_all():
            self.frontend.answer_error(
                pending.channel, pending.idents, pending.header, error.reply_content()
            )

    async def _on_subkernel_restarted(self, link: Any) -> None:
        await self.contexts.on_subkernel_restart(link)

    def _restart_notice(self, text: str) -> None:
        self.frontend.publish("stream", {"name": "stderr", "text": text})

    async def _on_interrupt(self, request: Any) -> None:
        self.handlers.run_interrupt_hooks()
        self.router.cancel_running(keep=request.msg_id)
        link = self.supervisor.link
        if link is not None:
            await link.handle.interrupt()
        self.frontend.reply(request, {"status": "ok"})

    async def _on_shutdown(self, request: Any) -> None:
        restart = bool(request.content.get("restart", False))
        await self.supervisor.stop()
        self.frontend.reply(request, {"status": "ok", "restart": restart})
        self._shutdown.set()

    # ------------------------------------------------------------ running

    async def start_kernel(self) -> None:
        """Bind the front-end channels and start the default subkernel and context."""
        self.frontend.bind()
        launcher: ServiceLauncher | None = None
        if self.service_url:
            launcher = ServiceLauncher(
                self.service_url,
                self.service_token,
                self.kernel_id or None,
                prestarted=os.environ.get("BEAKER_PRESTARTED_SUBKERNEL", ""),
            )
            self.supervisor.launcher = launcher
        else:
            session = self.frontend.session
            self.supervisor.launcher = LocalLauncher(signer=(session.key, session.signature_scheme))
        self.router.started = started = asyncio.Event()
        self.router.start()
        self.tasks.spawn(self.checkpoints.sweep(), name="sweep-checkpoints")
        try:
            began = time.monotonic()
            self.supervisor.subkernels = discover_subkernels()
            await self.supervisor.change(self.default_language)
            log.debug(
                "Subkernel %s answering after %.2f s",
                self.default_language,
                time.monotonic() - began,
            )
            if self.default_context:
                self.services.debug_enabled = self.default_context_debug
                self.services.verbose = self.default_context_verbose
                try:
                    await self.contexts.setup(
                        self.default_context,
                        self.default_language,
                        self.default_context_payload,
                        announce=False,
                    )
                except BeakerError as e:
                    log.error(
                        "The default context %r was not set up: %s",
                        self.default_context,
                        e.message,
                    )
                else:
                    log.debug(
                        "Default context %s set up after %.2f s",
                        self.default_context,
                        time.monotonic() - began,
                    )
        finally:
            started.set()
            if launcher is not None:
                # the first subkernel was another one, or none started
                await launcher.release_prestarted()

    async def run(self) -> None:
        """Run until a shutdown request or SIGTERM, then stop the subkernel."""
        self.build()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._shutdown.set)
        self.tasks.spawn(self._watch_parent(), name="watch-parent")
        try:
            await self.start_kernel()
        except BeakerError as e:
            # Keep running: the front end gets the error on its next request and can set
            # another language; the kernel process itself is fine.
            log.error("%s", e.message)
            if self.supervisor.link is None and not self.supervisor.settled:
                # Failed before any start was tried (an unknown default language, …).
                self.supervisor.no_subkernel(e.message)
        await self._shutdown.wait()
        await self.stop()

    async def stop(self) -> None:
        """Stop the subkernel and every task; close the sockets."""
        await self.contexts.close()
        await self.supervisor.close()
        await self.tasks.cancel_all()
        self.frontend.close()

    async def _watch_parent(self) -> None:
        """Shut down when the process that started this kernel dies.

        A front end killed without shutting its kernels down would otherwise leave
        Beaker and its subkernel running forever. jupyter_client names the parent in
        ``JPY_PARENT_PID``; without it (or if it is already gone) nothing is watched.
        """
        try:
            parent = int(os.environ.get("JPY_PARENT_PID", "0"))
        except ValueError:
            return
        if parent <= 1 or os.getppid() != parent:
            return
        while os.getppid() == parent:  # noqa: ASYNC110 - polling the OS, no event to wait on
            await asyncio.sleep(2.0)
        log.warning("The process that started this kernel (%d) is gone; shutting down", parent)
        self._shutdown.set()

    def start(self) -> None:
        if not self.connection_file:
            self.log.critical("No connection file: start the kernel with -f FILE")
            self.exit(2)
        logging.basicConfig(
            level=cast(int, self.log_level),
            format="[beaker %(levelname)s %(asctime)s] %(message)s",
            stream=sys.stderr,
        )
        # Ctrl-C in a terminal that started the front end must not kill the kernel; front
        # ends interrupt through interrupt_request (interrupt_mode "message").
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log.debug("Beaker %s starting", __version__)
        asyncio.run(self.run())


class _LateLinks:
    """The relay is made after the supervisor (it needs the supervisor's crash watch)."""

    def __init__(self, app: BeakerKernelApp) -> None:
        self._app = app

    def open_link(self, handle: Any) -> Any:
        return self._app.relay.open_link(handle)

    async def close_link(self, link: Any, error: Exception) -> None:
        await self._app.relay.close_link(link, error)

    async def probe(self, link: Any, timeout: float) -> None:
        await self._app.relay.probe(link, timeout)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the kernel process: ``python -m beaker_kernel.kernel -f FILE``."""
    BeakerKernelApp.launch_instance(argv)
