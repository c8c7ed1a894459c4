"""The default context: the subkernel as it is, plus a view of the user's variables."""

from __future__ import annotations

from typing import Any

from beaker_kernel.contexts.base import BeakerContext, action


class DefaultContext(BeakerContext):
    """Works in every language that has the shared ``state`` procedure.

    After each user cell it publishes ``kernel_state_info`` with the user's variables
    (once the subkernel is idle, so it never delays the user's next request).
    """

    slug = "default"
    display_name = "Default"
    agent_prompt = "You help the user with their code and data in a notebook."

    def has_post_execute(self) -> bool:
        return self.procedures.has("state")

    async def post_execute(self, parent: dict[str, Any]) -> None:
        state = await self.run_procedure("state")
        self.kernel.publish("kernel_state_info", {"variables": state}, parent)

    @action()
    async def get_kernel_state(self) -> Any:
        """The user's variables: name → {type, repr}."""
        return await self.run_procedure("state")
