"""Fixtures for registry tests: a real in-process keyring backend and a private data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from registry_keyrings import MemoryKeyring


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Install a fresh MemoryKeyring with keyring.set_keyring; restores the previous one."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def fail_keyring() -> Iterator[None]:
    """Install keyring's own "no backend" keyring."""
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private Home Hub data directory (HOME_HUB_DATA_DIR)."""
    directory = tmp_path / "data"
    monkeypatch.setenv("HOME_HUB_DATA_DIR", str(directory))
    return directory
