"""Fixtures for the provisioning flow: simulated lights running the real firmware, the simulated
PC radio on the same Wi-Fi world, real HTTP, real mDNS on loopback, a real registry on disk and
a real (in-process) keyring backend."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import Simulator
from hublight_sim.world import WifiWorld

from hub_app.discovery import LanDiscovery
from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter
from hub_app.provisioning import FlightRecorder, FlowTimeouts, ProvisioningFlow
from hub_app.registry import Registry, SecretStore
from hub_app.registry.memory_keyring import MemoryKeyring

HOME_SSID = "HomeNet"
HOME_PASS = "correct horse battery"

#: generous limits for 2 shared cores; the failure tests shorten wait_lan explicitly
TEST_TIMEOUTS = FlowTimeouts(
    scan_lights=30, join_ap=30, rpc=8, verify=30, scan_networks=30, send=30,
    wait_lan=30, diagnose=30, pair=30, restore=15, retry_interval=0.1, probe_interval=0.5,
)


@pytest.fixture(autouse=True)
def test_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    """Every test here keeps its secrets in an in-process keyring (the tester kit's fixture)."""
    return memory_keyring


@pytest.fixture
def world() -> WifiWorld:
    return WifiWorld()


@pytest.fixture
async def make_sim(
    tmp_path: Path, world: WifiWorld,
) -> AsyncIterator[Callable[..., Awaitable[Simulator]]]:
    sims: list[Simulator] = []

    async def make(count: int = 1, **options: Any) -> Simulator:
        sim = Simulator(world, count=count, flash_root=tmp_path / f"flash{len(sims)}",
                        seed=secrets.token_hex(6), join_delay_s=0.0, reboot_delay_s=0.0,
                        **options)
        sims.append(sim)
        await sim.start()
        await sim.wait_started(timeout_s=60)
        for light in sim.lights:
            await light.wait_event("ap_started", timeout_s=60, include_past=True)
        return sim

    yield make
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def adapter(world: WifiWorld) -> Iterator[SimulatedWifiAdapter]:
    radio = SimulatedWifiAdapter(world, home_ssid=HOME_SSID)
    yield radio
    radio.close()


@pytest.fixture
async def lan() -> AsyncIterator[LanDiscovery]:
    discovery = LanDiscovery(interfaces=["127.0.0.1"])
    await discovery.start()
    yield discovery
    await discovery.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
async def registry(data_dir: Path) -> Registry:
    reg = Registry(data_dir / "lights.json")
    await reg.load()
    return reg


@pytest.fixture
def secret_store() -> Iterator[SecretStore]:
    store = SecretStore(service=f"home-hub-test-{secrets.token_hex(3)}")
    yield store
    store.close()


@pytest.fixture
def make_flow(session: aiohttp.ClientSession, adapter: SimulatedWifiAdapter, lan: LanDiscovery,
              registry: Registry, secret_store: SecretStore,
              ) -> Iterator[Callable[..., ProvisioningFlow]]:
    flows: list[ProvisioningFlow] = []

    def make(**options: Any) -> ProvisioningFlow:
        options.setdefault("timeouts", TEST_TIMEOUTS)
        options.setdefault("recorder", FlightRecorder())
        flow = ProvisioningFlow(session, adapter, lan, registry, secret_store, **options)
        flows.append(flow)
        return flow

    yield make
