"""Atomic file writes: after a crash the file holds either the old or the new content."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_file_atomically(
    path: Path, data: bytes, *, temp_prefix: str = ".", temp_suffix: str = ".tmp"
) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync, os.replace.

    The file is readable by the user only (mkstemp's mode 0600): several of these files hold key
    material or password hashes. Blocking: call it in an executor.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(
        prefix=temp_prefix + path.name + ".", suffix=temp_suffix, dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX only)."""
    if os.name != "posix":
        return
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
