"""Access-point discovery: new lights recognised in the PC's Wi-Fi scans by their SSID.

``ApDiscovery(adapter)`` polls ``adapter.scan()`` and emits ``ApEvent("added" | "removed", ap)``
keyed by SSID for ``HubLight-``, ``Mongoose-OS-Smart-Light-`` and ``shelly…`` networks. A name
alone proves little, so ``confirm(ssid)`` checks that something answers at the access-point
address (TCP connect to ``adapter.ap_endpoint(ssid)``); with a real adapter the PC must have
joined that network first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .wifi.base import WifiAdapter, WifiAdapterError, WifiNetwork, tcp_reachable

_log = logging.getLogger(__name__)

ApKind = Literal["hublight", "mongoose", "shelly"]

_HUBLIGHT = re.compile(r"^HubLight-([0-9A-Fa-f]{6})$")
_MONGOOSE = re.compile(r"^Mongoose-OS-Smart-Light-(\w+)$")
_SHELLY = re.compile(r"^shelly[\w-]*$", re.IGNORECASE)


@dataclass(frozen=True)
class LightAccessPointCandidate:
    """A light's access point seen in a scan. ``device_id`` is derived from the SSID when the
    naming scheme allows (``HubLight-1A2B3C`` -> ``hublight-1a2b3c``)."""

    ssid: str
    kind: ApKind
    device_id: str | None
    network: WifiNetwork


@dataclass(frozen=True)
class ApEvent:
    """``kind`` ("added" / "removed") happened to the access point ``ap``."""

    kind: Literal["added", "removed"]
    ap: LightAccessPointCandidate


def recognise_ssid(ssid: str) -> tuple[ApKind, str | None] | None:
    """(kind, device id or None) when ``ssid`` is a light's set-up network, else None."""
    match = _HUBLIGHT.match(ssid)
    if match:
        return "hublight", "hublight-" + match.group(1).lower()
    if _MONGOOSE.match(ssid):
        return "mongoose", None
    if _SHELLY.match(ssid):
        return "shelly", ssid.lower()
    return None


ApCallback = Callable[[ApEvent], None]


class ApDiscovery:
    """Polls Wi-Fi scans every ``interval_s`` seconds for lights' access points.

    A network missing from ``missing_scans_to_remove`` scans in a row is removed (one scan often
    misses a network). Scan errors are logged and kept in ``last_error``; polling goes on.
    """

    def __init__(self, adapter: WifiAdapter, *, interval_s: float = 5.0,
                 missing_scans_to_remove: int = 2, confirm_timeout_s: float = 3.0) -> None:
        self.adapter = adapter
        self.interval_s = interval_s
        self.missing_scans_to_remove = max(1, missing_scans_to_remove)
        self.confirm_timeout_s = confirm_timeout_s
        self.last_error: WifiAdapterError | None = None
        self._seen: dict[str, LightAccessPointCandidate] = {}
        self._missing: dict[str, int] = {}
        self._subscribers: list[ApCallback] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def access_points(self) -> dict[str, LightAccessPointCandidate]:
        """The lights' access points seen now, by SSID (a copy)."""
        return dict(self._seen)

    def subscribe(self, callback: ApCallback) -> Callable[[], None]:
        """Call ``callback(ApEvent)`` for every event. -> unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    async def start(self) -> None:
        """Start polling."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def scan_once(self) -> list[ApEvent]:
        """Scan now, update the list and emit (and return) the events."""
        try:
            networks = await self.adapter.scan()
        except WifiAdapterError as exc:
            self.last_error = exc
            _log.warning("Wi-Fi scan failed: %s", exc.message)
            return []
        self.last_error = None
        found: dict[str, LightAccessPointCandidate] = {}
        for network in networks:
            recognised = recognise_ssid(network.ssid)
            if recognised is None:
                continue
            kind, device_id = recognised
            known = found.get(network.ssid)
            # several BSSIDs with one SSID: keep the strongest
            if known is None or _strength(network) > _strength(known.network):
                found[network.ssid] = LightAccessPointCandidate(
                    network.ssid, kind, device_id, network
                )
        events: list[ApEvent] = []
        for ssid, candidate in found.items():
            self._missing.pop(ssid, None)
            if ssid not in self._seen:
                events.append(ApEvent("added", candidate))
            self._seen[ssid] = candidate
        for ssid in list(self._seen):
            if ssid in found:
                continue
            self._missing[ssid] = self._missing.get(ssid, 0) + 1
            if self._missing[ssid] >= self.missing_scans_to_remove:
                del self._missing[ssid]
                events.append(ApEvent("removed", self._seen.pop(ssid)))
        for event in events:
            self._emit(event)
        return events

    async def confirm(self, ssid: str) -> bool:
        """Whether a light answers at the access-point address of ``ssid`` (TCP connect)."""
        try:
            host, port = self.adapter.ap_endpoint(ssid)
        except WifiAdapterError as exc:
            _log.info("cannot confirm %s: %s", ssid, exc.message)
            return False
        return await tcp_reachable(host, port, timeout_s=self.confirm_timeout_s)

    async def _poll(self) -> None:
        while True:
            await self.scan_once()
            await asyncio.sleep(self.interval_s)

    def _emit(self, event: ApEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                _log.exception("access-point discovery subscriber failed")


def _strength(network: WifiNetwork) -> float:
    if network.signal_dbm is not None:
        return network.signal_dbm
    if network.signal_percent is not None:
        return network.signal_percent / 2 - 100
    return -1000
