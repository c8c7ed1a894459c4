"""The shapes upstream Beaker 1.14 sends, field by field: what the tests compare with.

Each constant names the fields of one payload as upstream's kernel builds it (the
module it comes from is given), so a test can say "exactly these keys" and a client
written for upstream finds every field it reads.
"""

from __future__ import annotations

from typing import Any

#: A handled request's successful reply (``lib/utils.py``, message_handler).
OK_REPLY_KEYS = {"status", "execution_count", "return"}
#: A failed one (this project's ``status: error``; upstream meant the same fields).
ERROR_REPLY_KEYS = {"status", "execution_count", "ename", "evalue", "traceback"}

#: ``BeakerContext.get_info()`` (``lib/context.py``).
INFO_KEYS = {
    "language",
    "subkernel",
    "actions",
    "custom_messages",
    "procedures",
    "workflow_info",
    "agent",
    "debug",
    "verbose",
}
ACTION_KEYS = {"intercept", "func", "docs", "default_payload"}
CUSTOM_MESSAGE_KEYS = {"func", "docs", "default_payload"}
WORKFLOW_INFO = {"state": None, "workflows": {}}
AGENT_KEYS = {"name", "tools", "agent_prompt"}
#: The actions every upstream context has, whatever its language
#: (``set_workflow`` and ``lint_code`` are upstream's too; see docs/protocol.md).
BUILT_IN_ACTIONS = {
    "get_subkernel_state",
    "get_preview",
    "get_agent_history",
    "set_agent_history",
    "set_user_preamble",
}

#: ``context_info_response`` (``kernel.py``, context_info_request).
CONTEXT_INFO_KEYS = {"slug", "class", "config", "language", "info"}
LANGUAGE_KEYS = {"slug", "subkernel"}
#: Without a context (upstream's placeholder; ``info`` is filled here, see docs/protocol.md).
NO_CONTEXT = {
    "slug": "NONE",
    "class": "None",
    "config": None,
    "language": {"slug": "Not set", "subkernel": "Not set"},
}

#: ``debug_event`` (Jupyter's debug-adapter event envelope).
DEBUG_EVENT_KEYS = {"seq", "type", "event", "body"}

#: archytas ``OutboundChatHistory`` as ``dataclasses.asdict`` gives it (``chat_history``).
CHAT_HISTORY_KEYS = {
    "records",
    "system_message",
    "tool_token_usage_estimate",
    "model",
    "token_estimate",
    "message_token_count",
    "summary_token_count",
    "overhead_token_count",
    "summarization_threshold",
    "statetool_token_estimates",
}
RECORD_KEYS = {"message", "uuid", "token_count", "metadata", "react_loop_id"}
#: LangChain's message fields plus upstream's ``text`` and ``raw_content``.
MESSAGE_KEYS = {
    "text",
    "raw_content",
    "content",
    "additional_kwargs",
    "response_metadata",
    "type",
    "name",
    "id",
}
AI_MESSAGE_KEYS = MESSAGE_KEYS | {"tool_calls", "invalid_tool_calls", "usage_metadata"}
TOOL_MESSAGE_KEYS = MESSAGE_KEYS | {"tool_call_id", "artifact", "status"}
MODEL_KEYS = {"provider", "model_name", "context_window"}

#: ``add_child_codecell`` (``lib/subkernel.py``, run_code); ``checkpoint_index`` only
#: when a checkpoint was taken.
CHILD_CELL_KEYS = {"action", "language", "code", "autoexecute", "execute_request_msg"}
EXECUTE_REQUEST_MSG_KEYS = {"header", "parent_header", "metadata", "content"}
EXECUTE_CONTENT = {
    "silent": False,
    "store_history": True,
    "user_expressions": {},
    "allow_stdin": True,
    "stop_on_error": False,
}

#: ``beaker__execute_input`` / ``beaker__execute_reply`` labels (``lib/context.py``).
COPY_LABELS = {"execution_type", "execution_item_name"}


def ok(value: Any = None) -> dict[str, Any]:
    return {"status": "ok", "execution_count": None, "return": value}
