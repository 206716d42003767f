"""Secrets in the OS keyring, or in memory for this session when there is no usable keyring.

Every keyring call runs in a single worker thread (never on the event loop). Secret values never
appear in logs, exceptions or reprs. A plaintext-file backend (keyrings.alt) is refused: Home Hub
then keeps secrets in memory only and says so (``warning``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets as _secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar, get_args

import keyring
import keyring.backend
import keyring.errors

_log = logging.getLogger(__name__)

SecretKind = Literal["wifi", "light", "broker", "setup"]
SECRET_KINDS: tuple[str, ...] = get_args(SecretKind)

MEMORY_ONLY_WARNING = (
    "No system keyring was found, so passwords are kept only until you close Home Hub. "
    "Install and unlock a keyring (GNOME Keyring, KWallet) to remember them."
)
KEYRING_FAILED_WARNING = (
    "The system keyring stopped answering, so passwords are now kept only until you close "
    "Home Hub. Unlock your keyring (GNOME Keyring, KWallet) and restart Home Hub to remember them."
)

#: LAN secret limits of the firmware (protocol.md, ``hub.secret``)
LIGHT_SECRET_MIN = 16
LIGHT_SECRET_MAX = 128

_PROBE_USERNAME = "home-hub:probe"
_KEYRING_ERRORS = (keyring.errors.KeyringError, RuntimeError, OSError)

_T = TypeVar("_T")


def generate_light_secret() -> str:
    """A fresh per-light LAN secret: 43 URL-safe characters (256 bits)."""
    secret = _secrets.token_urlsafe(32)
    assert LIGHT_SECRET_MIN <= len(secret) <= LIGHT_SECRET_MAX
    return secret


def _backend_label(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def refusal_reason(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why Home Hub will not store secrets in ``backend``, or None when it is fine."""
    module = type(backend).__module__
    name = type(backend).__name__
    if module.startswith("keyring.backends.fail") or module.startswith("keyring.backends.null"):
        return "no keyring backend is available"
    if module.startswith("keyrings.alt") or "plaintext" in name.lower():
        return f"{name} stores passwords in a plain file"
    if getattr(backend, "stores_plaintext", False):
        return f"{name} stores passwords in a plain file"
    if module.startswith("keyring.backends.chainer"):
        inner = list(getattr(backend, "backends", []))
        if not inner:
            return "no keyring backend is available"
        for child in inner:
            reason = refusal_reason(child)
            if reason is not None and "plain file" in reason:
                return reason
    return None


class SecretStore:
    """Async access to Home Hub's secrets, keyed by ``kind`` and ``key``.

    Kinds: ``wifi`` (SSID -> password the user chose to remember), ``light`` (device id -> LAN
    secret), ``broker`` (profile -> credentials JSON), ``setup`` (device id -> setup code).
    Call ``await probe()`` at start-up to learn ``available`` / ``backend_name`` / ``warning``;
    ``get`` / ``set`` / ``delete`` probe by themselves.
    """

    def __init__(self, service: str = "home-hub") -> None:
        self.service = service
        self._backend: keyring.backend.KeyringBackend | None = None
        self._probed = False
        self._backend_name = "not checked yet"
        self._warning: str | None = None
        self._memory: dict[tuple[str, str], str] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._probe_lock = asyncio.Lock()
        self._subscribers: list[Callable[[str | None], None]] = []

    def __repr__(self) -> str:
        mode = "keyring" if self.available else "memory-only"
        return f"SecretStore(service={self.service!r}, backend={self._backend_name!r}, {mode})"

    # -- state -------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """True when secrets go to a real OS keyring (after ``probe()``)."""
        return self._backend is not None

    @property
    def backend_name(self) -> str:
        """The keyring backend in use, or "memory" when secrets are kept for this session only."""
        return self._backend_name

    @property
    def warning(self) -> str | None:
        """Plain words for the user when secrets are memory-only, else None."""
        return self._warning

    def subscribe(self, callback: Callable[[str | None], None]) -> Callable[[], None]:
        """Call ``callback(warning)`` on a switch to memory-only; returns the unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    async def probe(self) -> bool:
        """Find and test the keyring once (in the worker thread); returns ``available``."""
        async with self._probe_lock:
            if self._probed:
                return self.available
            try:
                backend = await self._run(self._probe_blocking)
            except Exception as exc:  # anything a broken D-Bus or backend may raise
                _log.warning("no usable keyring (%s); secrets are memory-only", type(exc).__name__)
                backend = None
            self._probed = True
            if backend is None:
                self._go_memory_only(MEMORY_ONLY_WARNING)
            else:
                self._backend = backend
                self._backend_name = _backend_label(backend)
                _log.info("secrets are stored in %s", self._backend_name)
            return self.available

    def _probe_blocking(self) -> keyring.backend.KeyringBackend | None:
        backend = keyring.get_keyring()
        reason = refusal_reason(backend)
        if reason is not None:
            _log.warning("not using keyring %s: %s", _backend_label(backend), reason)
            return None
        backend.get_password(self.service, _PROBE_USERNAME)  # raises when locked / no D-Bus
        return backend

    def _go_memory_only(self, warning: str) -> None:
        self._backend = None
        self._backend_name = "memory"
        self._warning = warning
        for callback in list(self._subscribers):
            try:
                callback(warning)
            except Exception:
                _log.exception("secret store subscriber failed")

    # -- secrets -----------------------------------------------------------------------------

    async def get(self, kind: SecretKind, key: str) -> str | None:
        """The stored secret, or None."""
        username = self._username(kind, key)
        await self.probe()
        backend = self._backend
        if backend is not None:
            try:
                return await self._run(backend.get_password, self.service, username)
            except _KEYRING_ERRORS as exc:
                self._keyring_failed("read", kind, exc)
        return self._memory.get((kind, key))

    async def set(self, kind: SecretKind, key: str, value: str) -> None:
        """Store a secret (replacing any previous one)."""
        username = self._username(kind, key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"the {kind} secret must be a non-empty string")
        await self.probe()
        backend = self._backend
        if backend is not None:
            try:
                await self._run(backend.set_password, self.service, username, value)
                return
            except _KEYRING_ERRORS as exc:
                self._keyring_failed("write", kind, exc)
        self._memory[(kind, key)] = value

    async def delete(self, kind: SecretKind, key: str) -> bool:
        """Remove a secret; returns True when there was one."""
        username = self._username(kind, key)
        await self.probe()
        existed = self._memory.pop((kind, key), None) is not None
        backend = self._backend
        if backend is not None:
            try:
                return await self._run(self._delete_blocking, backend, username) or existed
            except _KEYRING_ERRORS as exc:
                self._keyring_failed("delete", kind, exc)
        return existed

    def _delete_blocking(self, backend: keyring.backend.KeyringBackend, username: str) -> bool:
        if backend.get_password(self.service, username) is None:
            return False
        try:
            backend.delete_password(self.service, username)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    async def get_json(self, kind: SecretKind, key: str) -> Any:
        """A secret stored with ``set_json`` (e.g. broker credentials), or None."""
        raw = await self.get(kind, key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"the stored {kind} secret for {key!r} is not JSON") from None

    async def set_json(self, kind: SecretKind, key: str, value: Any) -> None:
        """Store a JSON-serialisable secret (e.g. broker credentials)."""
        await self.set(kind, key, json.dumps(value, separators=(",", ":")))

    async def forget_light(self, device_id: str) -> bool:
        """Delete the LAN secret and setup code of a light; True when anything was removed."""
        removed_secret = await self.delete("light", device_id)
        removed_setup = await self.delete("setup", device_id)
        return removed_secret or removed_setup

    def close(self) -> None:
        """Stop the keyring worker thread (memory-only secrets are dropped)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._memory.clear()

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _username(kind: str, key: str) -> str:
        if kind not in SECRET_KINDS:
            raise ValueError(f"unknown secret kind {kind!r}; use one of {', '.join(SECRET_KINDS)}")
        if not isinstance(key, str) or not key:
            raise ValueError(f"a {kind} secret needs a non-empty key")
        return f"{kind}:{key}"

    def _keyring_failed(self, action: str, kind: str, exc: BaseException) -> None:
        # Only the exception type: backend messages may echo what was passed in.
        _log.warning(
            "keyring failed to %s a %s secret (%s); secrets are memory-only now",
            action,
            kind,
            type(exc).__name__,
        )
        self._go_memory_only(KEYRING_FAILED_WARNING)

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyring")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)
