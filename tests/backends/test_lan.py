"""LanBackend against the real firmware (simulated lights) over HTTP/WebSocket, no broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from hublight_sim.runner import Simulator

from hub_app.broker_client import Availability, CommandError, RpcError
from hub_app.broker_client.lan import LanBackend

from .helpers import wait_for
from .simlights import configure, make_simulator

pytestmark = pytest.mark.slow

SECRET = "lan-secret-0123456789abcdef"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Simulator]:
    simulator = make_simulator(tmp_path, 1, seed="backends-lan")
    configure(simulator, lambda device_id: {"mqtt.enable": False})
    await simulator.start()
    await wait_for(lambda: simulator.lights[0].lan_url is not None, what="the light on the LAN")
    yield simulator
    await simulator.stop()


async def test_lan_round_trip_availability_and_notifications(sim: Simulator) -> None:
    light = sim.lights[0]
    url = urlsplit(light.lan_url or "")
    async with aiohttp.ClientSession() as session:
        backend = LanBackend(session, command_timeout=15.0)
        backend.add_light(light.device_id, host=url.hostname, port=url.port, password=SECRET)
        async with backend:
            await wait_for(lambda: backend.availability(light.device_id) is Availability.ONLINE)
            await wait_for(lambda: backend.twin(light.device_id).reported is not None)
            state = await backend.set_light(light.device_id, on=True, brightness=37)
            assert (state.on, state.brightness) == (True, 37)
            assert light.app.light.status()["rev"] == state.rev
            # A change on the light itself arrives as NotifyStatus.
            light.app.light.apply({"brightness": 12}, "button")
            await wait_for(lambda: backend.twin(light.device_id).reported.brightness == 12)
            # Coalescing works here too.
            results = await asyncio.gather(
                *(backend.set_light(light.device_id, brightness=b) for b in range(40, 60))
            )
            assert results[-1].brightness == 59
            with pytest.raises(RpcError) as err:
                await backend.rpc(light.device_id, "Light.Set", {"brightness": 1000})
            assert err.value.code == 400
            # Power cut: the WebSocket drops -> offline; back -> online and reconciled.
            await asyncio.sleep(2.0)  # let the firmware save its state (debounced)
            light.power_cut()
            await wait_for(lambda: backend.availability(light.device_id) is Availability.OFFLINE)
            with pytest.raises(CommandError) as cmd_err:
                await backend.set_light(light.device_id, on=False)
            assert cmd_err.value.reason == "offline"
            await light.power_on()
            await wait_for(
                lambda: backend.availability(light.device_id) is Availability.ONLINE,
                what="back online",
            )
            assert (await backend.set_light(light.device_id, on=False)).on is False


async def test_lan_wrong_secret_is_rejected(sim: Simulator) -> None:
    light = sim.lights[0]
    url = urlsplit(light.lan_url or "")
    async with aiohttp.ClientSession() as session:
        backend = LanBackend(session, command_timeout=10.0)
        backend.add_light(
            light.device_id, host=url.hostname, port=url.port, password="not-the-secret-000000"
        )
        async with backend:
            await wait_for(lambda: backend.availability(light.device_id) is Availability.ONLINE)
            with pytest.raises(CommandError) as err:
                await backend.set_light(light.device_id, on=True)
            assert err.value.reason == "rejected" and err.value.code == 401
            assert "not-the-secret" not in str(err.value)
