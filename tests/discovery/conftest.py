"""Discovery tests: real mDNS on loopback with python-zeroconf (unique names per test: port 5353
is shared with other test suites running in parallel)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from hub_app.discovery import DiscoveryEvent, LanDiscovery

LOOPBACK = "127.0.0.1"


def unique_device_id(prefix: str = "hublight-") -> str:
    """A device id no other test run uses."""
    return prefix + secrets.token_hex(3)


def light_info(
    device_id: str,
    service_type: str = "_hublight._tcp.local.",
    *,
    addresses: list[str] | None = None,
    port: int = 8080,
    properties: dict[str | bytes, str | bytes | None] | None = None,
    instance: str | None = None,
) -> ServiceInfo:
    """A HubLight-style service (protocol.md DNS-SD section) for ``device_id``."""
    if properties is None:
        properties = {
            "id": device_id, "fw_id": "20261122-120000", "arch": "sim", "model": "HL-S1",
            "fw_version": "1.0.0", "app": "HubLight", "paired": "0",
        }
    return ServiceInfo(
        service_type,
        f"{instance or device_id}.{service_type}",
        port=port,
        properties=properties,
        server=f"{device_id}.local.",
        parsed_addresses=addresses or [LOOPBACK],
    )


class EventLog:
    """Collects discovery events for our own device ids and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[DiscoveryEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: DiscoveryEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, device_id: str) -> list[DiscoveryEvent]:
        return [e for e in self.events if e.light.device_id == device_id]

    async def wait(self, predicate: Callable[[DiscoveryEvent], bool],
                   timeout_s: float = 30.0) -> DiscoveryEvent:
        async def find() -> DiscoveryEvent:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout_s)


@pytest.fixture
async def announcer() -> AsyncIterator[AsyncZeroconf]:
    """A separate python-zeroconf instance that plays the lights."""
    zc = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    yield zc
    await zc.async_unregister_all_services()
    await zc.async_close()


@pytest.fixture
async def discovery() -> AsyncIterator[tuple[LanDiscovery, EventLog]]:
    """LanDiscovery on loopback with an event log subscribed."""
    lan = LanDiscovery(interfaces=[LOOPBACK])
    log = EventLog()
    lan.subscribe(log)
    await lan.start()
    yield lan, log
    await lan.stop()
