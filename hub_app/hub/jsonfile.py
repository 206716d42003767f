"""Small JSON files of the hub (settings, scenes, schedules, ignored lights): atomic writes."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from hub_app.atomicfile import write_file_atomically

_log = logging.getLogger(__name__)


def read_json(path: Path) -> Any:
    """The JSON in ``path``; None when the file is missing; unreadable files are set aside
    (renamed ``*.corrupt``) and logged, so the user keeps working with defaults."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        aside = path.with_name(path.name + ".corrupt")
        _log.error("%s is not valid JSON (%s); moved aside to %s", path, exc, aside)
        try:
            path.replace(aside)
        except OSError:
            _log.exception("could not move %s aside", path)
        return None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (blocking)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    write_file_atomically(path, text.encode("utf-8"))


async def read_json_async(path: Path) -> Any:
    """``read_json`` in an executor."""
    return await asyncio.to_thread(read_json, path)


async def write_json_async(path: Path, data: Any) -> None:
    """``write_json`` in an executor."""
    await asyncio.to_thread(write_json, path, data)
