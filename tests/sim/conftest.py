"""Fixtures for whole-light tests: a started simulator with real servers on loopback."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import WifiWorld

from .helpers import HOME_PASS, HOME_SSID, LAN_SECRET, LightRpc


@pytest.fixture
def world() -> WifiWorld:
    return WifiWorld()


@pytest.fixture
async def sim(tmp_path: Path, world: WifiWorld) -> AsyncIterator[Simulator]:
    simulator = Simulator(world, count=1, flash_root=tmp_path / "flash",
                          seed=secrets.token_hex(6), join_delay_s=0.0, reboot_delay_s=0.0)
    await simulator.start()
    await simulator.wait_started(timeout_s=30)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def light(sim: Simulator) -> SimLight:
    return sim.lights[0]


@pytest.fixture
def ap_rpc(session: aiohttp.ClientSession, light: SimLight) -> LightRpc:
    assert light.ap_url is not None
    return LightRpc(session, light.ap_url, light.setup_code)


async def join_lan(light: SimLight, rpc: LightRpc, ssid: str = HOME_SSID,
                   password: str = HOME_PASS, extra: dict[str, Any] | None = None) -> None:
    """Send Wi-Fi credentials and reboot; returns when the light reported lan_joined
    (or raises the lan_failed reason as AssertionError)."""
    config: dict[str, Any] = {"wifi": {"sta": {"enable": True, "ssid": ssid, "pass": password}}}
    if extra:
        config.update(extra)
    await rpc.call("Config.Set", {"config": config, "save": True})
    await rpc.call("Config.Save", {"reboot": True})


async def provision(light: SimLight, session: aiohttp.ClientSession,
                    rpc: LightRpc, extra: dict[str, Any] | None = None,
                    confirm: bool = True) -> LightRpc:
    """AP -> LAN -> paired (hub.secret) -> confirmed. -> a LAN client using the secret."""
    joined = light.wait_event("lan_joined", timeout_s=30)
    await join_lan(light, rpc, extra=extra)
    await joined
    assert light.lan_url is not None
    lan = LightRpc(session, light.lan_url, light.setup_code)
    await lan.call("Config.Set", {"config": {"hub": {"secret": LAN_SECRET}}, "save": True})
    lan = LightRpc(session, light.lan_url, LAN_SECRET)
    if confirm:
        assert await lan.call("Setup.Confirm", {}) == {"confirmed": True}
    return lan
