"""The RPC console's history: the calls made (with their traces) and up / down recall."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hub_app.device.trace import RpcTrace, redact, redact_frame

__all__ = ["CommandHistory", "ConsoleEntry", "RpcLog"]


@dataclass
class ConsoleEntry:
    """One console call: what was typed, what came back, and the trace of the wire."""

    method: str
    params_text: str
    result: Any = None
    error: str | None = None
    traces: list[RpcTrace] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def elapsed_ms(self) -> float | None:
        """The time of the whole call (all its traces) in milliseconds."""
        if not self.traces:
            return None
        return sum(t.elapsed_s for t in self.traces) * 1000.0

    def request_text(self) -> str:
        """The raw request frame(s), auth redacted."""
        return "\n".join(json.dumps(redact_frame(t.request), indent=2, ensure_ascii=False)
                         for t in self.traces)

    def reply_text(self) -> str:
        """The raw reply frame(s), secrets redacted ("(no reply)" when none came)."""
        return "\n".join(
            json.dumps(redact_frame(t.reply), indent=2, ensure_ascii=False)
            if t.reply is not None else "(no reply)" for t in self.traces)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, secrets redacted by key (for the diagnostic report)."""
        return {
            "method": self.method,
            "params": self.params_text,
            "result": redact(self.result),
            "error": self.error,
            "traces": [{"method": t.method, "transport": t.transport, "started": t.started,
                        "elapsed_s": t.elapsed_s, "error": t.error,
                        "request": redact_frame(t.request),
                        "reply": redact_frame(t.reply) if t.reply is not None else None}
                       for t in self.traces],
        }


class CommandHistory:
    """Recall of typed commands with Up / Down, like a shell.

    ``previous()`` / ``following()`` move through the entries; ``following()`` past the newest
    returns the draft that was being typed when recall began.
    """

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._items: list[tuple[str, str]] = []
        self._position: int | None = None
        self._draft: tuple[str, str] = ("", "")

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def add(self, method: str, params_text: str) -> None:
        """Remember a sent command (a repeat of the newest is kept once)."""
        item = (method, params_text)
        if not self._items or self._items[-1] != item:
            self._items.append(item)
            del self._items[:-self.limit]
        self._position = None

    def previous(self, draft: tuple[str, str]) -> tuple[str, str] | None:
        """The older command (None at the oldest); ``draft`` is what is typed now."""
        if not self._items:
            return None
        if self._position is None:
            self._draft = draft
            self._position = len(self._items)
        if self._position == 0:
            return None
        self._position -= 1
        return self._items[self._position]

    def following(self) -> tuple[str, str] | None:
        """The newer command, the draft past the newest, None when not recalling."""
        if self._position is None:
            return None
        self._position += 1
        if self._position >= len(self._items):
            self._position = None
            return self._draft
        return self._items[self._position]


class RpcLog:
    """Every console call of a diagnostics session, oldest first (bounded)."""

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self.entries: list[ConsoleEntry] = []

    def add(self, entry: ConsoleEntry) -> None:
        self.entries.append(entry)
        del self.entries[:-self.limit]

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.entries]
