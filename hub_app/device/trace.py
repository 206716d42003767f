"""RpcTrace: one record per call, for the flight recorder and the RPC console. Secrets redacted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["REDACTED", "RpcTrace", "TraceCallback", "is_secret_key", "redact", "redact_frame"]

REDACTED = "<redacted>"

_SECRET_NAMES = frozenset(
    {"pass", "password", "passwd", "secret", "setup_code", "token", "psk", "private_key"}
)
_SECRET_SUFFIXES = ("_pass", "_password", "_secret", "_token", "_psk")


def is_secret_key(key: str) -> bool:
    """Whether a JSON key names a secret value (`pass`, `secret`, `mqtt_password`, ...).

    The `<key>_set` flags a light reports beside write-only keys are not secrets.
    """
    name = key.lower()
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def redact(value: Any) -> Any:
    """A copy of `value` with the value of every secret key (at any depth) replaced."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redact_frame(frame: Any) -> Any:
    """A copy of an MG-RPC frame fit for a log: `auth` and secret keys anywhere redacted."""
    if not isinstance(frame, dict):
        return frame
    out = redact(frame)
    if "auth" in out and out["auth"] is not None:
        out["auth"] = REDACTED
    return out


@dataclass
class RpcTrace:
    """One RPC call as it went over the wire (secrets redacted).

    `request` is the last frame sent (after an authentication retry, the retried one); `reply` is
    the frame received, or None when none came. `started` is Unix time, `elapsed_s` the duration
    of the whole call, `error` a person-readable description of a failure (None on success).
    """

    method: str
    request: dict[str, Any]
    reply: dict[str, Any] | None
    transport: str
    started: float
    elapsed_s: float
    error: str | None = None


TraceCallback = Callable[[RpcTrace], None]
