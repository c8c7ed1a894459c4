"""The agent of the dataset context."""

from __future__ import annotations

from beaker_kernel.lib.agent import BeakerAgent


class DatasetAgent(BeakerAgent):
    """
    You help the user explore a tabular dataset loaded from a CSV file into the variable
    named in the context. Look at the variables before writing code, and prefer short
    code the user can run again.
    """
