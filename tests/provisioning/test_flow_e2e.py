"""The flow end to end against simulated lights running the real firmware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hub_app.provisioning import Done, ProvisioningFlow
from hub_app.registry import Registry
from hublight_sim.runner import Simulator

from .helpers import provision

SimFactory = Callable[..., Awaitable[Simulator]]
FlowFactory = Callable[..., ProvisioningFlow]


async def test_one_light_end_to_end(make_sim: SimFactory, make_flow: FlowFactory,
                                    registry: Registry) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow()
    result = await provision(flow, light.ap_ssid, light.setup_code)
    assert isinstance(result, Done), result
    assert result.data["device_id"] == light.device_id
    paired = registry.get(light.device_id)
    assert paired is not None and paired.name == "Desk"
    assert light.setup_state == "confirmed"


async def test_debug(make_sim: SimFactory, make_flow: FlowFactory) -> None:
    import json
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow()
    result = await provision(flow, light.ap_ssid, light.setup_code)
    for e in flow.recorder.events:
        if e["kind"] != "rpc":
            print(json.dumps(e)[:300])
        else:
            print("RPC", e["trace"]["method"], e["trace"]["error"], str(e["trace"]["reply"])[:150])
    print(light.events[-30:])
    assert isinstance(result, Done)
