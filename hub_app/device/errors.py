"""The errors a caller of the device client handles.

Everything a light (or the network in between) can do wrong is a `DeviceError`. Mistakes in the
calling code (wrong argument types, calling after `close()`) are plain `TypeError` /
`RuntimeError` and are not caught by `except DeviceError`.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AuthError",
    "AuthFailure",
    "BadReplyError",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceTimeoutError",
    "RpcError",
]

AuthFailure = Literal["missing_credentials", "wrong_credentials", "rate_limited"]


class DeviceError(Exception):
    """Base of every error a light or the network can cause."""


class DeviceConnectionError(DeviceError):
    """The light cannot be reached: refused, unknown host, network unreachable, reset, closed."""


class DeviceTimeoutError(DeviceError):
    """The light did not answer in time."""


class AuthError(DeviceError):
    """The light refused the credentials.

    `reason` is "missing_credentials" (no password given), "wrong_credentials" (the password was
    refused, after one retry with a fresh nonce) or "rate_limited" (too many failed attempts:
    the light answers 429 for a while).
    """

    def __init__(self, reason: AuthFailure, message: str) -> None:
        super().__init__(message)
        self.reason: AuthFailure = reason


class RpcError(DeviceError):
    """The light answered a call with an error (`code` as in protocol.md, `message` for people)."""

    def __init__(self, code: int, message: str, method: str) -> None:
        super().__init__(f"{method} failed: {message} (error {code})")
        self.code = code
        self.message = message
        self.method = method


class BadReplyError(DeviceError):
    """The light answered something that is not a valid reply (not JSON, wrong shape, wrong id)."""
