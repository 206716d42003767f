"""Choosing the home network: merge what the light and the PC see, and check a choice BEFORE
anything is sent to the light (pain points 5 and 6).

An *error* is something that cannot work (the light would never join): the form is shown again.
A *warning* is something that may not work: the user confirms or changes the choice.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTH_NAMES",
    "LIGHT_AP_PREFIXES",
    "NetworkCheck",
    "NetworkOption",
    "check_network_choice",
    "check_password",
    "check_ssid",
    "is_light_ap",
    "merge_scans",
]

# Wifi.Scan auth codes (protocol.md)
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA2_ENTERPRISE = 5
AUTH_WPA3_PSK = 6

AUTH_NAMES = {
    0: "open",
    1: "WEP",
    2: "WPA",
    3: "WPA2",
    4: "WPA/WPA2",
    5: "WPA2-Enterprise",
    6: "WPA3",
    7: "WPA2/WPA3",
}

#: the access points of lights waiting to be set up (never offered as a home network)
LIGHT_AP_PREFIXES = ("HubLight-", "Mongoose-OS-Smart-Light-", "shelly")

#: below this signal strength (dBm, as the light sees it) the light may drop off
WEAK_SIGNAL_DBM = -80

_HEX = frozenset(string.hexdigits)


def is_light_ap(ssid: str) -> bool:
    """Whether ``ssid`` is the access point of a light waiting for set-up."""
    lowered = ssid.lower()
    return any(lowered.startswith(prefix.lower()) for prefix in LIGHT_AP_PREFIXES)


def _band_of(entry: Mapping[str, Any]) -> str | None:
    band = entry.get("band")
    if isinstance(band, str) and band:
        return band
    channel = entry.get("channel")
    if isinstance(channel, int) and channel > 0:
        return "5" if channel > 14 else "2.4"
    return None


@dataclass
class NetworkOption:
    """One network as both radios see it.

    ``light_rssi`` is None when the light did not see it; ``pc_bands`` holds the bands the PC
    saw it on ("2.4", "5", "dual"); ``auth`` prefers what the light saw.
    """

    ssid: str
    auth: int | None = None
    light_rssi: int | None = None
    pc_rssi: int | None = None
    pc_bands: set[str] = field(default_factory=set)

    @property
    def seen_by_light(self) -> bool:
        return self.light_rssi is not None

    @property
    def seen_by_pc(self) -> bool:
        return self.pc_rssi is not None

    @property
    def five_ghz_only(self) -> bool:
        """The PC sees it on 5 GHz only and the light (2.4 GHz radio) does not see it."""
        return (not self.seen_by_light and bool(self.pc_bands)
                and self.pc_bands <= {"5"})

    def info(self) -> dict[str, Any]:
        """Facts for the UI beside the choice."""
        return {
            "security": AUTH_NAMES.get(self.auth, "unknown") if self.auth is not None else None,
            "open": self.auth == AUTH_OPEN,
            "light_rssi": self.light_rssi,
            "pc_rssi": self.pc_rssi,
            "seen_by_light": self.seen_by_light,
            "seen_by_pc": self.seen_by_pc,
            "pc_bands": sorted(self.pc_bands),
        }


def _entry_get(entry: Any, name: str) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name)
    return getattr(entry, name, None)


def _as_mapping(entry: Any) -> dict[str, Any]:
    """ssid/auth/rssi/channel/band of a Wifi.Scan entry or a PC scan entry (WifiNetwork names
    them ``auth_code`` and ``signal_dbm``)."""
    data = {name: _entry_get(entry, name) for name in ("ssid", "auth", "rssi", "channel", "band")}
    if data["auth"] is None:
        data["auth"] = _entry_get(entry, "auth_code")
    if data["rssi"] is None:
        data["rssi"] = _entry_get(entry, "signal_dbm")
    return data


def merge_scans(light_scan: Iterable[Any], pc_scan: Iterable[Any]) -> list[NetworkOption]:
    """One option per SSID: the light's ``Wifi.Scan`` entries and the PC's scan entries (mappings
    or objects with ssid/auth/rssi/channel/band). Lights' access points and empty SSIDs are left
    out. Sorted: seen by the light first (strongest first), then the PC-only ones."""
    options: dict[str, NetworkOption] = {}
    for raw in light_scan:
        entry = _as_mapping(raw)
        ssid = entry["ssid"]
        if not isinstance(ssid, str) or not ssid or is_light_ap(ssid):
            continue
        option = options.setdefault(ssid, NetworkOption(ssid))
        rssi = entry["rssi"] if isinstance(entry["rssi"], int) else -100
        if option.light_rssi is None or rssi > option.light_rssi:
            option.light_rssi = rssi
        if isinstance(entry["auth"], int):
            option.auth = entry["auth"]
    for raw in pc_scan:
        entry = _as_mapping(raw)
        ssid = entry["ssid"]
        if not isinstance(ssid, str) or not ssid or is_light_ap(ssid):
            continue
        option = options.setdefault(ssid, NetworkOption(ssid))
        rssi = entry["rssi"] if isinstance(entry["rssi"], int) else -100
        if option.pc_rssi is None or rssi > option.pc_rssi:
            option.pc_rssi = rssi
        band = _band_of(entry)
        if band:
            option.pc_bands.add(band)
        if option.auth is None and isinstance(entry["auth"], int):
            option.auth = entry["auth"]
    return sorted(
        options.values(),
        key=lambda o: (
            0 if o.seen_by_light else 1,
            -(o.light_rssi if o.light_rssi is not None else (o.pc_rssi or -100)),
            o.ssid,
        ),
    )


def check_ssid(ssid: str) -> str | None:
    """The error key for an SSID the light cannot take, or None."""
    if not ssid:
        return "ssid_required"
    if len(ssid.encode("utf-8")) > 32:
        return "ssid_too_long"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in ssid):
        return "unsupported_characters"
    return None


def check_password(password: str) -> str | None:
    """The error key for a Wi-Fi password the light cannot take (protocol.md: empty for an open
    network, 8..63 printable ASCII, or 64 hex digits), or None."""
    if password == "":
        return None
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in password):
        return "unsupported_characters"
    if len(password) == 64:
        return None if all(ch in _HEX for ch in password) else "password_length"
    if not 8 <= len(password) <= 63:
        return "password_length"
    return None


@dataclass
class NetworkCheck:
    """The outcome of ``check_network_choice``: ``errors`` / ``warnings`` map a field name
    ("ssid", "password" or "base") to a key; ``password`` is what to send (cleared for an open
    network)."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    password: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.warnings


def check_network_choice(
    ssid: str,
    password: str,
    options: Iterable[NetworkOption],
    *,
    light_scanned: bool = True,
) -> NetworkCheck:
    """Check a chosen ``ssid`` + ``password`` against what both radios saw.

    ``light_scanned`` is False when the light's scan failed: then "the light does not see it" is
    not a reason to warn.
    """
    result = NetworkCheck(password=password)
    ssid_error = check_ssid(ssid)
    if ssid_error:
        result.errors["ssid"] = ssid_error
    option = next((o for o in options if o.ssid == ssid), None)
    if option is not None and option.auth is not None:
        if option.auth == AUTH_WPA3_PSK:
            result.errors["ssid"] = "ssid_wpa3_only"
        elif option.auth == AUTH_WPA2_ENTERPRISE:
            result.errors["ssid"] = "ssid_enterprise"
        elif option.auth == AUTH_WEP:
            result.errors["ssid"] = "ssid_wep"
    password_error = check_password(password)
    if password_error:
        result.errors["password"] = password_error
    elif option is not None and option.auth is not None:
        if option.auth != AUTH_OPEN and password == "":
            result.errors["password"] = "password_required"
        elif option.auth == AUTH_OPEN and password != "":
            result.warnings["password"] = "password_for_open_network"
            result.password = ""
    if "ssid" in result.errors:
        return result
    if option is None:
        result.warnings["ssid"] = "ssid_hidden"
    elif option.five_ghz_only and light_scanned:
        result.warnings["ssid"] = "ssid_5ghz_only"
    elif not option.seen_by_light and light_scanned:
        result.warnings["ssid"] = "ssid_not_seen_by_light"
    elif option.light_rssi is not None and option.light_rssi < WEAK_SIGNAL_DBM:
        result.warnings["ssid"] = "weak_signal"
    return result
