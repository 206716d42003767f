"""ManualAdapter against a real TCP listener; SimulatedWifiAdapter and ApDiscovery against the
simulator's real WifiWorld."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from hublight_sim.world import LightAccessPoint, WifiWorld

from hub_app.discovery import ApDiscovery, ApEvent, recognise_ssid
from hub_app.discovery.wifi import (
    JoinTimedOut,
    ManualAdapter,
    NetworkNotFound,
    SimulatedWifiAdapter,
    WifiAdapterError,
    WifiEvent,
    WrongPassword,
)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[str, int]]:
    """A real TCP server on loopback, standing in for a light's RPC port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    server.close()
    await server.wait_closed()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_manual_adapter_asks_the_user_and_continues_once_the_light_answers() -> None:
    port = free_port()
    prompts: list[WifiEvent] = []
    asked = asyncio.Event()

    def prompt(event: WifiEvent) -> None:
        prompts.append(event)
        asked.set()

    adapter = ManualAdapter(prompt, endpoint=("127.0.0.1", port), poll_interval_s=0.05)
    join = asyncio.create_task(adapter.connect("HubLight-1A2B3C"))
    await asyncio.wait_for(asked.wait(), 30)
    assert prompts[0].kind == "join_requested"
    assert prompts[0].message.startswith("Join the network HubLight-1A2B3C in your Wi-Fi menu")
    assert not join.done()
    # the user joins: the light's port starts answering
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    try:
        await asyncio.wait_for(join, 30)
    finally:
        server.close()
        await server.wait_closed()
    assert await adapter.current_ssid() == "HubLight-1A2B3C"
    await adapter.restore_previous()
    assert prompts[-1].kind == "return_requested"


async def test_manual_adapter_times_out_and_can_be_cancelled() -> None:
    adapter = ManualAdapter(endpoint=("127.0.0.1", free_port()), join_timeout_s=0.2,
                            poll_interval_s=0.05)
    with pytest.raises(JoinTimedOut) as caught:
        await adapter.connect("HubLight-1A2B3C")
    assert "HubLight-1A2B3C" in caught.value.next_step
    slow = ManualAdapter(endpoint=("127.0.0.1", free_port()), poll_interval_s=0.05)
    task = asyncio.create_task(slow.connect("HubLight-1A2B3C"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def open_light_ap(world: WifiWorld, suffix: str, host: str, port: int) -> LightAccessPoint:
    ap = LightAccessPoint(f"HubLight-{suffix.upper()}", f"hublight-{suffix.lower()}", host, port)
    world.open_access_point(ap)
    return ap


async def test_simulated_adapter_joins_a_light_ap_and_returns_home(
    listener: tuple[str, int],
) -> None:
    world = WifiWorld()
    ap = open_light_ap(world, "1a2b3c", *listener)
    adapter = SimulatedWifiAdapter(world)
    networks = await adapter.scan()
    light = [n for n in networks if n.ssid == ap.ssid]
    assert light and light[0].auth_code == 0 and light[0].band == "2.4"
    assert {n.band for n in networks if n.ssid == "HomeNet"} == {"2.4", "5"}
    assert [n.band for n in networks if n.ssid == "FastLane-5G"] == ["5"]
    assert not any(n.ssid == "HiddenNet" for n in networks)

    assert await adapter.current_ssid() == "HomeNet"
    await adapter.connect(ap.ssid)
    assert await adapter.current_ssid() == ap.ssid
    assert adapter.ap_endpoint(ap.ssid) == listener
    assert await ApDiscovery(adapter).confirm(ap.ssid)
    await adapter.restore_previous()
    assert await adapter.current_ssid() == "HomeNet"

    with pytest.raises(WrongPassword):
        await adapter.connect("HomeNet", "not the password")
    with pytest.raises(NetworkNotFound):
        await adapter.connect("HubLight-FFFFFF")
    await adapter.connect("HiddenNet", "hidden-pass")  # hidden networks join by name
    adapter.close()


async def test_simulated_adapter_fault_injection_and_ap_closing(
    listener: tuple[str, int],
) -> None:
    world = WifiWorld()
    ap = open_light_ap(world, "abcdef", *listener)
    adapter = SimulatedWifiAdapter(world)
    events: list[WifiEvent] = []
    adapter.subscribe(events.append)

    adapter.fail_next_connect()
    with pytest.raises(WifiAdapterError):
        await adapter.connect(ap.ssid)
    await adapter.connect(ap.ssid)  # only once

    adapter.drop_off_ap()
    assert await adapter.current_ssid() == "HomeNet"
    assert events[-1].kind == "disconnected"
    await adapter.connect(ap.ssid)  # rejoin and carry on

    world.close_access_point(ap.device_id)  # the light joined the home network
    assert await adapter.current_ssid() == "HomeNet"
    with pytest.raises(NetworkNotFound):
        adapter.ap_endpoint(ap.ssid)
    adapter.close()


async def test_simulated_adapter_reads_a_world_of_another_process(
    tmp_path: object, listener: tuple[str, int],
) -> None:
    path = f"{tmp_path}/world.json"
    world = WifiWorld(state_path=path)
    ap = open_light_ap(world, "0a0b0c", *listener)
    adapter = SimulatedWifiAdapter(state_path=path)
    assert any(n.ssid == ap.ssid for n in await adapter.scan())
    await adapter.connect(ap.ssid)
    assert adapter.ap_endpoint(ap.ssid) == listener
    world.close_access_point(ap.device_id)
    assert await adapter.current_ssid() == "HomeNet"


def test_recognise_ssid() -> None:
    assert recognise_ssid("HubLight-1A2B3C") == ("hublight", "hublight-1a2b3c")
    assert recognise_ssid("Mongoose-OS-Smart-Light-A1B2C3") == ("mongoose", None)
    assert recognise_ssid("ShellyPlus1-A8032AB12345") == ("shelly", "shellyplus1-a8032ab12345")
    assert recognise_ssid("HomeNet") is None
    assert recognise_ssid("HubLight-XYZ") is None
    assert recognise_ssid("") is None


async def test_ap_discovery_adds_and_removes_by_ssid(listener: tuple[str, int]) -> None:
    world = WifiWorld()
    adapter = SimulatedWifiAdapter(world)
    discovery = ApDiscovery(adapter, interval_s=0.05, missing_scans_to_remove=1)
    events: list[ApEvent] = []
    removed = asyncio.Event()

    def on_event(event: ApEvent) -> None:
        events.append(event)
        if event.kind == "removed":
            removed.set()

    discovery.subscribe(on_event)
    assert await discovery.scan_once() == []

    ap = open_light_ap(world, "123abc", *listener)
    added = await discovery.scan_once()
    assert [(e.kind, e.ap.ssid, e.ap.device_id) for e in added] == [
        ("added", ap.ssid, "hublight-123abc")]
    assert await discovery.scan_once() == []  # no repeat
    assert await discovery.confirm(ap.ssid)
    assert not await discovery.confirm("HubLight-000000")

    await discovery.start()
    world.close_access_point(ap.device_id)

    await asyncio.wait_for(removed.wait(), 30)
    await discovery.stop()
    assert discovery.access_points == {}
    adapter.close()


async def test_ap_discovery_keeps_polling_after_a_scan_error() -> None:
    world = WifiWorld()

    class Flaky(SimulatedWifiAdapter):
        failures = 1

        async def scan(self):  # type: ignore[no-untyped-def]
            if self.failures:
                self.failures -= 1
                raise WifiAdapterError("radio busy", "try again")
            return await super().scan()

    adapter = Flaky(world)
    discovery = ApDiscovery(adapter)
    assert await discovery.scan_once() == []
    assert discovery.last_error is not None
    world.open_access_point(LightAccessPoint("shellyplus1-a1", "shellyplus1-a1", "127.0.0.1", 9))
    assert [e.ap.kind for e in await discovery.scan_once()] == ["shelly"]
    assert discovery.last_error is None
