"""A real keyring backend kept in this process, so tests never touch the OS keyring."""

from __future__ import annotations

import keyring.backend
import keyring.errors
from jaraco.classes import properties


class ProvisioningTestKeyring(keyring.backend.KeyringBackend):
    """Passwords in a dict (test stand-in for the OS keyring)."""

    @properties.classproperty
    def priority(cls) -> float:
        return 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None
