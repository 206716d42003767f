"""The live log of a light (Sys.GetLog): continuing from ``next``, level filter, bounded."""

from __future__ import annotations

import datetime as _dt
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LEVELS", "LogLine", "LogStore"]

LEVELS = ("debug", "info", "warn", "error")


@dataclass(frozen=True)
class LogLine:
    seq: int
    ts: float
    level: str
    msg: str

    def format(self) -> str:
        """``12:34:56 INFO  message``"""
        stamp = _dt.datetime.fromtimestamp(self.ts).strftime("%H:%M:%S") if self.ts else "--"
        return f"{stamp} {self.level.upper():5} {self.msg}"


def level_rank(level: str) -> int:
    """0 for debug .. 3 for error (unknown levels count as info)."""
    try:
        return LEVELS.index(level.lower())
    except ValueError:
        return 1


class LogStore:
    """The lines fetched so far (oldest first); ``since`` is what to ask the light next."""

    def __init__(self, limit: int = 5000) -> None:
        self.lines: deque[LogLine] = deque(maxlen=limit)
        self.since: int | None = None
        self.gaps = 0

    def add_reply(self, reply: Mapping[str, Any]) -> list[LogLine]:
        """Take a Sys.GetLog result; -> the new lines (lines seen before are skipped)."""
        raw = reply.get("lines") or []
        new: list[LogLine] = []
        last = self.lines[-1].seq if self.lines else None
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, Mapping):
                continue
            try:
                line = LogLine(int(item.get("seq", 0)), float(item.get("ts") or 0),
                               str(item.get("level") or "info"), str(item.get("msg") or ""))
            except (TypeError, ValueError):
                continue
            if last is not None and line.seq <= last:
                continue
            if last is not None and line.seq > last + 1:
                self.gaps += 1  # the ring buffer overflowed between two polls
            new.append(line)
            last = line.seq
        self.lines.extend(new)
        nxt = reply.get("next")
        if isinstance(nxt, int):
            self.since = nxt
        elif new:
            self.since = new[-1].seq + 1
        return new

    def filtered(self, minimum: str = "debug", lines: Iterable[LogLine] | None = None,
                 ) -> list[LogLine]:
        """The lines at ``minimum`` level or above."""
        floor = level_rank(minimum)
        return [x for x in (self.lines if lines is None else lines)
                if level_rank(x.level) >= floor]

    def text(self) -> str:
        """All lines as text (for the report)."""
        return "\n".join(line.format() for line in self.lines)
