"""The LLM agent's support code: model settings, errors, history formats and tools.

The agent class context authors subclass is :class:`beaker_kernel.lib.agent.BeakerAgent`.
Importing this package imports nothing of the LLM stack; :mod:`.tools` does.
"""
