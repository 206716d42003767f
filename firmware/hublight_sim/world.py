"""The simulated Wi-Fi world: which networks exist, and which lights have their access point open.

One ``WifiWorld`` is shared by every simulated light (``SimBoard``) and, in the hub, by the
``SimulatedWifiAdapter``. It answers two questions:

* what does a radio see when it scans (``scan_for_light()`` for the ESP32's 2.4 GHz radio,
  ``scan_for_pc()`` for the PC, which also sees 5 GHz networks and the lights' open APs), and
* what happens when someone joins a network with a password (``join_result()``), and
* whether the PC can reach a light on the network it joined (``pc_reaches()``): never on a
  network with ``client_isolation``; with ``model_pc_network`` set, only while the PC
  (``pc_ssid``, kept up to date by the hub's ``SimulatedWifiAdapter``) is on that same network.

Lights register their access point (``LightAccessPoint``: SSID, device id and the loopback
host/port where its RPC server listens) while it is open. Observers call ``subscribe(cb)``.
With ``state_path`` set, the world writes its state atomically to a JSON file after every change,
so a hub in another process can read the open access points with ``WifiWorld.read_state(path)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

_log = logging.getLogger(__name__)

BANDS = ("2.4", "5", "dual")

# auth codes of Wifi.Scan (protocol.md)
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4
AUTH_WPA2_ENTERPRISE = 5
AUTH_WPA3_PSK = 6
AUTH_WPA2_WPA3_PSK = 7

#: auth modes the ESP32 (and so a HubLight) cannot join
UNSUPPORTED_BY_LIGHT = frozenset({AUTH_WPA2_ENTERPRISE, AUTH_WPA3_PSK})

#: the signal strength a PC next to the light sees for the light's access point
LIGHT_AP_RSSI = -42


def _bssid_for(ssid: str) -> str:
    digest = hashlib.sha256(("bssid:" + ssid).encode()).digest()
    first = (digest[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in bytes([first]) + digest[1:6])


@dataclass
class Network:
    """A home network of the world.

    ``band`` is "2.4", "5" or "dual"; ``auth`` is the Wifi.Scan auth code; a ``hidden`` network is
    not in scans but can be joined by name; with ``dhcp=False`` a join authenticates but never gets
    an address (reason ``no_ip``); with ``client_isolation`` (guest networks, "AP isolation")
    devices on it cannot reach each other: a light joins but the PC never reaches it.
    """

    ssid: str
    password: str = ""
    band: str = "dual"
    auth: int = AUTH_WPA2_PSK
    rssi: int = -55
    channel: int = 0
    bssid: str = ""
    hidden: bool = False
    dhcp: bool = True
    client_isolation: bool = False

    def __post_init__(self) -> None:
        if self.band not in BANDS:
            raise ValueError(f"band must be one of {BANDS}: {self.band!r}")
        if not 0 <= self.auth <= 7:
            raise ValueError(f"auth must be 0..7: {self.auth!r}")
        if not self.ssid or len(self.ssid.encode()) > 32:
            raise ValueError(f"ssid must be 1..32 bytes: {self.ssid!r}")
        if not self.channel:
            self.channel = 36 if self.band == "5" else 6
        if not self.bssid:
            self.bssid = _bssid_for(self.ssid)

    @property
    def on_24ghz(self) -> bool:
        """Whether the network has a 2.4 GHz radio (the only band an ESP32 sees)."""
        return self.band in ("2.4", "dual")

    def scan_entry(self) -> dict[str, Any]:
        """The Wifi.Scan form: {ssid, bssid, auth, channel, rssi}."""
        return {
            "ssid": self.ssid,
            "bssid": self.bssid,
            "auth": self.auth,
            "channel": self.channel,
            "rssi": self.rssi,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Network:
        """Build from a world-file entry (unknown keys are an error)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown network keys: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_flag(cls, flag: str) -> Network:
        """Parse ``SSID:PASS[:band[:rssi]]`` (``\\:`` is a literal colon in SSID or password)."""
        parts: list[str] = []
        current = ""
        escaped = False
        for char in flag:
            if escaped:
                current += char
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == ":":
                parts.append(current)
                current = ""
            else:
                current += char
        parts.append(current)
        if len(parts) < 1 or len(parts) > 4 or not parts[0]:
            raise ValueError(f"expected SSID:PASS[:band[:rssi]]: {flag!r}")
        ssid = parts[0]
        password = parts[1] if len(parts) > 1 else ""
        band = parts[2] if len(parts) > 2 and parts[2] else "dual"
        rssi = int(parts[3]) if len(parts) > 3 and parts[3] else -55
        auth = AUTH_WPA2_PSK if password else AUTH_OPEN
        return cls(ssid=ssid, password=password, band=band, rssi=rssi, auth=auth)


@dataclass(frozen=True)
class LightAccessPoint:
    """A light's open access point: connect to ``ssid`` and the RPC server is at host:port."""

    ssid: str
    device_id: str
    host: str
    port: int
    bssid: str = ""

    @property
    def rpc_url(self) -> str:
        """``http://host:port/rpc``."""
        return f"http://{self.host}:{self.port}/rpc"


@dataclass(frozen=True)
class PcScanResult:
    """One entry of what the PC sees: a home network or a light's access point."""

    ssid: str
    bssid: str
    auth: int
    channel: int
    rssi: int
    band: str
    light_ap: LightAccessPoint | None = None


def default_networks() -> list[Network]:
    """The world used when no networks are given: a mix of every case the set-up must handle."""
    return [
        Network("HomeNet", "correct horse battery", band="dual", rssi=-48, channel=6),
        Network("FastLane-5G", "fastlane-pass", band="5", rssi=-52, channel=36),
        Network("Secure3", "wpa3-only-pass", band="dual", auth=AUTH_WPA3_PSK, rssi=-60,
                channel=11),
        Network("HiddenNet", "hidden-pass", band="2.4", rssi=-58, channel=1, hidden=True),
        Network("Café & Bar's \"Wi-Fi\"", "p@ss w=rd+&'\"",
                band="2.4", auth=AUTH_WPA_WPA2_PSK, rssi=-71, channel=3),
        Network("NoDHCP", "no-dhcp-pass", band="2.4", rssi=-66, channel=9, dhcp=False),
        Network("Office-Enterprise", "", band="dual", auth=AUTH_WPA2_ENTERPRISE, rssi=-75,
                channel=1),
        Network("GuestOpen", "", band="2.4", auth=AUTH_OPEN, rssi=-80, channel=11),
    ]


Subscriber = Callable[[str, LightAccessPoint], None]


@dataclass
class WifiWorld:
    """Networks and open light access points, shared by lights and the hub's simulated adapter.

    ``subscribe(cb)`` calls ``cb(kind, ap)`` with kind "added", "changed" or "removed" whenever a
    light's access point appears, moves or disappears; it returns an unsubscribe function.

    ``model_pc_network``: when set, a light on a home network is reachable from the PC only while
    ``pc_ssid`` (the PC's network) is that network (off by default: every light is reachable).
    """

    networks: list[Network] = field(default_factory=default_networks)
    state_path: str | None = None
    model_pc_network: bool = False
    pc_ssid: str | None = None
    _aps: dict[str, LightAccessPoint] = field(default_factory=dict, repr=False)
    _subscribers: list[Subscriber] = field(default_factory=list, repr=False)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str, state_path: str | None = None) -> WifiWorld:
        """Load a world file: ``{"networks": [{"ssid": .., "password": .., "band": ..}, ...]}``."""
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or not isinstance(data.get("networks"), list):
            raise ValueError(f"{path}: expected an object with a 'networks' list")
        return cls(networks=[Network.from_dict(n) for n in data["networks"]],
                   state_path=state_path)

    @classmethod
    def from_flags(cls, flags: Iterable[str], state_path: str | None = None) -> WifiWorld:
        """Build from ``SSID:PASS[:band[:rssi]]`` flags."""
        return cls(networks=[Network.from_flag(f) for f in flags], state_path=state_path)

    @classmethod
    def read_state(cls, path: str) -> WifiWorld:
        """A read-only snapshot of a world written by another process (see ``state_path``)."""
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        world = cls(networks=[Network.from_dict(n) for n in data.get("networks", [])])
        for ap in data.get("access_points", []):
            light_ap = LightAccessPoint(**ap)
            world._aps[light_ap.device_id] = light_ap
        return world

    # --- networks -----------------------------------------------------------------------
    def network(self, ssid: str) -> Network | None:
        """The network with exactly this SSID, or None."""
        for net in self.networks:
            if net.ssid == ssid:
                return net
        return None

    def add_network(self, network: Network) -> None:
        """Add (or replace, by SSID) a network."""
        self.networks = [n for n in self.networks if n.ssid != network.ssid] + [network]
        self._changed()

    def remove_network(self, ssid: str) -> None:
        """Switch a network off (lights on it stay joined until they reconnect)."""
        self.networks = [n for n in self.networks if n.ssid != ssid]
        self._changed()

    def scan_for_light(self) -> list[dict[str, Any]]:
        """What an ESP32 sees: 2.4 GHz and dual-band networks that are not hidden, strongest
        first, in the Wifi.Scan form."""
        seen = [n for n in self.networks if n.on_24ghz and not n.hidden]
        seen.sort(key=lambda n: n.rssi, reverse=True)
        return [n.scan_entry() for n in seen]

    def scan_for_pc(self) -> list[PcScanResult]:
        """What a PC sees: every band (not hidden networks), plus the lights' open APs."""
        results = [
            PcScanResult(n.ssid, n.bssid, n.auth, n.channel, n.rssi, n.band)
            for n in self.networks
            if not n.hidden
        ]
        for ap in self._aps.values():
            results.append(PcScanResult(ap.ssid, ap.bssid, AUTH_OPEN, 6, LIGHT_AP_RSSI, "2.4", ap))
        results.sort(key=lambda r: r.rssi, reverse=True)
        return results

    def join_result(self, ssid: str, password: str, *, esp32: bool = True) -> str | None:
        """None if joining ``ssid`` with ``password`` works, else the reason:
        "network_not_found" (unknown, or 5 GHz-only for an ESP32), "unsupported_network"
        (WPA3-only or Enterprise for an ESP32), "wrong_password" or "no_ip" (no DHCP)."""
        net = self.network(ssid)
        if net is None:
            ap = self.access_point_by_ssid(ssid)
            if ap is not None and not esp32:
                return None
            return "network_not_found"
        if esp32 and not net.on_24ghz:
            return "network_not_found"
        if esp32 and net.auth in UNSUPPORTED_BY_LIGHT:
            return "unsupported_network"
        if net.auth != AUTH_OPEN and net.auth != AUTH_WPA2_ENTERPRISE and password != net.password:
            return "wrong_password"
        if not net.dhcp:
            return "no_ip"
        return None

    def pc_reaches(self, light_ssid: str) -> bool:
        """Whether the PC can reach a light joined to ``light_ssid`` (its LAN server and its
        mDNS answers): not through a network with ``client_isolation``; with
        ``model_pc_network`` only while the PC is on that network too."""
        net = self.network(light_ssid)
        if net is not None and net.client_isolation:
            return False
        return not self.model_pc_network or self.pc_ssid == light_ssid

    # --- lights' access points ----------------------------------------------------------
    def access_points(self) -> list[LightAccessPoint]:
        """The lights' access points that are open now."""
        return list(self._aps.values())

    def access_point(self, device_id: str) -> LightAccessPoint | None:
        """The open access point of this light, or None."""
        return self._aps.get(device_id)

    def access_point_by_ssid(self, ssid: str) -> LightAccessPoint | None:
        """The open light access point with this SSID, or None."""
        for ap in self._aps.values():
            if ap.ssid == ssid:
                return ap
        return None

    def open_access_point(self, ap: LightAccessPoint) -> None:
        """Called by a light when its access point (and its RPC server on it) is up."""
        previous = self._aps.get(ap.device_id)
        if previous == ap:
            return
        self._aps[ap.device_id] = ap
        self._changed()
        self._notify("added" if previous is None else "changed", ap)

    def close_access_point(self, device_id: str) -> None:
        """Called by a light when its access point goes down (AP off, reboot, power cut)."""
        ap = self._aps.pop(device_id, None)
        if ap is not None:
            self._changed()
            self._notify("removed", ap)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(kind, ap)`` on every access-point change. -> unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # --- state file ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Networks and open access points as JSON-ready data."""
        return {
            "networks": [asdict(n) for n in self.networks],
            "access_points": [asdict(ap) for ap in self._aps.values()],
        }

    def write_state(self, path: str) -> None:
        """Write ``to_dict()`` atomically (temporary file, then rename)."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".world-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_dict(), handle, ensure_ascii=False, indent=1)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _changed(self) -> None:
        if self.state_path:
            self.write_state(self.state_path)

    def _notify(self, kind: str, ap: LightAccessPoint) -> None:
        for callback in list(self._subscribers):
            try:
                callback(kind, ap)
            except Exception:  # a broken observer must not break the lights
                _log.exception("WifiWorld subscriber failed")
