"""MG-RPC client for one light: HTTP frames, WebSocket with notifications, digest auth.

See `DeviceClient`; errors in `hub_app.device.errors`.
"""

from hub_app.device.client import (
    ConnectionEvent,
    ConnectionState,
    DeviceClient,
    Notification,
    Transport,
)
from hub_app.device.digest import Challenge, DigestAuth
from hub_app.device.errors import (
    AuthError,
    BadReplyError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    RpcError,
)
from hub_app.device.probe import DeviceKind, ProbeResult, probe
from hub_app.device.reconnect import Backoff, Reconnector
from hub_app.device.trace import RpcTrace, redact, redact_frame

__all__ = [
    "AuthError",
    "Backoff",
    "BadReplyError",
    "Challenge",
    "ConnectionEvent",
    "ConnectionState",
    "DeviceClient",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceKind",
    "DeviceTimeoutError",
    "DigestAuth",
    "Notification",
    "ProbeResult",
    "Reconnector",
    "RpcError",
    "RpcTrace",
    "Transport",
    "probe",
    "redact",
    "redact_frame",
]
