"""The agent's chat history as plain JSON.

Front ends save the history in a notebook and send it back later, so it travels as data
only: nothing is ever deserialised into an object of a type the document names. The
format::

    {"version": 1,
     "messages": [
        {"role": "user", "content": "How many rows?"},
        {"role": "assistant", "content": "Counting.",
         "tool_calls": [{"id": "c1", "name": "run_code", "args": {"code": "len(df)"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "4"},
        {"role": "assistant", "content": "There are 4 rows."}
     ]}

:func:`validate_history` checks a document without importing the LLM stack;
:func:`to_messages` / :func:`from_messages` convert to and from LangChain messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..errors import MessageError

HISTORY_VERSION = 1
ROLES = ("user", "assistant", "tool")


def empty_history() -> dict[str, Any]:
    return {"version": HISTORY_VERSION, "messages": []}


def validate_history(document: Any) -> dict[str, Any]:
    """Check ``document`` against the format above; returns a normalised copy.

    Raises :class:`MessageError` naming the first problem.
    """
    if not isinstance(document, dict):
        raise MessageError("history must be a JSON object {version, messages}")
    version = document.get("version", HISTORY_VERSION)
    if version != HISTORY_VERSION:
        raise MessageError(f"history version {version!r} is not supported (expected 1)")
    messages = document.get("messages")
    if not isinstance(messages, list):
        raise MessageError("history.messages must be a list")
    result: list[dict[str, Any]] = []
    call_ids: set[str] = set()
    for index, message in enumerate(messages):
        where = f"history.messages[{index}]"
        if not isinstance(message, dict):
            raise MessageError(f"{where} must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise MessageError(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
        content = message.get("content", "")
        if not isinstance(content, str):
            raise MessageError(f"{where}.content must be a string")
        item: dict[str, Any] = {"role": role, "content": content}
        if role == "assistant":
            calls = message.get("tool_calls", [])
            if not isinstance(calls, list):
                raise MessageError(f"{where}.tool_calls must be a list")
            checked = []
            for call_index, call in enumerate(calls):
                call_where = f"{where}.tool_calls[{call_index}]"
                if not isinstance(call, dict):
                    raise MessageError(f"{call_where} must be an object")
                call_id, name, args = call.get("id"), call.get("name"), call.get("args", {})
                if not isinstance(call_id, str) or not call_id:
                    raise MessageError(f"{call_where}.id must be a non-empty string")
                if not isinstance(name, str) or not name:
                    raise MessageError(f"{call_where}.name must be a non-empty string")
                if not isinstance(args, dict):
                    raise MessageError(f"{call_where}.args must be an object")
                call_ids.add(call_id)
                checked.append({"id": call_id, "name": name, "args": _plain(args, call_where)})
            if checked:
                item["tool_calls"] = checked
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in call_ids:
                raise MessageError(
                    f"{where}.tool_call_id must name a tool call of an earlier assistant message"
                )
            item["tool_call_id"] = call_id
        result.append(item)
    return {"version": HISTORY_VERSION, "messages": result}


def _plain(value: Any, where: str) -> Any:
    """``value`` if it is made of JSON types only (a round trip proves it)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise MessageError(f"{where}.args must contain JSON values only: {e}") from e


def from_messages(messages: Iterable[Any]) -> dict[str, Any]:
    """The plain-JSON history of LangChain ``messages`` (system and context messages,
    which Beaker regenerates, are left out)."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    result: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, HumanMessage):
            result.append({"role": "user", "content": _text(message.content)})
        elif isinstance(message, AIMessage):
            item: dict[str, Any] = {"role": "assistant", "content": _text(message.content)}
            calls = [
                {"id": str(call.get("id") or ""), "name": call["name"], "args": call["args"]}
                for call in message.tool_calls
            ]
            if calls:
                item["tool_calls"] = calls
            result.append(item)
        elif isinstance(message, ToolMessage):
            result.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id,
                    "content": _text(message.content),
                }
            )
    return {"version": HISTORY_VERSION, "messages": json.loads(json.dumps(result, default=str))}


def to_messages(document: dict[str, Any]) -> list[Any]:
    """LangChain messages for a history that :func:`validate_history` accepted."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    messages: list[Any] = []
    for item in document["messages"]:
        if item["role"] == "user":
            messages.append(HumanMessage(content=item["content"]))
        elif item["role"] == "assistant":
            calls = [
                {"id": call["id"], "name": call["name"], "args": call["args"], "type": "tool_call"}
                for call in item.get("tool_calls", [])
            ]
            messages.append(AIMessage(content=item["content"], tool_calls=calls))
        else:
            messages.append(ToolMessage(content=item["content"], tool_call_id=item["tool_call_id"]))
    return messages


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "\n".join(parts)
    return str(content)
