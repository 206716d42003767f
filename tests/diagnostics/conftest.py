"""A simulated light (the real firmware) on its access point, and a DeviceClient to it whose
traces feed a ``DeviceDiagnostics``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import WifiWorld
from yarl import URL

from hub_app.device import DeviceClient
from hub_app.diagnostics import DeviceDiagnostics


@pytest.fixture
async def light(tmp_path: Path) -> AsyncIterator[SimLight]:
    sim = Simulator(WifiWorld(), count=1, flash_root=tmp_path / "flash",
                    seed=secrets.token_hex(6), join_delay_s=0.0, reboot_delay_s=0.0)
    await sim.start()
    await sim.wait_started(timeout_s=60)
    await sim.lights[0].wait_event("ap_started", timeout_s=60, include_past=True)
    yield sim.lights[0]
    await sim.stop()


@pytest.fixture
async def diagnostics(light: SimLight) -> AsyncIterator[DeviceDiagnostics]:
    url = URL(light.ap_url or "")
    assert url.host is not None and url.port is not None
    diag = DeviceDiagnostics(light.device_id, known_secrets=[light.setup_code])
    async with aiohttp.ClientSession() as session:
        client = DeviceClient(session, url.host, url.port, password=light.setup_code,
                              trace=diag.on_trace)
        diag.attach(client)
        yield diag
        await client.close()


LAN_SECRET = "diagnostics-test-lan-secret-0123456789"


@pytest.fixture
async def lan_diagnostics(light: SimLight) -> AsyncIterator[DeviceDiagnostics]:
    """The light joined to HomeNet and paired (LAN secret), with a client on its LAN address."""
    ap = URL(light.ap_url or "")
    assert ap.host is not None and ap.port is not None
    diag = DeviceDiagnostics(light.device_id, known_secrets=[light.setup_code, LAN_SECRET])
    async with aiohttp.ClientSession() as session:
        async with DeviceClient(session, ap.host, ap.port, password=light.setup_code,
                                transport="http") as setup:
            await setup.call("Config.Set", {"config": {"wifi": {"sta": {
                "enable": True, "ssid": "HomeNet", "pass": "correct horse battery"}}}})
            await setup.call("Config.Save", {"reboot": True})
        await light.wait_event("lan_joined", timeout_s=60)
        lan = URL(light.lan_url or "")
        assert lan.host is not None and lan.port is not None
        async with DeviceClient(session, lan.host, lan.port, password=light.setup_code,
                                transport="http") as pairing:
            await pairing.call("Config.Set", {"config": {"hub": {"secret": LAN_SECRET}},
                                              "save": True})
            pairing.set_password(LAN_SECRET)
            await pairing.call("Setup.Confirm", {})
        client = DeviceClient(session, lan.host, lan.port, password=LAN_SECRET,
                              trace=diag.on_trace)
        diag.attach(client)
        yield diag
        await client.close()
