"""Linux: NetworkManager through ``nmcli`` (terse output, C locale).

Joining a light's access point creates a temporary connection profile
(``HubLight setup <SSID>``) with ``ipv4.never-default yes``: the PC keeps its default route (and
internet, VPN, DNS) on the home network, and still reaches 192.168.4.1 because it is on the AP's
subnet. Without it NetworkManager may make the AP the default route, and some desktops then drop
an AP "without internet". The profile is deleted by ``restore_previous()``.

Passwords: ``nmcli dev wifi connect SSID password PASS`` would put the password on the command line
(visible in the process list). We pass it with ``nmcli connection up ... passwd-file FILE`` from a
private temporary file (mode 0600, deleted right after) instead. Lights' access points are open, so
normally no password is involved at all.
"""

from __future__ import annotations

import logging
import re

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
    band_for_frequency,
    private_temp_file,
    redact,
)

_log = logging.getLogger(__name__)

SCAN_FIELDS = "IN-USE,BSSID,SSID,CHAN,FREQ,SIGNAL,SECURITY"
PROFILE_PREFIX = "HubLight setup "
WIRELESS_TYPES = ("802-11-wireless", "wifi")


def split_terse(line: str) -> list[str]:
    r"""Split one line of ``nmcli -t`` output: fields are separated by ``:``, and ``\:`` and
    ``\\`` inside a value are an escaped colon and backslash."""
    fields: list[str] = []
    current: list[str] = []
    chars = iter(line)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def auth_code_from_nmcli(security: str) -> int | None:
    """protocol.md auth code from nmcli's SECURITY column (``WPA1 WPA2``, ``WPA2 802.1X``...)."""
    words = set(security.split())
    if not words or words == {"--"}:
        return AUTH_OPEN
    if "802.1X" in words:
        return AUTH_WPA2_ENTERPRISE
    if "WEP" in words:
        return AUTH_WEP
    wpa1, wpa2, wpa3 = "WPA1" in words, "WPA2" in words, "WPA3" in words
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
    return None  # OWE and other modes the protocol has no code for


def _int_or_none(text: str) -> int | None:
    match = re.match(r"\s*(-?\d+)", text)
    return int(match.group(1)) if match else None


def parse_wifi_list(output: str) -> list[WifiNetwork]:
    """Parse ``nmcli -t -f IN-USE,BSSID,SSID,CHAN,FREQ,SIGNAL,SECURITY dev wifi list``.

    Lines that do not have the seven fields are skipped with a log line.
    """
    networks: list[WifiNetwork] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        fields = split_terse(line)
        if len(fields) != 7:
            _log.warning("nmcli: skipping a scan line with %d fields instead of 7", len(fields))
            continue
        _in_use, bssid, ssid, chan, freq, signal, security = fields
        channel = _int_or_none(chan)
        band = band_for_frequency(_int_or_none(freq)) or band_for_channel(channel)
        security = "" if security.strip() == "--" else security.strip()
        networks.append(
            WifiNetwork(
                ssid=ssid,
                bssid=bssid.lower() or None,
                signal_percent=_int_or_none(signal),
                band=band,
                channel=channel,
                security=security or "open",
                auth_code=auth_code_from_nmcli(security),
                hidden=ssid == "",
            )
        )
    return networks


def classify_nmcli_error(result: CommandResult, ssid: str = "") -> WifiAdapterError:
    """The user-facing error for a failed nmcli command (exit code and C-locale message)."""
    text = result.output
    lowered = text.lower()
    detail = text[-500:]
    if result.returncode == 8 or "networkmanager is not running" in lowered:
        return AdapterUnavailable(
            "NetworkManager is not running on this PC.",
            "Start it (sudo systemctl start NetworkManager) or join the light's network by hand.",
            detail=detail,
        )
    if "not authorized" in lowered or "insufficient privileges" in lowered:
        return PermissionDenied(
            "This user may not change the Wi-Fi connection.",
            "Log in as a user allowed to manage networks (polkit), or join the network by hand.",
            detail=detail,
        )
    if "no wi-fi device" in lowered or "wi-fi is disabled" in lowered or (
        "radio" in lowered and "disabled" in lowered
    ):
        return AdapterUnavailable(
            "No usable Wi-Fi adapter: it is missing or switched off.",
            "Switch Wi-Fi on (nmcli radio wifi on) and try again.",
            detail=detail,
        )
    if "secrets were required" in lowered or "(7)" in lowered or "802-1x supplicant" in lowered:
        return WrongPassword(
            f"The network {ssid!r} refused the password.",
            "Check the password (letters are case-sensitive) and try again.",
            detail=detail,
        )
    if (
        result.returncode == 10
        or "no network with ssid" in lowered
        or "could not be found" in lowered
    ):
        return NetworkNotFound(
            f"The network {ssid!r} is not in range of this PC.",
            "Move the PC closer to the light, make sure the light is in set-up mode, and scan "
            "again.",
            detail=detail,
        )
    if result.returncode == 3 or "timeout expired" in lowered:
        return JoinTimedOut(
            f"The PC did not get onto {ssid!r} in time.",
            "Move closer to the light and try again.",
            detail=detail,
        )
    return WifiAdapterError(
        f"nmcli failed (exit code {result.returncode}).",
        "Try again, or join the network by hand.",
        detail=detail,
    )


class NmcliAdapter(WifiAdapter):
    """NetworkManager (Linux). ``interface`` pins the Wi-Fi device (e.g. ``wlp2s0``)."""

    def __init__(
        self,
        runner: CommandRunner | None = None,
        *,
        interface: str | None = None,
        connect_timeout_s: float = 45.0,
    ) -> None:
        super().__init__()
        self.runner: CommandRunner = runner or SubprocessRunner()
        self.interface = interface
        self.connect_timeout_s = connect_timeout_s
        self._previous_uuid: str | None = None
        self._previous_name: str | None = None
        self._temporary_profile: str | None = None

    async def _nmcli(self, *args: str, timeout_s: float = 30.0, ssid: str = "",
                     secrets: tuple[str, ...] = ()) -> CommandResult:
        argv = ("nmcli", *args)
        try:
            result = await self.runner.run(argv, timeout_s=timeout_s)
        except CommandNotFoundError as exc:
            raise AdapterUnavailable(
                "nmcli (NetworkManager) is not installed on this PC.",
                "Join the light's network by hand instead.",
            ) from exc
        except CommandTimeoutError as exc:
            raise JoinTimedOut(
                "NetworkManager did not answer in time.", "Try again in a moment."
            ) from exc
        if result.returncode != 0:
            error = classify_nmcli_error(result, ssid)
            error.detail = redact(error.detail, *secrets)
            raise error
        return result

    async def scan(self) -> list[WifiNetwork]:
        """``nmcli -t -f ... dev wifi list --rescan auto``."""
        args = ["-t", "-f", SCAN_FIELDS, "dev", "wifi", "list", "--rescan", "auto"]
        if self.interface:
            args += ["ifname", self.interface]
        result = await self._nmcli(*args)
        return parse_wifi_list(result.stdout)

    async def current_ssid(self) -> str | None:
        """The SSID of the active Wi-Fi network (``IN-USE`` = ``*``), or None."""
        args = ["-t", "-f", "IN-USE,SSID", "dev", "wifi", "list", "--rescan", "no"]
        if self.interface:
            args += ["ifname", self.interface]
        result = await self._nmcli(*args)
        for line in result.stdout.splitlines():
            fields = split_terse(line)
            if len(fields) == 2 and fields[0].strip() == "*":
                return fields[1] or None
        return None

    async def _active_wifi_connection(self) -> tuple[str, str, str] | None:
        result = await self._nmcli("-t", "-f", "NAME,UUID,TYPE,DEVICE", "con", "show", "--active")
        for line in result.stdout.splitlines():
            fields = split_terse(line)
            if len(fields) != 4:
                continue
            name, uuid, kind, device = fields
            if kind in WIRELESS_TYPES and not name.startswith(PROFILE_PREFIX):
                if self.interface and device != self.interface:
                    continue
                return name, uuid, device
        return None

    async def connect(self, ssid: str, password: str | None = None) -> None:
        """Create a temporary never-default profile for ``ssid`` and bring it up."""
        active = await self._active_wifi_connection()
        if active is not None:
            self._previous_name, self._previous_uuid, device = active
            if not self.interface:
                self.interface = device
        profile = PROFILE_PREFIX + ssid
        # a profile left over from an interrupted run would make "add" create a duplicate
        await self._delete_profile(profile)
        add = [
            "connection", "add", "type", "wifi", "con-name", profile,
            "ifname", self.interface or "*", "ssid", ssid,
            "autoconnect", "no",
            "ipv4.method", "auto", "ipv4.never-default", "yes", "ipv4.ignore-auto-dns", "yes",
            "ipv6.method", "ignore",
        ]
        if password:
            # the secret itself comes from passwd-file at activation, never from argv
            add += ["wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk-flags", "2"]
        await self._nmcli(*add, ssid=ssid)
        self._temporary_profile = profile
        up = ["--wait", str(int(self.connect_timeout_s)), "connection", "up", "id", profile]
        if password:
            with private_temp_file(f"802-11-wireless-security.psk:{password}\n") as path:
                await self._nmcli(*up, "passwd-file", path, timeout_s=self.connect_timeout_s + 15,
                                  ssid=ssid, secrets=(password,))
        else:
            await self._nmcli(*up, timeout_s=self.connect_timeout_s + 15, ssid=ssid)
        self._emit(WifiEvent("connected", ssid))

    async def _delete_profile(self, profile: str) -> None:
        try:
            await self._nmcli("connection", "delete", "id", profile)
        except WifiAdapterError as exc:
            _log.debug("nmcli: no profile %r to delete (%s)", profile, exc.message)

    async def restore_previous(self) -> None:
        """Bring the remembered connection back up and delete the temporary profile."""
        if self._previous_uuid:
            await self._nmcli(
                "--wait", str(int(self.connect_timeout_s)), "connection", "up", "uuid",
                self._previous_uuid, timeout_s=self.connect_timeout_s + 15,
                ssid=self._previous_name or "",
            )
            self._emit(WifiEvent("connected", self._previous_name))
        if self._temporary_profile:
            await self._delete_profile(self._temporary_profile)
            self._temporary_profile = None
        self._previous_uuid = None
