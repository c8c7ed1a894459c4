"""The protocheck context's agent: one tool that asks the front end for its notebook."""

from __future__ import annotations

import json

from archytas.tool_utils import AgentRef, ReactContextRef, tool

from beaker_kernel.lib.agent import BeakerAgent


class ProtocolCheckAgent(BeakerAgent):
    """You check the protocol (tests)."""

    @tool()
    async def read_notebook(self, agent: AgentRef, react_context: ReactContextRef) -> str:
        """
        Read the user's notebook.

        Returns:
            str: The notebook as JSON.
        """
        message = (react_context or {}).get("message")
        notebook = await self.context.beaker_kernel.request_notebook_state(message)
        return json.dumps(notebook)
