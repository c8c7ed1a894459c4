"""The agent of the default context."""

from __future__ import annotations

import json

from archytas.tool_utils import AgentRef, tool

from beaker_kernel.agent.tools import shorten
from beaker_kernel.lib.agent import BeakerAgent


class DefaultAgent(BeakerAgent):
    """
    You are a programming assistant in a Jupyter notebook. You answer the user's questions
    about their code and data, run code in their session to find answers, and write code
    for them. Look at the user's variables before writing code that uses them.
    """

    @tool()
    async def generate_code(self, code: str, agent: AgentRef) -> str:
        """
        Put code into a new notebook cell for the user to review and run; it is not run now.

        Use this when the user asks for code, or when code should stay in the notebook.

        Args:
            code (str): The code of the new cell, in the notebook's language.

        Returns:
            str: Confirmation that the cell was added.
        """
        self.context.send_response(
            "iopub",
            "code_cell",
            {"language": self.context.subkernel.SLUG, "code": code.strip()},
            parent_header=self._parent(),
        )
        return "A new cell with this code was added to the notebook; it has not been run."

    @tool()
    async def inspect_variables(self, agent: AgentRef) -> str:
        """
        List the variables, functions, classes and modules of the user's session.

        Returns:
            str: A JSON object describing each name of the session.
        """
        state = await self.context.get_subkernel_state()
        return shorten(json.dumps(state, sort_keys=True, default=str), self.settings.output_limit)
