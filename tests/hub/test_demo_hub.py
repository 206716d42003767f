"""The hub against simulated lights: lights appear with their state, control is confirmed."""

from __future__ import annotations

from hub_app.hub import Hub

from .conftest import wait_until


async def test_demo_pairs_two_lights_and_leaves_one_in_the_inbox(demo_hub: Hub) -> None:
    assert demo_hub.demo is not None
    sim = demo_hub.demo.simulator
    paired = {light.device_id for light in sim.lights[:2]}
    assert {view.device_id for view in demo_hub.lights} == paired
    for view in demo_hub.lights:
        real = sim.light(view.device_id).light_status
        assert real is not None
        assert (view.on, view.brightness, list(view.rgb or ())) == (
            real["on"], real["brightness"], real["rgb"],
        )
        assert not view.pending
    third = sim.lights[2]
    await wait_until(lambda: demo_hub.inbox.get(third.device_id) is not None, 30)
    item = demo_hub.inbox.get(third.device_id)
    assert item is not None and item.ap_ssid == third.ap_ssid


async def test_flight_recorder_of_a_set_up_light_is_kept_without_secrets(demo_hub: Hub) -> None:
    assert demo_hub.demo is not None
    light = demo_hub.demo.simulator.lights[0]
    recorder = demo_hub.flight_recorder(light.device_id)
    assert recorder is not None
    export = recorder.export_text()
    assert "Sys.GetInfo" in export and "Setup.Confirm" in export
    assert light.setup_code not in export
    assert demo_hub.flight_recorder("hublight-000000") is None
