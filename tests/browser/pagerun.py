"""What a scenario page reported, with look-ups that fail with readable messages."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Set to a folder to keep every page report there (JSON), e.g. to read a failure at leisure.
REPORTS = os.environ.get("BEAKER_BROWSER_REPORTS")


def _short(value: Any, limit: int = 4000) -> str:
    text = json.dumps(value, indent=1, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text)} characters)"


@dataclass
class PageRun:
    """The JSON printed by run_page.mjs: ``result`` (window.__result) and page problems."""

    report: dict[str, Any]

    def save(self, name: str) -> None:
        if REPORTS:
            Path(REPORTS).mkdir(parents=True, exist_ok=True)
            (Path(REPORTS) / f"{name}.json").write_text(json.dumps(self.report, indent=1))

    @property
    def result(self) -> dict[str, Any]:
        result = self.report.get("result")
        assert result is not None, f"the page reported nothing: {_short(self.report)}"
        assert self.report.get("timedOut") is False, (
            f"the scenario did not finish; steps so far: {self.summary()}\n"
            f"its last kernel messages:\n{self.timeline()}"
        )
        return result

    def timeline(self, last: int = 40) -> str:
        """The last kernel messages the page sent and received, one line each: when the
        page stalls, they show whether the kernel answered and in which order."""
        messages = (self.report.get("result") or {}).get("messages") or []
        return "\n".join(
            f"{m.get('t', 0):9.0f} ms {m.get('direction', '?'):4} {m.get('channel', '?'):7} "
            f"{m.get('msg_type')} (to {m.get('parent_msg_type')} "
            f"{str(m.get('parent_msg_id') or m.get('msg_id') or '')[:20]})"
            for m in messages[-last:]
        )

    def summary(self) -> dict[str, str]:
        result = self.report.get("result") or {}
        return {
            name: "ok" if entry.get("ok") else entry.get("error", {}).get("message", "running")
            for name, entry in (result.get("steps") or {}).items()
        }

    def entry(self, name: str) -> dict[str, Any]:
        steps = self.result["steps"]
        assert name in steps, f"the page never ran step {name!r}; it ran {list(steps)}"
        entry: dict[str, Any] = steps[name]
        return entry

    def step(self, name: str) -> Any:
        """The value step ``name`` returned in the page; a readable failure if it failed."""
        entry = self.entry(name)
        if not entry["ok"]:
            raise AssertionError(self.explain(name))
        return entry["value"]

    def explain(self, name: str) -> str:
        """Why step ``name`` failed: its error, what it saw, and the messages of its request."""
        entry = self.entry(name)
        lines = [f"step {name!r} failed in the page: {entry.get('error', {}).get('message')}"]
        for key in ("reply", "state", "probe", "after"):
            if entry.get(key) is not None:
                lines.append(f"{key}: {_short(entry[key])}")
        msg_id = entry.get("msg_id")
        if msg_id:
            related = [
                {k: m[k] for k in ("channel", "msg_type", "content")}
                for m in self.messages(parent=msg_id)
            ]
            lines.append(f"messages answering its request {msg_id}: {_short(related)}")
        return "\n".join(lines)

    def messages(
        self,
        *,
        parent: str | None = None,
        msg_type: str | None = None,
        channel: str | None = None,
        direction: str = "recv",
    ) -> list[dict[str, Any]]:
        """Kernel messages the page received (or sent), filtered."""
        return [
            m
            for m in self.result["messages"]
            if m["direction"] == direction
            and (parent is None or m["parent_msg_id"] == parent)
            and (msg_type is None or m["msg_type"] == msg_type)
            and (channel is None or m["channel"] == channel)
        ]

    def one(self, msg_type: str, *, parent: str) -> dict[str, Any]:
        """The content of the one ``msg_type`` message answering ``parent``."""
        found = self.messages(parent=parent, msg_type=msg_type)
        if len(found) != 1:
            seen = [(m["channel"], m["msg_type"]) for m in self.messages(parent=parent)]
            raise AssertionError(
                f"expected one {msg_type} answering {parent}, got {len(found)}; "
                f"what answered it: {seen}"
            )
        content: dict[str, Any] = found[0]["content"]
        return content

    def request_id(self, name: str) -> str:
        msg_id = self.entry(name).get("msg_id")
        assert msg_id, f"step {name!r} sent no request: {self.explain(name)}"
        return str(msg_id)
