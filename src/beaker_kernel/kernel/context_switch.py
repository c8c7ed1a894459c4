"""Setting up contexts: ``context_setup_request`` and ``context_info_request``.

``context_setup_request {context, language, context_info, debug?, verbose?}``
    validate everything first; start a subkernel only if the language changes (the new
    one is set up before the old one stops); run the setup procedure; swap the context's
    handlers into the kernel; reply ``context_setup_reply`` and publish
    ``context_setup_response`` with the context info. Any error leaves the previous
    context in place.
``context_info_request {}``
    reply ``context_info_reply`` and publish ``context_info_response``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import HandlerConflictError, MessageError, UnsupportedLanguageError
from .executor import targeting
from .handlers import KERNEL, HandlerTable
from .interception import Interceptors
from .link import SubkernelLink
from .supervisor import Supervisor

if TYPE_CHECKING:
    from ..contexts.base import BeakerContext
    from ..contexts.registry import ContextRegistry
    from ..interface import KernelServices
    from ..wire import Request


def owner_of(context: BeakerContext) -> str:
    return f"context:{context.slug}"


class ContextSwitcher:
    """Holds the current context and replaces it."""

    def __init__(
        self,
        services: KernelServices,
        supervisor: Supervisor,
        handlers: HandlerTable,
        interceptors: Interceptors,
        registry: ContextRegistry,
    ) -> None:
        self.services = services
        self.supervisor = supervisor
        self.handlers = handlers
        self.interceptors = interceptors
        self.registry = registry
        self.current: BeakerContext | None = None

    def register(self) -> None:
        self.handlers.register_many(
            KERNEL,
            {
                "context_setup_request": self._on_setup,
                "context_info_request": self._on_info,
            },
        )

    async def _on_setup(self, request: Request) -> None:
        content = request.content
        slug = content.get("context")
        language = content.get("language")
        if not isinstance(slug, str) or not slug:
            raise MessageError("context_setup_request needs 'context': the context's slug")
        if not isinstance(language, str) or not language:
            raise MessageError("context_setup_request needs 'language', e.g. 'python3'")
        context = await self.setup(
            slug,
            language,
            content.get("context_info", {}),
            debug=bool(content.get("debug", False)),
            verbose=bool(content.get("verbose", False)),
        )
        info = context.info()
        await self.services.reply(request, {"status": "ok", **info})
        self.services.publish("context_setup_response", info, request.header)

    async def _on_info(self, request: Request) -> None:
        info = self.current.info() if self.current is not None else {}
        await self.services.reply(request, {"status": "ok", **info})
        self.services.publish("context_info_response", info, request.header)

    async def setup(
        self,
        slug: str,
        language: str,
        context_info: Any,
        *,
        debug: bool = False,
        verbose: bool = False,
    ) -> BeakerContext:
        """Make ``slug`` in ``language`` the current context (see the module docstring)."""
        cls = self.registry.get(slug)
        subkernel = self.supervisor.resolve(language)
        if not cls.supports(subkernel.slug):
            raise UnsupportedLanguageError(
                f"Context {slug!r} does not support {subkernel.display_name} "
                f"({subkernel.slug}); it supports: {', '.join(sorted(cls.languages() or []))}."
            )
        context = cls(self.services, subkernel, context_info, debug=debug, verbose=verbose)
        context.prepare()
        new_handlers = context.handlers()
        self._check_handlers(context, new_handlers)

        async def prepare(link: SubkernelLink) -> None:
            with targeting(link):
                await context.setup()

        changed = await self.supervisor.change(subkernel.slug, prepare)
        if not changed:
            await context.setup()
        old, self.current = self.current, context
        if old is not None:
            self.handlers.unregister(owner_of(old))
            self.interceptors.remove(owner_of(old))
            await old.close()
        self.handlers.register_many(owner_of(context), new_handlers)
        return context

    def _check_handlers(self, context: BeakerContext, new: dict[str, Any]) -> None:
        """Refuse a context that would answer a message someone else answers."""
        replaced = owner_of(self.current) if self.current is not None else None
        for msg_type in new:
            owner = self.handlers.owner("shell", msg_type)
            if owner is not None and owner not in (replaced, owner_of(context)):
                who = "Beaker itself" if owner == KERNEL else repr(owner)
                raise HandlerConflictError(
                    f"Context {context.slug!r} cannot answer {msg_type!r}: {who} answers it "
                    "already. Rename the action or message."
                )

    async def on_subkernel_restart(self, link: SubkernelLink) -> None:
        if self.current is not None:
            with targeting(link):
                await self.current.on_subkernel_restart()

    async def close(self) -> None:
        if self.current is not None:
            await self.current.close()
