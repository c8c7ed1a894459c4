"""The kernel as contexts and agents see it (:class:`~beaker_kernel.interface.KernelServices`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..interface import Direction, ExecutionResult, Interceptor

if TYPE_CHECKING:
    from traitlets.config import Configurable

    from ..wire import Request
    from .executor import InternalExecutor
    from .frontend import FrontEnd
    from .interception import Interceptors
    from .supervisor import Supervisor


class Services:
    """A narrow facade over the kernel's parts, handed to contexts and agents."""

    def __init__(
        self,
        settings_parent: Configurable,
        frontend: FrontEnd,
        executor: InternalExecutor,
        supervisor: Supervisor,
        interceptors: Interceptors,
    ) -> None:
        self._settings_parent = settings_parent
        self._frontend = frontend
        self._executor = executor
        self._supervisor = supervisor
        self._interceptors = interceptors

    @property
    def settings_parent(self) -> Configurable:
        return self._settings_parent

    @property
    def subkernel_name(self) -> str:
        return self._supervisor.kernel_name

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._frontend.publish(msg_type, content, parent, metadata)

    async def reply(
        self, request: Request, content: dict[str, Any], msg_type: str | None = None
    ) -> None:
        self._frontend.reply(request, content, msg_type)

    async def ask_user(
        self,
        request: Request,
        prompt: str,
        *,
        password: bool = False,
        timeout: float | None = None,
    ) -> str:
        return await self._frontend.ask_user(request, prompt, password=password, timeout=timeout)

    async def execute(self, code: str, *, timeout: float | None = None) -> ExecutionResult:
        return await self._executor.execute(code, timeout=timeout)

    async def evaluate(self, code: str, *, timeout: float | None = None) -> Any:
        return await self._executor.evaluate(code, timeout=timeout)

    def intercept(
        self,
        owner: str,
        channel: str,
        direction: Direction,
        msg_type: str,
        interceptor: Interceptor,
    ) -> None:
        self._interceptors.add(owner, channel, direction, msg_type, interceptor)
