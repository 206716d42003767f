"""How hub-cli talks: readable lines for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

#: exit codes of hub-cli
EXIT_OK = 0
EXIT_FAILED = 1  # device / network / data error, message on stderr
EXIT_USAGE = 2  # wrong command line


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def to_json(document: object, *, indent: int | None = 2) -> str:
    """JSON text for ``document`` (datetimes as ISO 8601, unknown objects as strings)."""
    return json.dumps(document, indent=indent, ensure_ascii=False, default=_json_default)


class Output:
    """Writes results to stdout and problems to stderr; ``json_mode`` switches to JSON."""

    def __init__(
        self, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def line(self, text: str = "") -> None:
        """A line for people (nothing in JSON mode)."""
        if not self.json_mode:
            self._write(self.stdout, text)

    def note(self, text: str) -> None:
        """A side remark for people, on stderr (so stdout stays clean for pipes)."""
        self._write(self.stderr, text)

    def document(self, document: object) -> None:
        """The one JSON document of a command (JSON mode only)."""
        if self.json_mode:
            self._write(self.stdout, to_json(document))

    def event(self, document: object) -> None:
        """One JSON object on one line (streams such as ``discover --json``)."""
        self._write(self.stdout, to_json(document, indent=None))

    def error(self, message: str, *, next_step: str = "", kind: str = "error") -> None:
        """A problem in words on stderr; in JSON mode also ``{"ok": false, "error": ...}``."""
        text = f"hub-cli: {message}"
        if next_step:
            text += f"\n  {next_step}"
        self._write(self.stderr, text)
        if self.json_mode:
            error: dict[str, Any] = {"type": kind, "message": message}
            if next_step:
                error["next_step"] = next_step
            self._write(self.stdout, to_json({"ok": False, "error": error}))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Aligned columns for people."""
        widths = [len(h) for h in headers]
        for row in rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        for row in [headers, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
            self.line("  ".join(cells).rstrip())

    @staticmethod
    def _write(stream: TextIO, text: str) -> None:
        with contextlib.suppress(BrokenPipeError):
            print(text, file=stream, flush=True)
