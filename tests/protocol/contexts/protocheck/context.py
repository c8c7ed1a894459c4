"""A context for the protocol tests, written the way upstream Beaker documents contexts.

It runs in every language and offers one handler of each kind the protocol knows: an
action that echoes, one that raises, one whose code raises in the subkernel, and a plain
custom message. Its agent has a tool that asks the front end for its notebook.
"""

from __future__ import annotations

from typing import Any

from beaker_kernel.lib.context import BeakerContext
from beaker_kernel.lib.utils import action, intercept

#: Code that raises in each language (for beaker__error copies).
RAISING = {
    "python3": "raise ValueError('boom')",
    "rlang": "stop('boom')",
    "julia": 'error("boom")',
}


class ProtocolCheckContext(BeakerContext):
    """Protocol checks (tests)."""

    SLUG = "protocheck"
    compatible_subkernels = ["python3", "rlang", "julia"]
    agent_cls = f"{__package__}.agent:ProtocolCheckAgent"

    def __init__(self, beaker_kernel: Any, config: dict[str, Any]) -> None:
        super().__init__(beaker_kernel, self.agent_cls, config)

    @action(default_payload='{"value": 1}')
    async def echo(self, message: Any) -> Any:
        """Returns its payload."""
        return message.content

    @action()
    async def fail(self, message: Any) -> Any:
        """Always raises."""
        raise ValueError("the fail action always fails")

    @action()
    async def fail_in_subkernel(self, message: Any) -> Any:
        """Runs code that raises in the subkernel; returns the error's name."""
        result = await self.execute(RAISING[self.subkernel.SLUG])
        return {"failed": result["error"] is not None}

    @intercept()
    async def ping_request(self, message: Any) -> Any:
        """A custom message (not an action)."""
        return {"pong": message.content}

    async def generate_preview(self) -> dict[str, Any]:
        """The context_info, as a preview."""
        return {"protocheck": {"config": {"application/json": self.config["context_info"]}}}
