"""Wi-Fi adapters: move the PC onto a light's access point and back (see ``base.WifiAdapter``)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable

from .base import (
    AUTH_OPEN,
    DEFAULT_AP_ENDPOINT,
    SHELLY_AP_ENDPOINT,
    AdapterUnavailable,
    CommandNotFoundError,
    CommandResult,
    CommandRunner,
    CommandTimeoutError,
    JoinTimedOut,
    NetworkNotFound,
    PermissionDenied,
    SubprocessRunner,
    WifiAdapter,
    WifiAdapterError,
    WifiEvent,
    WifiNetwork,
    WrongPassword,
    ap_endpoint_for_ssid,
    tcp_reachable,
)
from .macos import NetworkSetupAdapter
from .manual import ManualAdapter
from .netsh import NetshAdapter
from .nmcli import NmcliAdapter


def choose_adapter(
    *,
    runner: CommandRunner | None = None,
    prompt: Callable[[WifiEvent], None] | None = None,
    platform: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> WifiAdapter:
    """The platform's real adapter when its command exists, else ``ManualAdapter(prompt)``."""
    platform = platform or sys.platform
    if platform.startswith("linux") and which("nmcli"):
        return NmcliAdapter(runner)
    if platform.startswith("win") and which("netsh"):
        return NetshAdapter(runner)
    if platform == "darwin" and which("networksetup"):
        return NetworkSetupAdapter(runner)
    return ManualAdapter(prompt)


def __getattr__(name: str) -> object:
    # the simulated adapter imports the simulator, which the packaged app may not ship
    if name == "SimulatedWifiAdapter":
        from .simulated import SimulatedWifiAdapter

        return SimulatedWifiAdapter
    raise AttributeError(name)


__all__ = [
    "AUTH_OPEN",
    "DEFAULT_AP_ENDPOINT",
    "SHELLY_AP_ENDPOINT",
    "AdapterUnavailable",
    "CommandNotFoundError",
    "CommandResult",
    "CommandRunner",
    "CommandTimeoutError",
    "JoinTimedOut",
    "ManualAdapter",
    "NetshAdapter",
    "NetworkNotFound",
    "NetworkSetupAdapter",
    "NmcliAdapter",
    "PermissionDenied",
    "SimulatedWifiAdapter",
    "SubprocessRunner",
    "WifiAdapter",
    "WifiAdapterError",
    "WifiEvent",
    "WifiNetwork",
    "WrongPassword",
    "ap_endpoint_for_ssid",
    "choose_adapter",
    "tcp_reachable",
]
