"""The service's kernel manager.

Every kernel that is not a Beaker kernel runs user code as a subkernel, so it starts with
the allow-listed environment of :func:`beaker_kernel.environment.subkernel_environment`
(a Beaker kernel gets the server's environment and its secrets from its provisioner). An
unknown kernelspec name is the client's mistake: ``POST /api/kernels`` answers 400 and
names the kernels there are (Jupyter Server's own manager answers 500).

Starting a Beaker kernel also starts, at the same moment, the subkernel it will ask for
first (:mod:`.prestart`), so that the two start-ups overlap instead of adding up; or hands
it the warm subkernel, started before it was asked for.

Two moments in a kernel's start make Jupyter Server's own manager answer 500:

* Listing kernels (``GET /api/kernels``) just as a kernel has started but before the
  server has recorded its activity: the model of that kernel cannot be built. A Beaker
  kernel starts its subkernels through the API, so front ends polling the list hit this.
  :class:`BeakerMappingKernelManager` lists such a kernel as ``starting``.
* Deleting a kernel while the server restarts it (after its process died, say):
  jupyter_client refuses because the start under way has not finished, and keeps the
  kernel. :class:`BeakerMappingKernelManager` waits for that start to end and then
  deletes the kernel, so ``DELETE /api/kernels/<id>`` always removes it — and, for a
  Beaker kernel, its subkernels.

The server records every kernel's activity (for ``GET /api/kernels`` and the culler) by
reading and decoding all it publishes on iopub, in its one event loop. For a subkernel
that doubles the server's work per message: what the subkernel publishes reaches the front
end through its Beaker kernel, whose iopub the server reads anyway. A subkernel that a
Beaker kernel claimed is therefore not watched (:meth:`BeakerMappingKernelManager.
unwatch_subkernel`): ``GET /api/kernels`` shows it with its Beaker kernel's
``execution_state`` and ``last_activity``, and the culler leaves it to its Beaker kernel,
whose deletion deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.session import new_id_bytes
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Bool, Float, default

from ..environment import subkernel_environment
from ..errors import MessageError
from ..lib.subkernel import runs_locally
from ..settings import env_bool
from ..wire import Frames
from .prestart import Prestart, discard, first_kernelspec
from .state import get_state

log = logging.getLogger("beaker_kernel.service")


class BeakerMappingKernelManager(AsyncMappingKernelManager):
    """Kernels of the Beaker service: listed while they start; deleted after a restart."""

    start_wait = Float(
        60.0,
        help="Seconds a kernel deletion waits for a start or restart of that kernel to "
        "end before deleting it anyway.",
    ).tag(config=True)

    prestart_subkernels = Bool(
        help="Start a Beaker kernel's first subkernel at the same time as the Beaker kernel "
        "(see beaker_kernel.service.prestart). Environment: BEAKER_PRESTART_SUBKERNELS "
        "(default on).",
    ).tag(config=True)

    warm_subkernel = Bool(
        help="Keep one local subkernel started for the next Beaker kernel (see "
        "beaker_kernel.service.prestart); needs prestart_subkernels. Environment: "
        "BEAKER_WARM_SUBKERNEL (default on).",
    ).tag(config=True)

    warm_delay = Float(
        30.0,
        help="Seconds the next warm subkernel waits, at most, for the Beaker kernel that "
        "took the last one to claim it, before it starts.",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        #: kernel id → the key it is to sign with, for the kernels about to start that share
        #: one (a Beaker kernel and the local subkernel started ahead for it).
        self._shared_keys: dict[str, bytes] = {}
        #: The warm subkernel, started for no Beaker kernel yet (its ``parent_id`` empty).
        self._warm: Prestart | None = None
        self._stopping = False

    @default("prestart_subkernels")
    def _default_prestart_subkernels(self) -> bool:
        return env_bool("BEAKER_PRESTART_SUBKERNELS", default=True)

    @default("warm_subkernel")
    def _default_warm_subkernel(self) -> bool:
        return env_bool("BEAKER_WARM_SUBKERNEL", default=True)

    @default("connection_dir")
    def _default_connection_dir(self) -> str:
        # Jupyter Server passes its runtime directory; used alone, jupyter_client's
        # manager would write connection files (with their keys) into the working
        # directory.
        from jupyter_core.paths import jupyter_runtime_dir
        from jupyter_core.utils import ensure_dir_exists

        path = jupyter_runtime_dir()
        ensure_dir_exists(path, mode=0o700)
        return path

    async def _async_start_kernel(
        self, *, kernel_id: str | None = None, path: Any = None, **kwargs: Any
    ) -> str:
        if kernel_id is not None and kernel_id in self:
            existing: str = await super()._async_start_kernel(
                kernel_id=kernel_id, path=path, **kwargs
            )
            return existing
        name = kwargs.get("kernel_name") or self.default_kernel_name
        state = get_state()
        prestart_on = bool(self.prestart_subkernels and state is not None)
        beaker_spec, specs = await asyncio.to_thread(self._kernelspecs_for, name, prestart_on)
        if beaker_spec is None:
            kwargs["env"] = subkernel_environment(kwargs.get("env") or os.environ)
        elif prestart_on and state is not None:
            kernel_id = kernel_id or str(uuid.uuid4())
            beaker_env = {**(kwargs.get("env") or os.environ), **(beaker_spec.env or {})}
            sub_name = first_kernelspec(beaker_env, specs)
            prestart = self._take_warm(kernel_id, sub_name)
            if prestart is None:
                key = None
                if sub_name is not None and runs_locally(specs[sub_name]):
                    # The two sign with one key: Beaker relays such a subkernel's iopub
                    # without re-signing (kernel/passthrough.py).
                    key = new_id_bytes()
                prestart = self._prestart(kernel_id, sub_name, key)
            if prestart is not None:
                if prestart.key is not None:
                    self._shared_keys[kernel_id] = prestart.key
                if self.warm_subkernel and runs_locally(specs[prestart.kernel_name]):
                    state.spawn(self._warm_after(prestart))
            try:
                started: str = await super()._async_start_kernel(
                    kernel_id=kernel_id, path=path, **kwargs
                )
            except BaseException:
                if prestart is not None and state.pop_prestart(kernel_id) is not None:
                    state.spawn(discard(prestart, self))
                raise
            finally:
                self._shared_keys.pop(kernel_id, None)
            return started
        result: str = await super()._async_start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        return result

    start_kernel = _async_start_kernel  # type: ignore[assignment]

    def pre_start_kernel(self, kernel_name: str | None, kwargs: Any) -> tuple[Any, str, str]:
        km, name, kernel_id = super().pre_start_kernel(kernel_name, kwargs)
        key = self._shared_keys.pop(kernel_id, None)
        if key is not None:
            km.session.key = key
        return km, name, kernel_id

    def _kernelspecs_for(
        self, kernel_name: str, others: bool
    ) -> tuple[Any, dict[str, dict[str, Any]]]:
        """``kernel_name``'s kernelspec when it is a Beaker kernel (else ``None``) and, when
        ``others``, every other kernel's kernel.json by name. HTTP 400 when there is no such
        kernel. Reads the kernelspec files: run in a thread."""
        manager = self.kernel_spec_manager or KernelSpecManager(parent=self)
        try:
            spec = manager.get_kernel_spec(kernel_name)
        except NoSuchKernel as e:
            names = sorted(manager.find_kernel_specs())
            raise web.HTTPError(
                400,
                "No kernel named %r; the kernels here are: %s",
                kernel_name,
                ", ".join(names) or "none",
            ) from e
        if not _is_beaker(spec.to_dict()):
            return None, {}
        return spec, _subkernel_specs(manager.get_all_specs()) if others else {}

    def _prestart(
        self, parent_id: str, kernel_name: str | None, key: bytes | None
    ) -> Prestart | None:
        """Start ``kernel_name`` for the Beaker kernel ``parent_id`` (in a task), signing
        with ``key`` when given (else a key of its own)."""
        state = get_state()
        if state is None or kernel_name is None:
            return None
        prestart = self._start_ahead(parent_id, kernel_name, key)
        state.prestarts[parent_id] = prestart
        return prestart

    def _start_ahead(self, parent_id: str, kernel_name: str, key: bytes | None) -> Prestart:
        """Start ``kernel_name`` ahead (in a task) for the Beaker kernel ``parent_id``, or
        warm when ``parent_id`` is empty."""
        kernel_id = str(uuid.uuid4())
        if key is not None:
            self._shared_keys[kernel_id] = key
        task = asyncio.ensure_future(self._start_ahead_task(kernel_id, kernel_name, parent_id))
        # A failure is logged by _start_ahead_task and answered to the claim, if one comes.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return Prestart(parent_id, kernel_name, kernel_id, task, key=key)

    async def _start_ahead_task(self, kernel_id: str, kernel_name: str, parent_id: str) -> str:
        state = get_state()
        if state is not None:
            state.started_ahead.add(kernel_id)
        purpose = f"ahead for {parent_id}" if parent_id else "warm, for the next Beaker kernel"
        try:
            started: str = await self._async_start_kernel(
                kernel_id=kernel_id, kernel_name=kernel_name
            )
        except Exception as e:
            self._shared_keys.pop(kernel_id, None)
            if state is not None:
                state.started_ahead.discard(kernel_id)
            if self._warm is not None and self._warm.kernel_id == kernel_id:
                self._warm = None
            self.log.warning(
                "The %s subkernel started %s failed to start: %s; %s",
                kernel_name,
                purpose,
                e,
                "the Beaker kernel will start one itself"
                if parent_id
                else "the next Beaker kernel starts one of its own",
            )
            raise
        self.log.info("Started subkernel %s (%s) %s", started, kernel_name, purpose)
        return started

    # ------------------------------------------------------------------ warm subkernel

    async def start_warm(self) -> None:
        """Start the warm subkernel (see :mod:`.prestart`): the one the Beaker kernel
        ``beaker_kernel`` (else the default kernel, else the first Beaker kernelspec by
        name) starts first, when it runs locally."""
        if not (self.prestart_subkernels and self.warm_subkernel) or get_state() is None:
            return
        name = await asyncio.to_thread(self._warm_kernelspec)
        if name is not None:
            self._fill_warm(name)

    def _warm_kernelspec(self) -> str | None:
        manager = self.kernel_spec_manager or KernelSpecManager(parent=self)
        models = manager.get_all_specs()
        beakers = sorted(name for name, model in models.items() if _is_beaker(model["spec"]))
        if not beakers:
            return None
        preferred = ("beaker_kernel", self.default_kernel_name)
        beaker = next((name for name in preferred if name in beakers), beakers[0])
        spec = models[beaker]["spec"]
        specs = _subkernel_specs(models)
        sub_name = first_kernelspec({**os.environ, **(spec.get("env") or {})}, specs)
        if sub_name is None or not runs_locally(specs[sub_name]):
            return None
        return sub_name

    def _fill_warm(self, kernel_name: str) -> None:
        if self._warm is None and not self._stopping:
            self._warm = self._start_ahead("", kernel_name, new_id_bytes())

    def _take_warm(self, parent_id: str, kernel_name: str | None) -> Prestart | None:
        """The warm subkernel, now started ahead for ``parent_id``, when it runs
        ``kernel_name`` and has not failed or gone."""
        warm, state = self._warm, get_state()
        if warm is None or state is None or warm.kernel_name != kernel_name:
            return None
        self._warm = None
        task = warm.task
        if task.done() and (task.cancelled() or task.exception() or warm.kernel_id not in self):
            return None  # failed or deleted: the caller starts one ahead instead
        prestart = Prestart(parent_id, warm.kernel_name, warm.kernel_id, task, key=warm.key)
        state.prestarts[parent_id] = prestart
        self.log.info(
            "Handing warm subkernel %s (%s) to %s", warm.kernel_id, warm.kernel_name, parent_id
        )
        return prestart

    async def _warm_after(self, prestart: Prestart) -> None:
        """Start the next warm subkernel once ``prestart`` is claimed or given up (or after
        :attr:`warm_delay` seconds), so that the two starts do not compete."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(prestart.settled.wait(), self.warm_delay)
        self._fill_warm(prestart.kernel_name)

    def list_kernels(self) -> list[dict[str, Any]]:
        kernels: list[dict[str, Any]] = super().list_kernels()  # type: ignore[no-untyped-call]
        warm = self._warm
        if warm is None:
            return kernels
        return [k for k in kernels if k["id"] != warm.kernel_id]

    async def _async_shutdown_all(self, now: bool = False) -> None:
        self._stopping = True
        await super()._async_shutdown_all(now=now)

    shutdown_all = _async_shutdown_all  # type: ignore[assignment]

    async def _async_shutdown_kernel(
        self, kernel_id: str, now: bool | None = False, restart: bool | None = False
    ) -> None:
        if not restart and self._warm is not None and self._warm.kernel_id == kernel_id:
            self._warm = None
        if kernel_id in self:
            await self._start_settled(kernel_id)
        await super()._async_shutdown_kernel(  # type: ignore[no-untyped-call]
            kernel_id, now=now, restart=restart
        )

    shutdown_kernel = _async_shutdown_kernel  # type: ignore[assignment]

    # ------------------------------------------------------------ claimed subkernels

    def _parent(self, kernel_id: str) -> str | None:
        """The Beaker kernel that claimed ``kernel_id``, if one did."""
        state = get_state()
        return state.parents.get(kernel_id) if state is not None else None

    def _living_parent(self, kernel_id: str) -> str | None:
        """:meth:`_parent`, while the server still has it."""
        parent_id = self._parent(kernel_id)
        return parent_id if parent_id is not None and parent_id in self else None

    def unwatch_subkernel(self, kernel_id: str) -> None:
        """Stop recording the activity of ``kernel_id``, just claimed by a Beaker kernel
        (see the module's documentation); a restart with new ports does not start it
        again (:meth:`start_watching_activity`)."""
        kernel = self.get_kernel(kernel_id)
        stream = getattr(kernel, "_activity_stream", None)
        if stream is not None:
            if not stream.socket.closed:
                stream.close()
            kernel._activity_stream = None  # type: ignore[attr-defined]

    def start_watching_activity(self, kernel_id: str) -> None:
        if self._parent(kernel_id) is not None:
            return
        super().start_watching_activity(kernel_id)  # type: ignore[no-untyped-call]
        kernel = self._kernels[kernel_id]
        stream = getattr(kernel, "_activity_stream", None)
        record = getattr(stream, "_recv_callback", None)
        if stream is None or record is None:
            return

        def record_welcome(msg_list: list[bytes]) -> None:
            # Jupyter Server learns that a kernel has started from the first status the
            # kernel publishes after this watcher subscribed. The statuses of the first
            # kernel_info a new websocket sends ("nudge") can come before that subscription
            # took hold and be lost; the websocket then waits for the next nudge, 0.5 s
            # later. A kernel's iopub_welcome (JEP 65) answers this very subscription: it
            # is up, and what comes next will be heard.
            if kernel.execution_state == "starting":
                if _is_welcome(msg_list):
                    kernel.execution_state = "idle"
                    self.log.debug("activity on %s: iopub_welcome (idle)", kernel_id)
            else:
                # Started: from now on only Jupyter Server's own recording, with nothing
                # in front of it (a restart watches through a new stream, wrapped again).
                stream.on_recv(record)
            record(msg_list)

        stream.on_recv(record_welcome)

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        state = get_state()
        if state is not None and kernel_id in state.started_ahead and not self._parent(kernel_id):
            # Started ahead or warm, and not claimed yet: it waits for its Beaker kernel
            # (a warm one may have waited longer than the idle timeout).
            return
        if self._living_parent(kernel_id) is not None:
            return  # it goes with its Beaker kernel, which is culled on its own activity
        await super().cull_kernel_if_idle(kernel_id)  # type: ignore[no-untyped-call]

    def kernel_model(self, kernel_id: str) -> dict[str, Any]:
        model = self._own_model(kernel_id)
        parent_id = self._living_parent(kernel_id)
        if parent_id is not None:
            parent = self._own_model(parent_id)
            model["execution_state"] = parent["execution_state"]
            model["last_activity"] = parent["last_activity"]
        return model

    def _own_model(self, kernel_id: str) -> dict[str, Any]:
        self._check_kernel_id(kernel_id)  # type: ignore[no-untyped-call]
        kernel = self._kernels[kernel_id]
        if not kernel.trait_has_value("last_activity"):
            # Started, but the server has not recorded it yet (it does so at once).
            return {
                "id": kernel_id,
                "name": kernel.kernel_name,
                "last_activity": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "execution_state": "starting",
                "connections": 0,
            }
        model: dict[str, Any] = super().kernel_model(kernel_id)  # type: ignore[no-untyped-call]
        return model

    async def _start_settled(self, kernel_id: str) -> None:
        """Wait while ``kernel_id`` starts (a restart stops, then starts: both are waited)."""
        km = self.get_kernel(kernel_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_wait
        logged = False
        while not km.ready.done():
            ready: Any = km.ready
            if not isinstance(ready, asyncio.Future):
                ready = asyncio.wrap_future(ready)
            if not logged:
                log.info("Kernel %s is starting; deleting it once the start is over", kernel_id)
                logged = True
            try:
                await asyncio.wait_for(asyncio.shield(ready), deadline - loop.time())
            except TimeoutError:
                log.warning(
                    "Kernel %s was still starting after %.0f s; deleting it anyway",
                    kernel_id,
                    self.start_wait,
                )
                return
            except Exception as e:
                # A failed start: jupyter_client's shutdown removes such a kernel itself.
                log.info("Kernel %s failed to start (%s); removing it", kernel_id, e)
                return


def _is_welcome(msg_list: list[bytes]) -> bool:
    """Whether the iopub message ``msg_list`` (frames, signature unchecked) is an
    ``iopub_welcome``."""
    try:
        return Frames.split(msg_list).header().get("msg_type") == "iopub_welcome"
    except MessageError:
        return False


def _subkernel_specs(models: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """kernel.json by name of every kernelspec in ``models`` (``get_all_specs()``) that is
    not a Beaker kernel."""
    return {name: m["spec"] for name, m in models.items() if not _is_beaker(m["spec"])}


def _is_beaker(spec: dict[str, Any]) -> bool:
    metadata = spec.get("metadata") or {}
    provisioner = (metadata.get("kernel_provisioner") or {}).get("provisioner_name")
    return bool(metadata.get("beaker_kernel")) or provisioner == "beaker-kernel-provisioner"


__all__ = ["BeakerMappingKernelManager"]
