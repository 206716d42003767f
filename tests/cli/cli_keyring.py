"""A keyring backend for hub-cli subprocess tests: a JSON file in the test's tmp dir.

Loaded in the child through PYTHON_KEYRING_BACKEND=cli_keyring.SubprocessTestKeyring so the test
can see what ``hub-cli`` stored or removed. It stands in for the OS keyring daemon, which cannot
run here; the file lives outside HOME_HUB_DATA_DIR and exists only for the test's lifetime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend
import keyring.errors
from jaraco.classes import properties

FILE_ENV = "HUB_TEST_KEYRING_FILE"


class SubprocessTestKeyring(keyring.backend.KeyringBackend):
    """Keeps passwords in the JSON file named by $HUB_TEST_KEYRING_FILE."""

    @properties.classproperty
    def priority(cls) -> float:
        return 1

    @staticmethod
    def _path() -> Path:
        return Path(os.environ[FILE_ENV])

    def _read(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}
        return data

    def _write(self, data: dict[str, str]) -> None:
        self._path().write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        return self._read().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._read()
        data[f"{service}/{username}"] = password
        self._write(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._read()
        if data.pop(f"{service}/{username}", None) is None:
            raise keyring.errors.PasswordDeleteError("not found")
        self._write(data)
