"""The subkernel's life: start, language change, readiness, crash watch and restart.

One subkernel runs at a time. Starts, language changes and crash restarts take one lock,
so a request that arrives during any of them waits and then uses the subkernel that came
out of it. The kernel is *settled* when a subkernel runs or when starting one failed (the
reason is kept): requests wait for that, never for a start alone, so a failed start
answers them with an error instead of leaving them waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import BeakerError, SubkernelDiedError, SubkernelStartError, UnknownLanguageError
from ..lib.subkernel import BeakerSubkernel, get_subkernel, runs_locally
from .launchers import SubkernelHandle, SubkernelLauncher
from .link import SubkernelLink

log = logging.getLogger("beaker_kernel")

Prepare = Callable[[SubkernelLink], Awaitable[None]]

#: How many times a subkernel whose process exits while starting is started, in all.
START_ATTEMPTS = 3


class SubkernelExitedError(SubkernelStartError):
    """The subkernel's process exited before it answered ``kernel_info``.

    Front ends see it as the :class:`SubkernelStartError` it is.
    """

    @property
    def ename(self) -> str:
        return "SubkernelStartError"


class SupervisorSettings(Protocol):
    subkernel_startup_timeout: float
    crash_poll_interval: float
    restart_on_crash: bool


class LinkFactory(Protocol):
    """Opens links (with their relay tasks) and closes them again."""

    def open_link(self, handle: SubkernelHandle) -> SubkernelLink: ...

    async def close_link(self, link: SubkernelLink, error: Exception) -> None: ...

    async def probe(self, link: SubkernelLink, timeout: float) -> None:
        """Return once the subkernel answered ``kernel_info`` on shell and iopub."""


class Supervisor:
    """Owns the running subkernel."""

    def __init__(
        self,
        settings: SupervisorSettings,
        links: LinkFactory,
        *,
        on_death: Callable[[SubkernelDiedError], Awaitable[None]],
        on_restarted: Callable[[SubkernelLink], Awaitable[None]],
        on_restart_notice: Callable[[str], None],
        on_link_closing: Callable[[SubkernelLink, bool], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.links = links
        self.subkernels: dict[str, type[BeakerSubkernel]] = {}
        self.subkernel: type[BeakerSubkernel] | None = None
        self.link: SubkernelLink | None = None
        self.launcher: SubkernelLauncher | None = None
        self._on_death = on_death
        self._on_restarted = on_restarted
        self._on_restart_notice = on_restart_notice
        self._on_link_closing = on_link_closing
        self._settled = asyncio.Event()
        self._switching = asyncio.Lock()
        self._restarting = False
        # Why no subkernel is running, once starting one failed; None while one runs or
        # is on its way (requests then wait for it instead of failing).
        self._no_subkernel_reason: str | None = None
        # The installed kernelspecs (name → kernel.json) when a subkernel was last started.
        self._kernelspecs: dict[str, Any] = {}

    @property
    def settled(self) -> bool:
        return self._settled.is_set()

    @property
    def kernel_name(self) -> str:
        return self.link.kernel_name if self.link is not None else ""

    def no_subkernel(self, reason: str) -> None:
        """No subkernel runs and none is on its way: requests get ``reason`` until one does."""
        self._no_subkernel_reason = reason
        self._settled.set()

    def unsettle(self) -> None:
        self._settled.clear()

    async def running_link(self) -> SubkernelLink:
        """The running subkernel's link, once any start or restart under way is over.

        Raises :class:`SubkernelStartError` when no subkernel runs (starting it failed).
        """
        await self._settled.wait()
        link = self.link
        if link is None:
            reason = self._no_subkernel_reason or "it was stopped."
            raise SubkernelStartError(
                f"No subkernel is running: {reason} Send a context_setup_request with a "
                "language to start one."
            )
        return link

    def resolve(self, language: str) -> type[BeakerSubkernel]:
        """The subkernel definition of ``language`` (a slug or kernelspec name).

        A kernelspec name that says nothing of its language (a container kernelspec such
        as ``beaker-julia-docker``, which front ends get back as ``subkernel``) is known
        by the ``language`` of its kernel.json.
        """
        try:
            return get_subkernel(language, self.subkernels)
        except UnknownLanguageError:
            spec = self._kernelspecs.get(language)
            if spec is not None:
                for subkernel in sorted(self.subkernels.values(), key=lambda s: (s.WEIGHT, s.SLUG)):
                    if subkernel.matches_kernelspec(language, spec):
                        return subkernel
            raise

    def adopt(self, link: SubkernelLink, subkernel: type[BeakerSubkernel]) -> None:
        """Make ``link`` (to a subkernel already answering) the running subkernel."""
        self.link = link
        self.subkernel = subkernel
        self._no_subkernel_reason = None
        self._settled.set()

    # ------------------------------------------------------------ changing

    async def change(
        self, language: str, prepare: Prepare | None = None, *, fresh: bool = False
    ) -> bool:
        r"""Make ``language`` the running subkernel; returns whether it changed.

        The new subkernel is started, checked and ``prepare``\ d (a context runs its setup
        procedures there) *before* the old one is stopped, so a failure anywhere leaves
        the kernel as it was. ``fresh`` starts a new one even for the same language.
        """
        subkernel = self.resolve(language)
        async with self._switching:
            if self.subkernel is subkernel and self.link is not None and not fresh:
                return False
            try:
                await self._switch_to(subkernel, prepare, language)
            except BeakerError as e:
                if self.link is None:
                    self.no_subkernel(e.message)
                raise
            return True

    async def _switch_to(
        self, subkernel: type[BeakerSubkernel], prepare: Prepare | None, wanted: str = ""
    ) -> None:
        assert self.launcher is not None
        specs = {
            name: spec
            for name, spec in (await self.launcher.kernelspecs()).items()
            if not spec.get("metadata", {}).get("beaker_kernel")
        }
        self._kernelspecs = specs
        kernel_name = subkernel.choose_kernelspec(specs, wanted)
        link = await self._start_answering(kernel_name, runs_locally(specs[kernel_name]))
        try:
            if prepare is not None:
                await prepare(link)
        except BaseException:
            await self._close(link, SubkernelDiedError("The subkernel was stopped"))
            raise
        old = self.link
        self.adopt(link, subkernel)
        if old is not None:
            await self._close(old, SubkernelDiedError("The subkernel was stopped"))

    async def _start_answering(self, kernel_name: str, local: bool) -> SubkernelLink:
        """Start ``kernel_name`` and return its link once it answers.

        A kernel whose process exits while starting is started again, on new ports, up to
        :data:`START_ATTEMPTS` times in all. Its ports are chosen free before it starts,
        and another process that takes one of them before the kernel binds it makes the
        kernel exit (``Address already in use``): jupyter_client's own restarter does the
        same (``random_ports_until_alive``). A kernel that does not answer in time is not
        started again.
        """
        assert self.launcher is not None
        attempt = 1
        while True:
            handle = await self.launcher.start(kernel_name)
            handle.local = local
            link = self.links.open_link(handle)
            try:
                await self._wait_until_answering(link)
                return link
            except SubkernelExitedError as e:
                await self._close(link, SubkernelDiedError("The subkernel was stopped"))
                if attempt == START_ATTEMPTS:
                    raise SubkernelStartError(
                        f"{e.message}, {START_ATTEMPTS} times, on new ports each time. Its"
                        " error output, in the log of the Beaker kernel or service that"
                        " started it, says why."
                    ) from e
                log.warning(
                    "%s (attempt %d of %d); starting it again on new ports",
                    e.message,
                    attempt,
                    START_ATTEMPTS,
                )
                attempt += 1
            except BaseException:
                await self._close(link, SubkernelDiedError("The subkernel was stopped"))
                raise

    async def _close(self, link: SubkernelLink, error: Exception, *, shutdown: bool = True) -> None:
        if self._on_link_closing is not None:
            try:
                await self._on_link_closing(link, shutdown)
            except Exception:
                log.exception("Could not release what the subkernel held")
        await self.links.close_link(link, error)
        if shutdown:
            try:
                await link.handle.shutdown()
            except BeakerError as e:
                log.error("Could not stop the subkernel: %s", e.message)

    async def _wait_until_answering(self, link: SubkernelLink) -> None:
        """Send kernel_info until the subkernel answers on shell *and* iopub.

        The iopub status proves our SUB socket is subscribed, so no output of the first
        user request can be lost (ZMQ's slow-joiner problem).
        """
        timeout = self.settings.subkernel_startup_timeout
        deadline = time.monotonic() + timeout
        attempt_timeout = 0.05
        while True:
            try:
                await self.links.probe(link, attempt_timeout)
                await link.handle.connected()
                return
            except TimeoutError:
                if not await link.handle.is_alive():
                    raise SubkernelExitedError(
                        f"The {link.kernel_name!r} kernel exited while starting"
                    ) from None
                if time.monotonic() > deadline:
                    raise SubkernelStartError(
                        f"The {link.kernel_name!r} kernel did not answer within {timeout:.0f} s"
                    ) from None
                attempt_timeout = min(attempt_timeout * 2, 2.0)

    async def stop(self) -> None:
        """Stop the subkernel (shutdown, or the kernel stopping)."""
        self._settled.clear()
        link, self.link = self.link, None
        self.subkernel = None
        if link is not None:
            await self._close(link, SubkernelDiedError("The subkernel was stopped"))

    async def close(self) -> None:
        await self.stop()
        if self.launcher is not None:
            await self.launcher.close()

    # ------------------------------------------------------------ crashes

    async def watch(self, link: SubkernelLink) -> None:
        """Notice when the subkernel dies: at once on a disconnect, else by polling."""
        monitor_wait = asyncio.ensure_future(link.monitor.recv_multipart())
        try:
            while True:
                await asyncio.wait({monitor_wait}, timeout=self.settings.crash_poll_interval)
                checks: tuple[float, ...] = (0.0,)
                if monitor_wait.done():
                    monitor_wait.result()
                    monitor_wait = asyncio.ensure_future(link.monitor.recv_multipart())
                    # A disconnect can also be a restart we asked for, and a dying process
                    # (or container) may still look alive for a moment: check a few times.
                    checks = (0.05, 0.25, 0.7, 1.5)
                for delay in checks:
                    await asyncio.sleep(delay)
                    if self.link is not link or self._restarting:
                        break
                    try:
                        alive = await link.handle.is_alive()
                    except BeakerError as e:
                        # Cannot tell (the service did not answer): keep watching.
                        log.warning("Could not check the subkernel: %s", e.message)
                        break
                    if not alive:
                        await self._on_subkernel_death(link)
                        return
        finally:
            monitor_wait.cancel()

    async def _on_subkernel_death(self, link: SubkernelLink) -> None:
        if self.link is not link:
            return  # replaced meanwhile (a language change): nothing is lost
        self.link = None
        self._settled.clear()
        name = self.subkernel.DISPLAY_NAME if self.subkernel else link.kernel_name
        message = f"The {name} subkernel died unexpectedly; its variables are lost."
        if self.settings.restart_on_crash:
            message += " Beaker is starting a new one."
        log.warning("%s", message)
        error = SubkernelDiedError(message)
        await self._on_death(error)
        await self._close(link, error, shutdown=False)
        if not self.settings.restart_on_crash:
            self.subkernel = None
            self.no_subkernel(message)
            await link.handle.shutdown()
            return
        self._restarting = True
        try:
            async with self._switching:
                if self.link is not None:
                    # A language change finished while this waited: it replaced the
                    # dead subkernel.
                    await link.handle.shutdown()
                    return
                await link.handle.restart()
                new_link = self.links.open_link(link.handle)
                try:
                    await self._wait_until_answering(new_link)
                    await self._on_restarted(new_link)
                except BaseException:
                    await self._close(
                        new_link, SubkernelDiedError("The subkernel was stopped"), shutdown=False
                    )
                    raise
                self.link = new_link
        except Exception as e:
            reason = e.message if isinstance(e, BeakerError) else f"{type(e).__name__}: {e}"
            log.error(
                "Could not restart the subkernel: %s",
                reason,
                exc_info=not isinstance(e, BeakerError),
            )
            self.subkernel = None
            self.no_subkernel(f"{message} Restarting it failed: {reason}")
            try:
                await link.handle.shutdown()
            except BeakerError as stop_error:
                log.error("Could not stop the failed subkernel: %s", stop_error.message)
            return
        finally:
            self._restarting = False
        self._settled.set()
        self._on_restart_notice(f"The {name} subkernel died and was restarted.\n")
