"""Windows: ``netsh wlan`` (English output; other display languages are reported as unparsable).

Connecting needs a profile: we write a WLANProfile XML to a private temporary file, ``netsh wlan
add profile filename=... user=current``, delete the file at once, then ``netsh wlan connect``.
The profile uses ``connectionMode manual`` and ``autoSwitch false`` so Windows does not leave the
light's access point by itself because it "has no internet" (a known pain); it is deleted by
``restore_previous()``. The password is only in that short-lived file, never on a command line.
``netsh wlan connect`` returns before the join finishes, so we poll ``show interfaces``.
Windows 11 24H2 and later need location permission for ``netsh wlan show networks``: that is
reported as ``PermissionDenied`` with the setting to change.
"""

from __future__ import annotations

import asyncio
import logging
import re
from xml.sax.saxutils import escape

from .base import (
    AUTH_OPEN,
    AUTH_WEP,
    AUTH_WPA2_ENTERPRISE,
    AUTH_WPA2_PSK,
    AUTH_WPA2_WPA3_PSK,
    AUTH_WPA3_PSK,
    AUTH_WPA_PSK,
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
    private_temp_file,
)

_log = logging.getLogger(__name__)

_AUTH_CODES = {
    "open": AUTH_OPEN,
    "shared": AUTH_WEP,
    "wpa-personal": AUTH_WPA_PSK,
    "wpa2-personal": AUTH_WPA2_PSK,
    "wpa3-personal": AUTH_WPA3_PSK,
    "wpa3-personal transition": AUTH_WPA2_WPA3_PSK,
    "wpa-enterprise": AUTH_WPA2_ENTERPRISE,
    "wpa2-enterprise": AUTH_WPA2_ENTERPRISE,
    "wpa3-enterprise": AUTH_WPA2_ENTERPRISE,
}

_KEY_VALUE = re.compile(r"^\s*(?P<key>[^:]+?)\s*:\s?(?P<value>.*?)\s*$")


def _split(line: str) -> tuple[str, str] | None:
    match = _KEY_VALUE.match(line)
    if not match:
        return None
    return match.group("key").lower(), match.group("value")


def _parse_band(text: str) -> Band | None:
    match = re.match(r"\s*([0-9.]+)\s*GHz", text, re.IGNORECASE)
    if not match:
        return None
    value = match.group(1)
    if value.startswith("2.4"):
        return "2.4"
    if value == "5":
        return "5"
    if value == "6":
        return "6"
    return None


def parse_show_networks(output: str) -> list[WifiNetwork]:
    """Parse ``netsh wlan show networks mode=bssid``: one ``WifiNetwork`` per BSSID (a network
    without BSSID lines gives one entry without BSSID). Unknown lines are ignored."""
    networks: list[WifiNetwork] = []
    ssid: str | None = None
    auth_text = ""
    encryption = ""
    bssids: list[dict[str, str]] = []

    def flush() -> None:
        if ssid is None:
            return
        security = auth_text if encryption in ("", "None", "CCMP", "GCMP") else (
            f"{auth_text} ({encryption})"
        )
        code = _AUTH_CODES.get(auth_text.lower())
        if code == AUTH_OPEN and encryption.upper() == "WEP":
            code = AUTH_WEP
        for entry in bssids or [{}]:
            channel = int(entry["channel"]) if entry.get("channel", "").isdigit() else None
            signal = re.match(r"(\d+)\s*%", entry.get("signal", ""))
            band = _parse_band(entry.get("band", "")) or band_for_channel(channel)
            networks.append(
                WifiNetwork(
                    ssid=ssid,
                    bssid=entry.get("bssid", "").lower() or None,
                    signal_percent=int(signal.group(1)) if signal else None,
                    band=band,
                    channel=channel,
                    security=security or "unknown",
                    auth_code=code,
                    hidden=ssid == "",
                )
            )

    for line in output.splitlines():
        stripped = line.strip()
        header = re.match(r"^SSID\s+\d+\s*:\s?(.*)$", stripped)
        if header:
            flush()
            ssid = header.group(1).rstrip()
            auth_text, encryption, bssids = "", "", []
            continue
        if ssid is None:
            continue
        bssid = re.match(r"^BSSID\s+\d+\s*:\s*(\S+)", stripped)
        if bssid:
            bssids.append({"bssid": bssid.group(1)})
            continue
        pair = _split(line)
        if pair is None:
            continue
        key, value = pair
        if key == "authentication":
            auth_text = value
        elif key == "encryption":
            encryption = value
        elif bssids and key in ("signal", "channel", "band", "radio type"):
            bssids[-1][key] = value
    flush()
    return networks


def parse_show_interfaces(output: str) -> list[dict[str, str]]:
    """Parse ``netsh wlan show interfaces`` into one dict per interface (lower-case keys)."""
    interfaces: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in output.splitlines():
        pair = _split(line)
        if pair is None:
            continue
        key, value = pair
        if key == "name":
            current = {"name": value}
            interfaces.append(current)
        elif current is not None and key not in current:
            current[key] = value
    return interfaces


def build_profile_xml(ssid: str, password: str | None) -> str:
    """A WLANProfile (v1) for ``ssid``: WPA2-Personal with ``password``, or open without one."""
    ssid_hex = ssid.encode("utf-8").hex().upper()
    if password:
        security = (
            "<authEncryption><authentication>WPA2PSK</authentication>"
            "<encryption>AES</encryption><useOneX>false</useOneX></authEncryption>"
            "<sharedKey><keyType>passPhrase</keyType><protected>false</protected>"
            f"<keyMaterial>{escape(password)}</keyMaterial></sharedKey>"
        )
    else:
        security = (
            "<authEncryption><authentication>open</authentication>"
            "<encryption>none</encryption><useOneX>false</useOneX></authEncryption>"
        )
    return (
        '<?xml version="1.0"?>\n'
        '<WLANProfile xmlns="http://www.microsoft.com/networking/WLAN/profile/v1">'
        f"<name>{escape(ssid)}</name>"
        f"<SSIDConfig><SSID><hex>{ssid_hex}</hex><name>{escape(ssid)}</name></SSID>"
        "<nonBroadcast>false</nonBroadcast></SSIDConfig>"
        "<connectionType>ESS</connectionType><connectionMode>manual</connectionMode>"
        "<autoSwitch>false</autoSwitch>"
        f"<MSM><security>{security}</security></MSM>"
        "</WLANProfile>\n"
    )


def classify_netsh_error(result: CommandResult, ssid: str = "") -> WifiAdapterError:
    """The user-facing error for a failed or refused netsh command."""
    text = result.output
    lowered = text.lower()
    detail = text[-500:]
    if "location permission" in lowered or "location services" in lowered:
        return PermissionDenied(
            "Windows does not let this program see Wi-Fi networks without location access.",
            "Open Settings > Privacy & security > Location, switch on location services and "
            "'Let desktop apps access your location', then try again.",
            detail=detail,
        )
    if "elevation" in lowered or "access is denied" in lowered:
        return PermissionDenied(
            "Windows refused the Wi-Fi change for this user.",
            "Run the hub as a user allowed to change Wi-Fi settings, or join the network by hand.",
            detail=detail,
        )
    if "wlansvc" in lowered or "autoconfig service" in lowered:
        return AdapterUnavailable(
            "The Windows Wi-Fi service (WLAN AutoConfig) is not running.",
            "Start the 'WLAN AutoConfig' service, or join the network by hand.",
            detail=detail,
        )
    if "no wireless interface" in lowered:
        return AdapterUnavailable(
            "This PC has no Wi-Fi adapter that Windows can use.",
            "Switch Wi-Fi on (or plug a Wi-Fi adapter in) and try again.",
            detail=detail,
        )
    if "is not available to connect" in lowered or "there is no profile" in lowered:
        return NetworkNotFound(
            f"The network {ssid!r} is not in range of this PC.",
            "Move the PC closer to the light, make sure the light is in set-up mode, and scan "
            "again.",
            detail=detail,
        )
    return WifiAdapterError(
        f"netsh failed (exit code {result.returncode}).",
        "Try again, or join the network by hand.",
        detail=detail,
    )


class NetshAdapter(WifiAdapter):
    """Windows WLAN through ``netsh wlan``. ``interface`` is the adapter name (e.g. ``Wi-Fi``)."""

    def __init__(
        self,
        runner: CommandRunner | None = None,
        *,
        interface: str | None = None,
        connect_timeout_s: float = 30.0,
        poll_interval_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.runner: CommandRunner = runner or SubprocessRunner(env_overrides={})
        self.interface = interface
        self.connect_timeout_s = connect_timeout_s
        self.poll_interval_s = poll_interval_s
        self._previous_profile: str | None = None
        self._temporary_profile: str | None = None

    async def _netsh(self, *args: str, ssid: str = "", timeout_s: float = 30.0) -> CommandResult:
        argv = ("netsh", "wlan", *args)
        try:
            result = await self.runner.run(argv, timeout_s=timeout_s)
        except CommandNotFoundError as exc:
            raise AdapterUnavailable(
                "netsh is not available on this PC.", "Join the light's network by hand instead."
            ) from exc
        except CommandTimeoutError as exc:
            raise JoinTimedOut("Windows did not answer in time.", "Try again.") from exc
        lowered = result.output.lower()
        refused = any(
            marker in lowered
            for marker in ("location permission", "elevation", "access is denied", "wlansvc",
                           "no wireless interface", "is not available to connect",
                           "there is no profile")
        )
        if result.returncode != 0 or refused:
            raise classify_netsh_error(result, ssid)
        return result

    def _interface_args(self) -> list[str]:
        return [f"interface={self.interface}"] if self.interface else []

    async def scan(self) -> list[WifiNetwork]:
        """``netsh wlan show networks mode=bssid`` (Windows' cached scan list)."""
        result = await self._netsh("show", "networks", "mode=bssid", *self._interface_args())
        return parse_show_networks(result.stdout)

    async def _interface_status(self) -> dict[str, str] | None:
        result = await self._netsh("show", "interfaces")
        interfaces = parse_show_interfaces(result.stdout)
        for entry in interfaces:
            if not self.interface or entry.get("name") == self.interface:
                return entry
        return None

    async def current_ssid(self) -> str | None:
        """The SSID of the interface when its state is ``connected``, else None."""
        status = await self._interface_status()
        if status is None or status.get("state", "").lower() != "connected":
            return None
        return status.get("ssid") or None

    async def connect(self, ssid: str, password: str | None = None) -> None:
        """Add a temporary manual profile for ``ssid``, connect, and wait until connected."""
        status = await self._interface_status()
        if status is None:
            raise AdapterUnavailable(
                "This PC has no Wi-Fi adapter that Windows can use.",
                "Switch Wi-Fi on and try again.",
            )
        if self.interface is None:
            self.interface = status.get("name")
        if status.get("state", "").lower() == "connected" and status.get("profile"):
            self._previous_profile = status["profile"]
        with private_temp_file(build_profile_xml(ssid, password), suffix=".xml") as path:
            await self._netsh("add", "profile", f"filename={path}", "user=current",
                              *self._interface_args(), ssid=ssid)
        self._temporary_profile = ssid
        await self._netsh("connect", f"name={ssid}", f"ssid={ssid}", *self._interface_args(),
                          ssid=ssid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        while True:
            status = await self._interface_status()
            if (status is not None and status.get("state", "").lower() == "connected"
                    and status.get("ssid") == ssid):
                self._emit(WifiEvent("connected", ssid))
                return
            if loop.time() >= deadline:
                break
            await asyncio.sleep(self.poll_interval_s)
        if password:
            raise WrongPassword(
                f"Windows could not join {ssid!r}; the password was most likely refused.",
                "Check the password (letters are case-sensitive) and try again.",
            )
        raise JoinTimedOut(
            f"Windows did not join {ssid!r} in time.",
            "Move the PC closer to the light and try again, or join it in the Wi-Fi menu.",
        )

    async def restore_previous(self) -> None:
        """Reconnect the remembered profile, then delete the temporary one."""
        if self._previous_profile:
            await self._netsh("connect", f"name={self._previous_profile}",
                              *self._interface_args(), ssid=self._previous_profile)
            self._emit(WifiEvent("connected", self._previous_profile))
            self._previous_profile = None
        if self._temporary_profile:
            try:
                await self._netsh("delete", "profile", f"name={self._temporary_profile}",
                                  *self._interface_args())
            except WifiAdapterError as exc:
                _log.warning("netsh: could not delete the set-up profile: %s", exc.message)
            self._temporary_profile = None
