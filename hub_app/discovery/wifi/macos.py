"""macOS: ``networksetup`` to join and read the current network; ``system_profiler -json
SPAirPortDataType`` (or the old ``airport -s`` where it still exists) to scan.

Trade-off on passwords: ``networksetup -setairportnetwork DEV SSID PASSWORD`` takes the password
as an argument (briefly visible in the process list to users of this Mac); there is no stdin or
file alternative. We only pass it when a password is needed: lights' access points are open, and
returning to the previous network uses the password stored in the Keychain.
``networksetup`` exits 0 even when joining fails, so its output is classified.
Since macOS 14.4 ``airport`` is gone and BSSIDs are hidden from ``system_profiler``; since
macOS 15 SSIDs need location permission (they show as ``<redacted>``), reported as
``PermissionDenied``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from .base import (
    AUTH_OPEN,
    AUTH_WEP,
    AUTH_WPA2_ENTERPRISE,
    AUTH_WPA2_PSK,
    AUTH_WPA2_WPA3_PSK,
    AUTH_WPA3_PSK,
    AUTH_WPA_PSK,
    AUTH_WPA_WPA2_PSK,
    AdapterUnavailable,
    Band,
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
    band_for_channel,
)

_log = logging.getLogger(__name__)

AIRPORT = (
    "/System/Library/PrivateFrameworks/Apple80211.framework/Versions/Current/Resources/airport"
)

_SECURITY_CODES = {
    "none": AUTH_OPEN,
    "wep": AUTH_WEP,
    "wpa_personal": AUTH_WPA_PSK,
    "wpa_personal_mixed": AUTH_WPA_WPA2_PSK,
    "wpa2_personal": AUTH_WPA2_PSK,
    "wpa3_transition": AUTH_WPA2_WPA3_PSK,
    "wpa3_personal": AUTH_WPA3_PSK,
    "wpa2_enterprise": AUTH_WPA2_ENTERPRISE,
    "wpa3_enterprise": AUTH_WPA2_ENTERPRISE,
    "wpa_enterprise": AUTH_WPA2_ENTERPRISE,
}


def _security_from_profiler(value: str) -> tuple[str, int | None]:
    key = value.removeprefix("spairport_security_mode_").lower()
    readable = key.replace("_", " ").upper().replace("PERSONAL", "Personal").replace(
        "ENTERPRISE", "Enterprise").replace("TRANSITION", "Transition").replace("NONE", "open")
    return readable, _SECURITY_CODES.get(key)


def _parse_channel(text: str) -> tuple[int | None, Band | None]:
    """``"6 (2GHz, 20MHz)"``, ``"36 (5GHz, 80MHz)"``, ``"37 (6GHz, 160MHz)"``, ``"36,+1"``."""
    match = re.match(r"\s*(\d+)", str(text))
    channel = int(match.group(1)) if match else None
    band_match = re.search(r"(\d)GHz", str(text))
    band: Band | None
    if band_match:
        band = {"2": "2.4", "5": "5", "6": "6"}.get(band_match.group(1))  # type: ignore[assignment]
    else:
        band = band_for_channel(channel)
    return channel, band


def parse_system_profiler(output: str) -> list[WifiNetwork]:
    """Parse ``system_profiler -json SPAirPortDataType``: the current network and the other local
    networks of every Wi-Fi interface. Raises ValueError when the output is not that JSON."""
    try:
        data = json.loads(output)
        items = data["SPAirPortDataType"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError("not system_profiler SPAirPortDataType JSON") from exc
    networks: list[WifiNetwork] = []
    for item in items if isinstance(items, list) else []:
        for interface in item.get("spairport_airport_interfaces", []) or []:
            if not isinstance(interface, dict):
                continue
            entries: list[Any] = []
            current = interface.get("spairport_current_network_information")
            if isinstance(current, dict):
                entries.append(current)
            others = interface.get("spairport_airport_other_local_wireless_networks") or []
            entries.extend(others if isinstance(others, list) else [])
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("_name"), str):
                    _log.warning("system_profiler: skipping a network entry without a name")
                    continue
                channel, band = _parse_channel(entry.get("spairport_network_channel", ""))
                security, code = _security_from_profiler(
                    str(entry.get("spairport_security_mode", ""))
                )
                signal = re.match(r"\s*(-?\d+)\s*dBm", str(entry.get("spairport_signal_noise", "")))
                networks.append(
                    WifiNetwork(
                        ssid=entry["_name"],
                        bssid=(entry.get("spairport_network_bssid") or None),
                        signal_dbm=int(signal.group(1)) if signal else None,
                        band=band,
                        channel=channel,
                        security=security or "unknown",
                        auth_code=code,
                        hidden=entry["_name"] == "",
                    )
                )
    return networks


_AIRPORT_LINE = re.compile(
    r"^(?P<ssid>.*?)\s+(?P<bssid>(?:[0-9a-fA-F]{1,2}:){5}[0-9a-fA-F]{1,2})\s+(?P<rssi>-?\d+)\s+"
    r"(?P<channel>\S+)\s+(?P<ht>[YN])\s+(?P<cc>\S+)\s+(?P<security>.+?)\s*$"
)


def _airport_auth(security: str) -> int | None:
    text = security.upper()
    if text.startswith("NONE"):
        return AUTH_OPEN
    if "WEP" in text:
        return AUTH_WEP
    if "802.1X" in text:
        return AUTH_WPA2_ENTERPRISE
    wpa1 = bool(re.search(r"\bWPA\(", text))
    wpa2, wpa3 = "WPA2(" in text, "WPA3(" in text
    if wpa3 and wpa2:
        return AUTH_WPA2_WPA3_PSK
    if wpa3:
        return AUTH_WPA3_PSK
    if wpa1 and wpa2:
        return AUTH_WPA_WPA2_PSK
    if wpa2:
        return AUTH_WPA2_PSK
    if wpa1:
        return AUTH_WPA_PSK
    return None


def parse_airport_scan(output: str) -> list[WifiNetwork]:
    """Parse the old ``airport -s`` table (SSIDs right-aligned in the first column)."""
    networks: list[WifiNetwork] = []
    for line in output.splitlines():
        if not line.strip() or line.strip().startswith("SSID BSSID"):
            continue
        match = _AIRPORT_LINE.match(line)
        if not match:
            _log.warning("airport: skipping a line that is not a scan entry")
            continue
        channel, band = _parse_channel(match.group("channel"))
        ssid = match.group("ssid").strip()
        networks.append(
            WifiNetwork(
                ssid=ssid,
                bssid=match.group("bssid").lower(),
                signal_dbm=int(match.group("rssi")),
                band=band,
                channel=channel,
                security=match.group("security"),
                auth_code=_airport_auth(match.group("security")),
                hidden=ssid == "",
            )
        )
    return networks


def parse_current_network(output: str) -> str | None:
    """Parse ``networksetup -getairportnetwork DEV``."""
    for line in output.splitlines():
        match = re.match(r"^Current (?:Wi-Fi|AirPort) Network:\s?(.*)$", line.strip())
        if match:
            return match.group(1) or None
    return None


def parse_hardware_ports(output: str) -> str | None:
    """The Wi-Fi device (``en0``...) from ``networksetup -listallhardwareports``."""
    port = None
    for line in output.splitlines():
        if line.startswith("Hardware Port:"):
            port = line.split(":", 1)[1].strip()
        elif line.startswith("Device:") and port in ("Wi-Fi", "AirPort"):
            return line.split(":", 1)[1].strip() or None
    return None


def classify_networksetup_output(result: CommandResult, ssid: str,
                                 with_password: bool) -> WifiAdapterError | None:
    """None when ``-setairportnetwork`` worked, else the user-facing error."""
    text = result.output
    lowered = text.lower()
    detail = text[-500:]
    if "is not a wi-fi interface" in lowered or "turned off" in lowered or "power" in lowered:
        return AdapterUnavailable(
            "Wi-Fi is switched off or this Mac has no Wi-Fi adapter.",
            "Switch Wi-Fi on in the menu bar and try again.",
            detail=detail,
        )
    if "admin" in lowered or "not permitted" in lowered or "authoriz" in lowered:
        return PermissionDenied(
            "macOS refused the Wi-Fi change for this user.",
            "Allow the change (administrator), or join the network in the Wi-Fi menu.",
            detail=detail,
        )
    if "could not find network" in lowered:
        return NetworkNotFound(
            f"The network {ssid!r} is not in range of this Mac.",
            "Move the Mac closer to the light, make sure the light is in set-up mode, and scan "
            "again.",
            detail=detail,
        )
    if "failed to join" in lowered or "error" in lowered or result.returncode != 0:
        if with_password:
            return WrongPassword(
                f"macOS could not join {ssid!r}; the password was most likely refused.",
                "Check the password (letters are case-sensitive) and try again.",
                detail=detail,
            )
        return WifiAdapterError(
            f"macOS could not join {ssid!r}.",
            "Try again, or join the network in the Wi-Fi menu.",
            detail=detail,
        )
    return None


class NetworkSetupAdapter(WifiAdapter):
    """macOS Wi-Fi through ``networksetup``. ``device`` is the Wi-Fi device (found if None)."""

    def __init__(
        self,
        runner: CommandRunner | None = None,
        *,
        device: str | None = None,
        airport_path: str | None = AIRPORT,
    ) -> None:
        super().__init__()
        self.runner: CommandRunner = runner or SubprocessRunner()
        self.device = device
        self.airport_path = airport_path
        # checked once here: a file-system call has no place on the event loop
        self._airport_exists = bool(airport_path and os.path.exists(airport_path))
        self._previous_ssid: str | None = None

    async def _run(self, *argv: str, timeout_s: float = 60.0) -> CommandResult:
        try:
            return await self.runner.run(argv, timeout_s=timeout_s)
        except CommandNotFoundError as exc:
            raise AdapterUnavailable(
                f"{os.path.basename(argv[0])} is not available on this Mac.",
                "Join the light's network in the Wi-Fi menu instead.",
            ) from exc
        except CommandTimeoutError as exc:
            raise JoinTimedOut("macOS did not answer in time.", "Try again.") from exc

    async def _device(self) -> str:
        if self.device is None:
            result = await self._run("networksetup", "-listallhardwareports")
            found = parse_hardware_ports(result.stdout)
            if found is None:
                raise AdapterUnavailable(
                    "This Mac has no Wi-Fi adapter.", "Join the light's network by hand."
                )
            self.device = found
        return self.device

    async def scan(self) -> list[WifiNetwork]:
        """Scan with ``airport -s`` where it exists (macOS < 14.4), else system_profiler."""
        if self.airport_path and self._airport_exists:
            result = await self._run(self.airport_path, "-s")
            if result.returncode == 0:
                return parse_airport_scan(result.stdout)
        result = await self._run("system_profiler", "-json", "SPAirPortDataType", timeout_s=90.0)
        try:
            networks = parse_system_profiler(result.stdout)
        except ValueError as exc:
            raise WifiAdapterError(
                "macOS did not return a readable list of Wi-Fi networks.",
                "Try again, or join the light's network in the Wi-Fi menu.",
                detail=result.output[-500:],
            ) from exc
        if any(n.ssid == "<redacted>" for n in networks):
            raise PermissionDenied(
                "macOS hides Wi-Fi network names from this program.",
                "Allow location access for the hub in System Settings > Privacy & Security > "
                "Location Services, then try again.",
            )
        return networks

    async def current_ssid(self) -> str | None:
        """``networksetup -getairportnetwork DEV``."""
        device = await self._device()
        result = await self._run("networksetup", "-getairportnetwork", device)
        return parse_current_network(result.stdout)

    async def connect(self, ssid: str, password: str | None = None) -> None:
        """``networksetup -setairportnetwork DEV SSID [PASSWORD]`` (see the module note)."""
        device = await self._device()
        previous = await self.current_ssid()
        if previous and previous != ssid:
            self._previous_ssid = previous
        argv = ["networksetup", "-setairportnetwork", device, ssid]
        if password:
            argv.append(password)
        result = await self._run(*argv, timeout_s=60.0)
        error = classify_networksetup_output(result, ssid, bool(password))
        if error is not None:
            raise error
        self._emit(WifiEvent("connected", ssid))

    async def restore_previous(self) -> None:
        """Rejoin the previous network (its password comes from the Keychain)."""
        if not self._previous_ssid:
            return
        ssid, self._previous_ssid = self._previous_ssid, None
        device = await self._device()
        result = await self._run("networksetup", "-setairportnetwork", device, ssid)
        error = classify_networksetup_output(result, ssid, False)
        if error is not None:
            raise error
        self._emit(WifiEvent("connected", ssid))
