"""Real keyring backends for tests: MemoryKeyring (in-process) and a refused plaintext one."""

from __future__ import annotations

import keyring.errors

from hub_app.registry.memory_keyring import MemoryKeyring as BaseMemoryKeyring


class MemoryKeyring(BaseMemoryKeyring):
    """The in-process keyring, recording calls and lockable (to test the locked-keyring paths)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.locked = False

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.locked:
            raise keyring.errors.KeyringLocked("the test keyring is locked")

    def get_password(self, service: str, username: str) -> str | None:
        self._check("get")
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check("set")
        super().set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._check("delete")
        super().delete_password(service, username)


class PlaintextFileKeyring(MemoryKeyring):
    """Pretends to be keyrings.alt's plaintext backend, which Home Hub must refuse."""

    __module__ = "keyrings.alt.file"
