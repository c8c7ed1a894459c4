"""The agent's chat history as front ends send and receive it.

Three forms:

* ``chat_history`` (iopub): archytas's outbound chat history, with token counts
  (:func:`outbound_chat_history`).
* ``get_agent_history`` / ``set_agent_history`` (upstream's actions): a list of
  serialised LangChain messages, the system message first (:func:`dump_history`,
  :func:`load_history`). Loading reads the JSON as *data*: only the four message kinds
  are accepted and built from their plain fields; no other object is ever created.
* Beaker's plain JSON document below, also accepted by ``set_agent_history``.

The plain JSON document:

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


# ---------------------------------------------------------------------------- upstream's forms

_MESSAGE_KINDS = {
    "SystemMessage": "system",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "ToolMessage": "tool",
}


def dump_history(agent: Any) -> list[str]:
    """The agent's messages as LangChain's serialised form, the system message first."""
    from langchain_core.load import dumps

    messages: list[str] = []
    system = getattr(agent.chat_history, "system_message", None)
    if system is not None:
        messages.append(dumps(system.message))
    for record in agent.chat_history.raw_records:
        messages.append(dumps(record.message))
    return messages


def _content(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_plain(block, where) for block in value]
    raise MessageError(f"{where}.content must be a string or a list of blocks")


def parse_serialised_message(raw: Any, where: str) -> Any:
    """One LangChain message from its serialised JSON, read as data only."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as e:
            raise MessageError(f"{where} is not JSON: {e}") from e
    if not isinstance(raw, dict) or raw.get("type") != "constructor":
        raise MessageError(f"{where} is not a serialised message")
    ident = raw.get("id")
    if not isinstance(ident, list) or not ident:
        ident = []
    kind = ident[-1] if ident else None
    if kind not in _MESSAGE_KINDS or ident[0] not in ("langchain", "langchain_core"):
        named = ".".join(map(str, ident))
        raise MessageError(f"{where}: only {', '.join(_MESSAGE_KINDS)} are accepted, got {named}")
    fields = raw.get("kwargs")
    if not isinstance(fields, dict):
        raise MessageError(f"{where} has no message fields")
    content = _content(fields.get("content", ""), where)
    if kind == "SystemMessage":
        return SystemMessage(content=content)
    if kind == "HumanMessage":
        return HumanMessage(content=content)
    if kind == "ToolMessage":
        call_id = fields.get("tool_call_id")
        if not isinstance(call_id, str):
            raise MessageError(f"{where}.tool_call_id must be a string")
        return ToolMessage(content=content, tool_call_id=call_id)
    calls = []
    for index, call in enumerate(fields.get("tool_calls") or []):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise MessageError(f"{where}.tool_calls[{index}] needs a name")
        args = call.get("args", {})
        if not isinstance(args, dict):
            raise MessageError(f"{where}.tool_calls[{index}].args must be an object")
        calls.append(
            {
                "id": str(call.get("id") or ""),
                "name": call["name"],
                "args": _plain(args, where),
                "type": "tool_call",
            }
        )
    return AIMessage(content=content, tool_calls=calls)


def load_history(agent: Any, document: Any) -> int:
    """Replace the agent's conversation; returns the number of messages kept.

    ``document`` is upstream's list (system message first) or Beaker's JSON document.
    """
    from langchain_core.messages import SystemMessage

    if isinstance(document, dict):
        messages = to_messages(validate_history(document))
    elif isinstance(document, list):
        parsed = [
            parse_serialised_message(item, f"history[{i}]") for i, item in enumerate(document)
        ]
        if parsed and isinstance(parsed[0], SystemMessage):
            parsed = parsed[1:]  # Beaker regenerates the system message
        messages = parsed
    else:
        raise MessageError(
            "The history must be a list of serialised messages (or {version, messages})"
        )
    history = agent.chat_history
    history.raw_records.clear()
    if hasattr(history, "summaries"):
        history.summaries.clear()
    for message in messages:
        history.add_message(message)
    return len(messages)


async def outbound_chat_history(agent: Any) -> dict[str, Any]:
    """archytas's outbound chat history of ``agent``, as plain JSON (``chat_history``)."""
    from dataclasses import asdict

    from archytas.chat_history import (
        MessageRecord,
        OutboundChatHistory,
        OutboundModel,
        SummaryRecord,
    )

    history = agent.chat_history
    model = agent.model
    records = await history.records(auto_update_context=False)
    try:
        context_window = model.contextsize()
    except Exception:
        context_window = None
    token_estimate = getattr(history, "_token_estimate", None)
    if not token_estimate:
        try:
            token_estimate = await history.token_estimate(model)
        except Exception:
            token_estimate = 0
    output = OutboundChatHistory(
        records=[
            {
                "message": {
                    "text": _text(record.message.content),
                    "raw_content": record.message.content,
                    **record.message.model_dump(),
                },
                "uuid": record.uuid,
                "token_count": record.token_count,
                "metadata": record.metadata,
                "react_loop_id": record.react_loop_id,
            }
            for record in records
        ],
        system_message=_text(history.system_message.message.content)
        if history.system_message
        else "",
        tool_token_usage_estimate=getattr(history, "tool_token_estimate", 0),
        model=OutboundModel(
            provider=type(model).__name__,
            model_name=getattr(model, "model_name", None),
            context_window=context_window,
        ),
        message_token_count=sum(
            r.token_count for r in records if isinstance(r, MessageRecord) and r.token_count
        ),
        summary_token_count=sum(
            r.token_count for r in records if isinstance(r, SummaryRecord) and r.token_count
        ),
        overhead_token_count=getattr(history, "token_overhead", 0),
        summarization_threshold=getattr(model, "summarization_threshold", None),
        token_estimate=token_estimate or 0,
    )
    # react_loop_id is a 128-bit integer: beyond what JSON numbers carry safely in a browser
    plain: dict[str, Any] = json.loads(json.dumps(asdict(output), default=str))
    return plain


def outbound_without_agent(provider: str, model_name: str) -> dict[str, Any]:
    """The ``chat_history`` of a context whose agent has not been needed yet: no messages.

    Same shape as :func:`outbound_chat_history`, made without creating the agent (so
    without importing the LLM stack).
    """
    return {
        "records": [],
        "system_message": "",
        "tool_token_usage_estimate": 0,
        "model": {"provider": provider, "model_name": model_name or None, "context_window": None},
        "message_token_count": 0,
        "summary_token_count": 0,
        "overhead_token_count": 0,
        "summarization_threshold": None,
        "token_estimate": 0,
        "statetool_token_estimates": None,
    }
