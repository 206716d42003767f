"""LanDiscovery against a simulated light running the real firmware on the LAN: a one-shot
``resolve()`` by device id, and the liveness check that notices a light whose mDNS records
linger after a power cut (no goodbye packet) and sees it come back."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import WifiWorld

from hub_app.device import DeviceClient
from hub_app.discovery import LanDiscovery
from hub_app.discovery.lan import SHELLY_TYPE, probe_rpc

from .conftest import LOOPBACK, EventLog, unique_device_id

HOME_SSID = "HomeNet"
HOME_PASS = "correct horse battery"
LAN_SECRET = "discovery-test-secret-0123456789"


async def _paired_on_lan(light: SimLight) -> None:
    """AP -> home network -> LAN secret set -> confirmed, as the provisioning flow does."""
    assert light.ap_url is not None
    host, port = light.board.ap_ip, light.board.ap_port
    assert port is not None
    async with aiohttp.ClientSession() as session:
        async with DeviceClient(session, host, port, password=light.setup_code,
                                transport="http", reconnect=False) as ap:
            await ap.call("Config.Set", {"config": {"wifi": {"sta": {
                "enable": True, "ssid": HOME_SSID, "pass": HOME_PASS}}}, "save": True})
            joined = light.wait_event("lan_joined", timeout_s=60)
            await ap.call("Config.Save", {"reboot": True})
        await joined
        lan_ip, lan_port = light.board.lan_ip, light.board.lan_port
        assert lan_ip is not None and lan_port is not None
        async with DeviceClient(session, lan_ip, lan_port, password=light.setup_code,
                                transport="http", reconnect=False) as lan:
            await lan.call("Config.Set", {"config": {"hub": {"secret": LAN_SECRET}},
                                          "save": True})
            lan.set_password(LAN_SECRET)
            assert await lan.call("Setup.Confirm", {}) == {"confirmed": True}


@pytest.fixture
async def lan_light(tmp_path: Path) -> AsyncIterator[SimLight]:
    """One simulated light, paired and on the home network (unique seed: unique device id)."""
    sim = Simulator(WifiWorld(), count=1, flash_root=tmp_path / "flash",
                    seed=secrets.token_hex(6), join_delay_s=0.0, reboot_delay_s=0.0)
    await sim.start()
    try:
        await sim.wait_started(timeout_s=60)
        light = sim.lights[0]
        await light.wait_event("ap_started", timeout_s=60, include_past=True)
        await _paired_on_lan(light)
        yield light
    finally:
        await sim.stop()


async def test_resolve_asks_for_a_light_by_device_id(lan_light: SimLight) -> None:
    # browsing only _shelly: the light can only be found by asking for it by name
    lan = LanDiscovery(interfaces=[LOOPBACK], service_types=(SHELLY_TYPE,),
                       liveness_interval_s=0)
    log = EventLog()
    lan.subscribe(log)
    await lan.start()
    try:
        assert lan_light.device_id not in lan.lights
        found = await lan.resolve(lan_light.device_id.upper(), timeout=15)
        assert found is not None
        assert found.device_id == lan_light.device_id
        assert found.addresses == (lan_light.board.lan_ip,)
        assert found.port == lan_light.board.lan_port
        assert found.paired is True
        assert set(found.service_types) == {"_hublight._tcp.local.", "_http._tcp.local."}
        assert lan.lights[lan_light.device_id] == found
        assert [e.kind for e in log.of(lan_light.device_id)] == ["added"]
        assert await lan.wait_for(lan_light.device_id, timeout=1) == found
        # nobody answers for an id that does not exist
        assert await lan.resolve(unique_device_id(), timeout=1.5) is None
    finally:
        await lan.stop()
    assert await lan.resolve(lan_light.device_id, timeout=1) is None  # stopped: no lookups


async def test_power_cut_light_reported_gone_then_back(lan_light: SimLight) -> None:
    device_id = lan_light.device_id
    lan = LanDiscovery(interfaces=[LOOPBACK], liveness_interval_s=0.5, probe_timeout_s=2.0)
    log = EventLog()
    lan.subscribe(log)
    lan.watch(device_id)
    await lan.start()
    try:
        added = await log.wait(lambda e: e.kind == "added" and e.light.device_id == device_id)
        lan_ip, lan_port = lan_light.board.lan_ip, lan_light.board.lan_port
        assert lan_ip is not None and lan_port is not None
        address = (lan_ip, lan_port)
        assert (added.light.address, added.light.port) == address
        assert await probe_rpc(*address, timeout_s=5)
        assert await lan.check(device_id) is True
        assert await lan.check(unique_device_id()) is None  # never seen: nothing to probe
        assert not [e for e in log.of(device_id) if e.kind == "removed"]

        lan_light.power_cut()  # no goodbye packet: the mDNS records stay in every cache
        removed = await log.wait(lambda e: e.kind == "removed" and e.light.device_id == device_id)
        assert removed.reason == "unreachable"
        assert device_id not in lan.lights
        assert device_id in lan.unreachable
        assert await lan.check(device_id) is False
        assert await lan.resolve(device_id, timeout=1.5) is None  # the stale records are gone
        assert not await probe_rpc(*address, timeout_s=5)

        count = len(log.events)
        await lan_light.power_on()
        await log.wait(lambda _: any(e.kind == "added" and e.light.device_id == device_id
                                     for e in log.events[count:]))
        back = next(e for e in log.events[count:] if e.kind == "added")
        assert (back.light.address, back.light.port) == address
        assert device_id in lan.lights and device_id not in lan.unreachable
        assert await lan.check(device_id) is True
    finally:
        await lan.stop()


async def test_clean_shutdown_is_removed_by_mdns(lan_light: SimLight) -> None:
    device_id = lan_light.device_id
    lan = LanDiscovery(interfaces=[LOOPBACK], liveness_interval_s=0)
    log = EventLog()
    lan.subscribe(log)
    await lan.start()
    try:
        await log.wait(lambda e: e.kind == "added" and e.light.device_id == device_id)
        await lan_light.stop()  # goodbye packets
        removed = await log.wait(lambda e: e.kind == "removed" and e.light.device_id == device_id)
        assert removed.reason == "mdns"
    finally:
        await lan.stop()
