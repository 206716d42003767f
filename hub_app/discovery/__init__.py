"""Discovery of lights: on the LAN (mDNS / DNS-SD) and in access-point mode (Wi-Fi scans).

* ``LanDiscovery``: added / updated / removed ``DiscoveryEvent``s keyed by device id.
* ``list_interfaces()``: the PC's interfaces, for choosing where mDNS runs.
* ``run_mdns_selftest()``: tells in plain words why mDNS may not work on this PC.
* ``ApDiscovery``: new lights' access points found by Wi-Fi scans (``wifi.WifiAdapter``).
"""

from __future__ import annotations

from .ap import ApDiscovery, ApEvent, LightAccessPointCandidate, recognise_ssid
from .interfaces import NetworkInterface, list_interfaces, resolve_interfaces
from .lan import (
    SERVICE_TYPES,
    DiscoveredLight,
    DiscoveryEvent,
    DiscoveryStoppedError,
    LanDiscovery,
    MalformedServiceError,
)
from .selftest import CheckResult, SelfTestReport, run_mdns_selftest

__all__ = [
    "SERVICE_TYPES",
    "ApDiscovery",
    "ApEvent",
    "CheckResult",
    "DiscoveredLight",
    "DiscoveryEvent",
    "DiscoveryStoppedError",
    "LanDiscovery",
    "LightAccessPointCandidate",
    "MalformedServiceError",
    "NetworkInterface",
    "SelfTestReport",
    "list_interfaces",
    "recognise_ssid",
    "resolve_interfaces",
    "run_mdns_selftest",
]
