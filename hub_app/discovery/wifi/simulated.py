"""The simulated PC radio, backed by the simulator's ``WifiWorld`` (``hublight_sim.world``).

The simulated PC starts on a home network (``home_ssid``) and "joins" a light's access point;
``ap_endpoint(ssid)`` is then that light's loopback host/port. Like a real PC it falls back to the
previous network when the access point it is on goes away (the light joined the home network or
rebooted). A world running in another process is read from its state file (``state_path``).

The adapter tells a same-process world which network the PC is on (``WifiWorld.pc_ssid``), so
a world with ``model_pc_network`` can make lights on another network unreachable from the PC.

Fault injection for tests: ``fail_next_connect(error)``, ``hang_next_connect()`` (a join that
never completes) and ``drop_off_ap()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from hublight_sim.world import LightAccessPoint, PcScanResult, WifiWorld

from .base import (
    AUTH_OPEN,
    AUTH_WEP,
    AUTH_WPA2_ENTERPRISE,
    AUTH_WPA2_PSK,
    AUTH_WPA2_WPA3_PSK,
    AUTH_WPA3_PSK,
    AUTH_WPA_PSK,
    AUTH_WPA_WPA2_PSK,
    NetworkNotFound,
    WifiAdapter,
    WifiAdapterError,
    WifiEvent,
    WifiNetwork,
    WrongPassword,
)

_log = logging.getLogger(__name__)

_SECURITY_NAMES = {
    AUTH_OPEN: "open",
    AUTH_WEP: "WEP",
    AUTH_WPA_PSK: "WPA-Personal",
    AUTH_WPA2_PSK: "WPA2-Personal",
    AUTH_WPA_WPA2_PSK: "WPA/WPA2-Personal",
    AUTH_WPA2_ENTERPRISE: "WPA2-Enterprise",
    AUTH_WPA3_PSK: "WPA3-Personal",
    AUTH_WPA2_WPA3_PSK: "WPA2/WPA3-Personal",
}


def _five_ghz_bssid(bssid: str) -> str:
    parts = bssid.split(":")
    parts[-1] = f"{(int(parts[-1], 16) ^ 0x01):02x}"
    return ":".join(parts)


def _entries(result: PcScanResult) -> list[WifiNetwork]:
    security = _SECURITY_NAMES.get(result.auth, "unknown")
    first = WifiNetwork(
        ssid=result.ssid,
        bssid=result.bssid,
        signal_dbm=result.rssi,
        band="5" if result.band == "5" else "2.4",
        channel=result.channel,
        security=security,
        auth_code=result.auth,
    )
    if result.band != "dual":
        return [first]
    # a dual-band router shows up as two BSSIDs, one per band, as on a real scan
    second = replace(first, bssid=_five_ghz_bssid(result.bssid), band="5", channel=36,
                     signal_dbm=result.rssi - 4)
    return [first, second]


class SimulatedWifiAdapter(WifiAdapter):
    """A PC radio in the simulated world. Give ``world`` (same process) or ``state_path``."""

    def __init__(
        self,
        world: WifiWorld | None = None,
        *,
        state_path: str | None = None,
        home_ssid: str | None = "HomeNet",
    ) -> None:
        super().__init__()
        if world is None and state_path is None:
            raise ValueError("give a WifiWorld or the state_path of one")
        self._world = world
        self.state_path = state_path
        self._current: str | None = None
        self._previous: str | None = None
        self._fail_next: WifiAdapterError | None = None
        self._hang_next = False
        #: connect() calls that are hanging now (``hang_next_connect``)
        self.hanging_connects = 0
        self._joined_ap: LightAccessPoint | None = None
        self._unsubscribe_world: Callable[[], None] | None = None
        self._last_read: WifiWorld | None = None
        if world is not None:
            self._unsubscribe_world = world.subscribe(self._on_world_change)
        self._set_current(home_ssid)

    def _set_current(self, ssid: str | None) -> None:
        self._current = ssid
        if self._world is not None:
            self._world.pc_ssid = ssid

    async def _read_world(self) -> WifiWorld:
        """The world now (re-read off the loop from the state file of another process)."""
        if self._world is not None:
            return self._world
        assert self.state_path is not None
        self._last_read = await asyncio.to_thread(WifiWorld.read_state, self.state_path)
        return self._last_read

    def close(self) -> None:
        """Stop following the world's access-point changes."""
        if self._unsubscribe_world is not None:
            self._unsubscribe_world()
            self._unsubscribe_world = None

    # --- fault injection ---------------------------------------------------------------------
    def fail_next_connect(self, error: WifiAdapterError | None = None) -> None:
        """Make the next ``connect()`` raise ``error`` (default: a generic join failure)."""
        self._fail_next = error or WifiAdapterError(
            "The simulated PC could not join the network.", "Try again."
        )

    def hang_next_connect(self) -> None:
        """Make the next ``connect()`` never complete (until it is cancelled): a join that
        hangs in the OS."""
        self._hang_next = True

    def drop_off_ap(self) -> None:
        """The PC falls off the light's access point now and goes back to the previous network
        (what an OS does when an AP disappears or "has no internet")."""
        if self._joined_ap is None:
            return
        _log.info("simulated PC: dropped off %s", self._joined_ap.ssid)
        self._joined_ap = None
        self._set_current(self._previous)
        self._emit(WifiEvent("disconnected", self._current))

    def _on_world_change(self, kind: str, ap: LightAccessPoint) -> None:
        if kind == "removed" and self._joined_ap is not None and (
            ap.device_id == self._joined_ap.device_id
        ):
            self.drop_off_ap()

    # --- the adapter -------------------------------------------------------------------------
    async def scan(self) -> list[WifiNetwork]:
        """What the simulated PC sees: home networks on every band plus open light APs."""
        networks: list[WifiNetwork] = []
        for result in (await self._read_world()).scan_for_pc():
            networks.extend(_entries(result))
        return networks

    async def current_ssid(self) -> str | None:
        """The simulated PC's network."""
        if self._joined_ap is not None and self._world is None:
            # another process: notice an access point that closed meanwhile
            world = await self._read_world()
            if world.access_point(self._joined_ap.device_id) is None:
                self.drop_off_ap()
        return self._current

    async def connect(self, ssid: str, password: str | None = None) -> None:
        """Join a light's access point or a home network of the world."""
        if self._fail_next is not None:
            error, self._fail_next = self._fail_next, None
            raise error
        if self._hang_next:
            self._hang_next = False
            self.hanging_connects += 1
            try:
                await asyncio.Event().wait()  # never set: only a cancel ends it
            finally:
                self.hanging_connects -= 1
        world = await self._read_world()
        reason = world.join_result(ssid, password or "", esp32=False)
        if reason == "network_not_found":
            raise NetworkNotFound(
                f"The network {ssid!r} is not in range of this PC.",
                "Make sure the light is in set-up mode and scan again.",
            )
        if reason == "wrong_password":
            raise WrongPassword(
                f"The network {ssid!r} refused the password.", "Check the password and try again."
            )
        if reason is not None:
            raise WifiAdapterError(f"The PC could not join {ssid!r} ({reason}).", "Try again.")
        if self._current != ssid and self._joined_ap is None:
            self._previous = self._current
        self._joined_ap = world.access_point_by_ssid(ssid)
        self._set_current(ssid)
        self._emit(WifiEvent("connected", ssid))

    async def restore_previous(self) -> None:
        """Back to the network the PC was on before joining a light's access point."""
        if self._joined_ap is None and self._previous is None:
            return
        self._joined_ap = None
        previous, self._previous = self._previous, None
        self._set_current(previous)
        self._emit(WifiEvent("connected", self._current))

    def ap_endpoint(self, ssid: str) -> tuple[str, int]:
        """The loopback host/port of the light whose access point is ``ssid`` (for a world in
        another process: as of the last scan / connect)."""
        world = self._world or self._last_read
        ap = world.access_point_by_ssid(ssid) if world is not None else None
        if ap is None:
            raise NetworkNotFound(
                f"No light access point named {ssid!r} is open.",
                "Put the light in set-up mode and scan again.",
            )
        return ap.host, ap.port
