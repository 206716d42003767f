"""Backends against the real firmware (simulated lights from firmware/hublight_sim)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hublight.app import STATE_SAVE_INTERVAL_MS

from hub_app.broker_client import (
    Availability,
    CommandError,
    ConnectionKind,
    EmbeddedBackend,
    MqttBackend,
    MqttConfig,
)
from hub_app.testing.mosquitto import MosquittoBroker

from .helpers import wait_for
from .simlights import configure, make_simulator

pytestmark = pytest.mark.slow


async def test_embedded_round_trips_and_last_will_with_the_firmware(
    embedded: EmbeddedBackend, tmp_path: Path
) -> None:
    sim = make_simulator(tmp_path, 2, seed="backends-embedded")
    configs = {light.device_id: await embedded.pair_light(light.device_id) for light in sim.lights}
    configure(sim, lambda device_id: configs[device_id], keepalive=2)
    await sim.start()
    try:
        ids = [light.device_id for light in sim.lights]
        await wait_for(
            lambda: all(embedded.availability(d) is Availability.ONLINE for d in ids),
            what="both lights online",
        )
        await wait_for(lambda: all(embedded.twin(d).reported is not None for d in ids))
        for device_id in ids:
            before = embedded.twin(device_id).reported
            assert before is not None
            state = await embedded.set_light(device_id, on=True, brightness=42, rgb=(0, 128, 255))
            assert (state.on, state.brightness, state.rgb) == (True, 42, (0, 128, 255))
            assert state.rev > before.rev
            assert sim.light(device_id).app.light.status()["brightness"] == 42
            info = await embedded.rpc(device_id, "Sys.GetInfo")
            assert info["id"] == device_id and info["mqtt"]["connected"] is True
        # Slider: coalesced, the final value wins, every caller gets a confirmed state.
        results = await asyncio.gather(
            *(embedded.set_light(ids[0], brightness=b) for b in range(10, 30))
        )
        assert results[-1].brightness == 29
        # Power cut: offline through the Last Will; back: online and controllable. (First let
        # the firmware's debounced state save run, so that it can restore brightness 29.)
        await asyncio.sleep(STATE_SAVE_INTERVAL_MS / 1000 + 1.0)
        sim.lights[0].power_cut()
        await wait_for(
            lambda: embedded.availability(ids[0]) is Availability.OFFLINE,
            what="offline after the power cut",
        )
        with pytest.raises(CommandError) as err:
            await embedded.set_light(ids[0], on=False)
        assert err.value.reason == "offline"
        assert embedded.availability(ids[1]) is Availability.ONLINE
        await sim.lights[0].power_on()
        await wait_for(lambda: embedded.availability(ids[0]) is Availability.ONLINE, what="back")
        state = await embedded.set_light(ids[0], on=False)
        assert state.on is False
        # The light restored its last state after the power cut (brightness 29).
        assert state.brightness == 29
    finally:
        await sim.stop()


async def test_mosquitto_broker_restart_with_the_firmware(
    mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> None:
    broker = mosquitto_factory(persistence=True)
    sim = make_simulator(tmp_path, 1, seed="backends-mosquitto")
    configure(
        sim, lambda device_id: {"mqtt.enable": True, "mqtt.server": f"{broker.host}:{broker.port}"}
    )
    await sim.start()
    backend = MqttBackend(
        MqttConfig(host=broker.host, port=broker.port, reconnect_max=1.0), command_timeout=20.0
    )
    device_id = sim.lights[0].device_id
    try:
        async with backend:
            backend.add_light(device_id)
            await wait_for(lambda: backend.availability(device_id) is Availability.ONLINE)
            outcomes: list[Any] = []

            async def command(n: int) -> None:
                try:
                    outcomes.append(await backend.set_light(device_id, brightness=n))
                except CommandError as err:
                    outcomes.append(err)

            tasks = []
            for n in range(1, 41):
                tasks.append(asyncio.create_task(command(n)))
                if n == 15:
                    await broker.arestart()
                await asyncio.sleep(0.05)
            await asyncio.gather(*tasks)
            assert len(outcomes) == 40
            assert all(
                not isinstance(o, CommandError)
                or o.reason in ("disconnected", "timeout", "offline")
                for o in outcomes
            )
            await wait_for(lambda: backend.connection.kind is ConnectionKind.CONNECTED)
            await wait_for(lambda: backend.availability(device_id) is Availability.ONLINE)
            final = await backend.set_light(device_id, brightness=77)
            assert final.brightness == 77
            firmware = sim.lights[0].app.light.status()
            reported = backend.twin(device_id).reported
            assert reported is not None and reported.rev == firmware["rev"]
            assert not backend.twin(device_id).pending
    finally:
        await sim.stop()
