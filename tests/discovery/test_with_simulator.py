"""A real simulated light (hublight_sim): its access point found and confirmed by ApDiscovery
through the SimulatedWifiAdapter."""

from __future__ import annotations

import pytest

runner = pytest.importorskip("hublight_sim.runner")

from hublight_sim.world import WifiWorld  # noqa: E402

from hub_app.discovery import ApDiscovery  # noqa: E402
from hub_app.discovery.wifi import SimulatedWifiAdapter  # noqa: E402


async def test_simulated_light_access_point_found_by_device_id(tmp_path: object) -> None:
    world = WifiWorld()
    sim = runner.Simulator(world, count=1, flash_root=str(tmp_path))
    await sim.start()
    adapter = SimulatedWifiAdapter(world)
    try:
        await sim.wait_started(timeout_s=60)
        light = sim.lights[0]
        discovery = ApDiscovery(adapter)
        events = await discovery.scan_once()
        found = {e.ap.device_id: e.ap for e in events}
        assert light.device_id in found
        ap = found[light.device_id]
        assert ap.ssid == light.ap_ssid
        await adapter.connect(ap.ssid)
        assert await discovery.confirm(ap.ssid)  # the light's RPC server answers on its AP
    finally:
        adapter.close()
        await sim.stop()
