"""Checking the JSON params typed in the RPC console before anything is sent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ParamsCheck", "check_params"]


@dataclass(frozen=True)
class ParamsCheck:
    """The outcome of ``check_params``: ``params`` (None = send no params) when ``ok``, else
    ``error`` in plain words with ``line`` / ``column`` (1-based) when known."""

    ok: bool
    params: dict[str, Any] | None = None
    error: str = ""
    line: int | None = None
    column: int | None = None


def check_params(text: str) -> ParamsCheck:
    """Parse the params editor's text: empty, or one JSON object."""
    if not text.strip():
        return ParamsCheck(True, None)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParamsCheck(False, error=f"Not valid JSON: {exc.msg} (line {exc.lineno}, column "
                           f"{exc.colno}).", line=exc.lineno, column=exc.colno)
    if not isinstance(value, dict):
        kind = type(value).__name__ if value is not None else "null"
        return ParamsCheck(False, error=f"Params must be a JSON object like {{\"key\": 1}}, "
                           f"not {kind}.")
    return ParamsCheck(True, value)
