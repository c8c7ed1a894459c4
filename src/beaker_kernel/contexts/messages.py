"""The context messages of the Beaker wire protocol.

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

from ..errors import MessageError, UnsupportedLanguageError
from ..subkernels import get_subkernel

if TYPE_CHECKING:
    from ..kernel import BeakerKernel, SubkernelLink
    from ..wire import Request
    from .base import BeakerContext


def register_context_messages(kernel: BeakerKernel) -> None:
    async def on_setup(request: Request) -> None:
        content = request.content
        slug = content.get("context")
        language = content.get("language")
        if not isinstance(slug, str) or not slug:
            raise MessageError("context_setup_request needs 'context': the context's slug")
        if not isinstance(language, str) or not language:
            raise MessageError("context_setup_request needs 'language', e.g. 'python3'")
        context = await setup_context(
            kernel,
            slug,
            language,
            content.get("context_info", {}),
            debug=bool(content.get("debug", False)),
            verbose=bool(content.get("verbose", False)),
        )
        info = context.info()
        await kernel.reply(request, {"status": "ok", **info})
        kernel.publish("context_setup_response", info, request.header)

    async def on_info(request: Request) -> None:
        info = kernel.context.info() if kernel.context is not None else {}
        await kernel.reply(request, {"status": "ok", **info})
        kernel.publish("context_info_response", info, request.header)

    kernel.shell_handlers["context_setup_request"] = on_setup
    kernel.shell_handlers["context_info_request"] = on_info


async def setup_context(
    kernel: BeakerKernel,
    slug: str,
    language: str,
    context_info: Any,
    *,
    debug: bool = False,
    verbose: bool = False,
) -> BeakerContext:
    """Make ``slug`` in ``language`` the kernel's context (see the module docstring)."""
    cls = kernel.contexts.get(slug)
    subkernel = get_subkernel(language, kernel.subkernels)
    if not cls.supports(subkernel.slug):
        raise UnsupportedLanguageError(
            f"Context {slug!r} does not support {subkernel.display_name} ({subkernel.slug}); "
            f"it supports: {', '.join(sorted(cls.languages() or []))}."
        )
    context = cls(kernel, subkernel, context_info, debug=debug, verbose=verbose)
    context.prepare()

    async def prepare(link: SubkernelLink) -> None:
        await context.setup(link)

    changed = await kernel.change_subkernel(subkernel.slug, prepare)
    if not changed:
        await context.setup()
    old, kernel.context = kernel.context, context
    if old is not None:
        for msg_type in old.handlers():
            kernel.shell_handlers.pop(msg_type, None)
        await old.close()
    kernel.shell_handlers.update(context.handlers())
    return context
