"""The agent of the stopper context."""

from __future__ import annotations

import json

from archytas.tool_utils import AgentRef, LoopControllerRef, tool

from beaker_kernel.lib.agent import BaseAgent


class StopperAgent(BaseAgent):
    """Suggests plots."""

    @tool()
    async def suggest_plot(self, column: str, agent: AgentRef, loop: LoopControllerRef) -> str:
        """
        Suggest code that plots a column.

        Args:
            column (str): The column to plot.

        Returns:
            str: A code cell.
        """
        loop.set_state(loop.STOP_SUCCESS)
        return json.dumps(
            {"action": "code_cell", "language": "python3", "content": f"df.plot(y={column!r})"}
        )
