"""The tools every agent has from its subkernel (upstream: ``BeakerSubkernel.TOOLS``).

Importing this module imports archytas.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from archytas.tool_utils import AgentRef, LoopControllerRef, ReactContextRef, tool

from ..lib.utils import execution_context

log = logging.getLogger("beaker_kernel.agent")

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def shorten(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its beginning and end."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[-tail:]}"


def describe_execution(result: dict[str, Any]) -> str:
    """What a run of code produced (an execution result dict), as text for the model."""
    parts: list[str] = []
    stdout = "".join(result.get("stdout_list") or [])
    stderr = "".join(result.get("stderr_list") or [])
    if stdout:
        parts.append(stdout.rstrip("\n"))
    if stderr:
        parts.append("[stderr]\n" + stderr.rstrip("\n"))
    for data in result.get("display_data_list") or []:
        text = data.get("text/plain") if isinstance(data, dict) else None
        if isinstance(text, str):
            parts.append(text.rstrip("\n"))
        elif isinstance(data, dict) and data:
            parts.append(f"[{', '.join(sorted(data))} output]")
    if isinstance(result.get("return"), str):
        parts.append(result["return"].rstrip("\n"))
    error = result.get("error")
    if error is None and (result.get("result") or {}).get("status") == "error":
        error = result["result"]
    if error:
        traceback = "\n".join(str(line) for line in error.get("traceback", []))
        parts.append(
            f"[error] {error.get('ename', 'Error')}: {error.get('evalue', '')}\n"
            + ANSI_ESCAPE.sub("", traceback)
        )
    text = "\n".join(parts).strip()
    return text or "(the code ran and produced no output)"


@tool()  # type: ignore[untyped-decorator]
async def run_code(
    code: str, agent: AgentRef, loop: LoopControllerRef, react_context: ReactContextRef
) -> str:
    """
    Run code in the user's notebook session and return what it printed, displayed or raised.

    The code runs in a new cell the user sees, in the notebook's language and in the same
    session as the user's cells: variables it defines remain, and the user's variables are
    available. Use it to compute answers, look at data, or do what the user asked for in
    code. Long output is shortened to its beginning and end.

    Args:
        code (str): The code to run, exactly as it would appear in a notebook cell.

    Returns:
        str: The output of the code, or the error it raised.
    """
    context = agent.context
    kernel = context.beaker_kernel
    message = (react_context or {}).get("message") or getattr(agent, "current_request", None)
    parent_header = getattr(message, "header", None) or {}
    identities = getattr(message, "identities", None)
    checkpoint_index = None
    subkernel = context.subkernel
    if getattr(subkernel, "checkpoints_enabled", False):
        try:
            with execution_context("tool", "run_code"):
                checkpoint_index = await subkernel.add_checkpoint()
        except Exception as e:
            # The code still runs; the user just cannot roll this cell back.
            log.warning("No checkpoint before the agent's code: %s", e)
    with execution_context("tool", "run_code"):
        task = context.execute(
            code,
            store_history=True,
            surpress_messages=False,
            parent_header=parent_header,
            identities=identities,
        )
    payload: dict[str, Any] = {
        "action": "code_cell",
        "language": subkernel.SLUG,
        "code": code.strip(),
        "autoexecute": True,
        "execute_request_msg": task.execute_request_msg.to_dict()
        if task.execute_request_msg
        else None,
    }
    if checkpoint_index is not None:
        payload["checkpoint_index"] = checkpoint_index
    # Before the request goes out: the front end makes the child cell that receives its output.
    context.send_response(
        "iopub",
        "add_child_codecell",
        payload,
        parent_header=parent_header,
        parent_identities=identities,
    )
    result = await task
    await kernel.send_preview(parent_header)
    await kernel.send_kernel_state_info(parent_header)
    return shorten(describe_execution(result), kernel.agent_settings.output_limit)
