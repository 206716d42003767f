"""Fixtures for the device client tests: an aiohttp session and simulated lights (real firmware)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import Network, WifiWorld
from yarl import URL

HOME_SSID = "DeviceTestNet"
HOME_PASS = "home-wifi-pass-1"
LAN_SECRET = "lan-secret-for-device-tests-0123"


def host_port(url: str | None) -> tuple[str, int]:
    """(host, port) of a simulator RPC URL."""
    assert url is not None, "the light is not serving there"
    parsed = URL(url)
    assert parsed.host is not None and parsed.port is not None
    return parsed.host, parsed.port


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def simulator(tmp_path: Path) -> AsyncIterator[Simulator]:
    world = WifiWorld()
    world.add_network(Network(HOME_SSID, HOME_PASS, band="2.4"))
    sim = Simulator(world, count=1, flash_root=tmp_path / "flash")
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def ap_light(simulator: Simulator) -> SimLight:
    """A new, unconfigured light serving RPC on its access point."""
    light = simulator.lights[0]
    await light.wait_event("ap_started", timeout_s=60, include_past=True)
    assert light.ap_url is not None
    return light


async def pair_on_lan(session: aiohttp.ClientSession, light: SimLight) -> tuple[str, int]:
    """Send Wi-Fi credentials and the LAN secret over the AP; -> the light's LAN (host, port)."""
    from hub_app.device import DeviceClient

    host, port = host_port(light.ap_url)
    client = DeviceClient(session, host, port, password=light.setup_code, timeout=30)
    try:
        await client.config_set(
            {"wifi": {"sta": {"enable": True, "ssid": HOME_SSID, "pass": HOME_PASS}},
             "hub": {"secret": LAN_SECRET}},
            save=True,
        )
        client.set_password(LAN_SECRET)  # hub.secret replaces the setup code at once
        joined = asyncio.ensure_future(light.wait_event("lan_joined", timeout_s=60))
        await client.reboot(delay_ms=0)
    finally:
        await client.close()
    await joined
    return host_port(light.lan_url)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[tuple[str, int]]]]:
    """Start an aiohttp server on an ephemeral loopback port answering /rpc with `handler`."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> tuple[str, int]:
        app = web.Application()
        app.router.add_route("*", "/rpc", handler)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        assert server.port is not None
        return "127.0.0.1", server.port

    yield start
    for server in servers:
        await server.close()


async def eventually(predicate: Callable[[], bool], limit: float = 30) -> None:
    """Poll `predicate` until it holds (TimeoutError after `limit` seconds)."""
    async with asyncio.timeout(limit):
        for _ in itertools.count():
            if predicate():
                return
            await asyncio.sleep(0.01)
