"""Real keyring backends for tests: MemoryKeyring (in-process) and a refused plaintext one."""

from __future__ import annotations

import keyring.backend
import keyring.errors
from jaraco.classes import properties


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps passwords in this process (test stand-in for an OS one)."""

    @properties.classproperty
    def priority(cls) -> float:
        return 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []
        self.locked = False

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.locked:
            raise keyring.errors.KeyringLocked("the test keyring is locked")

    def get_password(self, service: str, username: str) -> str | None:
        self._check("get")
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check("set")
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check("delete")
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


class PlaintextFileKeyring(MemoryKeyring):
    """Pretends to be keyrings.alt's plaintext backend, which Home Hub must refuse."""

    __module__ = "keyrings.alt.file"
