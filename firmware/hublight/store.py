"""Atomic JSON files in flash: write ``name.tmp``, flush, sync, rename over ``name``.

Loading is tolerant: a missing, truncated or corrupt file falls back to ``name.tmp`` (a write
that was cut between sync and rename) and then to the caller's default.
"""

import json
import os

try:
    from typing import TYPE_CHECKING, Any
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.board import Board
    from hublight.logbuf import LogBuffer


def _exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Store:
    """JSON documents in the board's flash root."""

    def __init__(self, board: "Board", log: "LogBuffer") -> None:
        self.board = board
        self.log = log

    def _read(self, path: str) -> Any:
        with open(path) as f:
            text = f.read()
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value

    def load(self, name: str, default: Any = None) -> Any:
        """The object stored as ``name`` (a dict), or ``default`` when there is none usable."""
        path = self.board.path(name)
        for candidate in (path, path + ".tmp"):
            if not _exists(candidate):
                continue
            try:
                value = self._read(candidate)
            except Exception as exc:
                self.log.warn("store: %s is unreadable (%s), ignoring it" % (
                    candidate.split("/")[-1], type(exc).__name__))
                continue
            if candidate != path:
                self.log.warn("store: recovered %s from its temp file" % name)
            return value
        return default

    def save(self, name: str, value: Any) -> None:
        """Write atomically: temp file, flush, sync, rename (remove + rename where rename does
        not replace)."""
        path = self.board.path(name)
        tmp = path + ".tmp"
        text = json.dumps(value)
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            fsync = getattr(os, "fsync", None)
            if fsync is not None and hasattr(f, "fileno"):
                fsync(f.fileno())
        self.board.sync()
        try:
            os.rename(tmp, path)
        except OSError:
            # Some file systems refuse to rename over an existing file. The temp file is complete,
            # and load() falls back to it if we are cut between remove and rename.
            os.remove(path)
            os.rename(tmp, path)
        self.board.sync()

    def remove(self, name: str) -> None:
        """Delete ``name`` and its temp file if present."""
        path = self.board.path(name)
        for candidate in (path, path + ".tmp"):
            if _exists(candidate):
                try:
                    os.remove(candidate)
                except OSError as exc:
                    self.log.warn("store: cannot remove %s (%s)" % (name, exc))
        self.board.sync()
