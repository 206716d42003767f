"""Example scenarios written with Home Hub's tester kit (pytest plugin `home_hub`).

Run: `pip install 'home-hub[ui,testing]'` then `pytest test_example_scenario.py`.
Every light here runs the real HubLight firmware in this process; the broker is the hub's own.
"""

import pytest

from hub_app.broker_client import Availability
from hub_app.testing.scenario import provision, wait_until

pytestmark = pytest.mark.asyncio


async def test_set_up_a_light_and_switch_it_on(sim_lights, embedded_broker):
    light = (await sim_lights(1))[0]

    await provision(light, embedded_broker)
    state = await embedded_broker.set_light(light.device_id, on=True, brightness=80,
                                            transition_ms=0)

    assert state.on and state.brightness == 80
    assert light.light_status["on"] is True  # what the firmware itself reports
    await wait_until(lambda: any(pixel != (0, 0, 0) for pixel in light.pixels),
                     what="the LED strip to light up")


async def test_a_light_going_offline(sim_lights, embedded_broker):
    kitchen, hall = await sim_lights(2)
    await provision(kitchen, embedded_broker)
    await provision(hall, embedded_broker)

    kitchen.power_cut()  # pulled from the wall: no goodbye, the broker sends its Last Will

    await wait_until(lambda: embedded_broker.availability(kitchen.device_id)
                     is Availability.OFFLINE, what="the kitchen light to go offline")
    assert embedded_broker.availability(hall.device_id) is Availability.ONLINE
    with pytest.raises(Exception, match="offline"):
        await embedded_broker.set_light(kitchen.device_id, on=True)

    await kitchen.power_on()  # back on the wall: it rejoins the network and the broker
    await wait_until(lambda: embedded_broker.availability(kitchen.device_id)
                     is Availability.ONLINE, what="the kitchen light to come back")
    assert (await embedded_broker.set_light(kitchen.device_id, on=True)).on
