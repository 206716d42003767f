"""Fixtures for the Qt-free hub: a demo hub over simulated lights (the real firmware), the real
embedded broker, real mDNS on loopback; only the PC's radio (SimulatedWifiAdapter) and the OS
keyring (an in-process keyring backend) are stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hub_app.hub import Hub
from hub_app.provisioning import FlowTimeouts
from hub_app.registry.memory_keyring import MemoryKeyring

TEST_FLOW_TIMEOUTS = FlowTimeouts(
    scan_lights=30, join_ap=30, rpc=8, verify=30, scan_networks=30, send=30,
    wait_lan=30, diagnose=30, pair=30, restore=15, retry_interval=0.1, probe_interval=0.5,
)


@pytest.fixture(autouse=True)
def test_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    """Every test here keeps its secrets in an in-process keyring (the tester kit's fixture)."""
    return memory_keyring


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll state owned by other components until ``predicate()`` holds."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
async def demo_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """A started demo hub (3 lights, 2 paired through the real flow) with its lights ready."""
    hub = Hub.create_demo(
        lights=3, paired=2, data_dir=tmp_path, use_memory_keyring=False,
        flow_timeouts=TEST_FLOW_TIMEOUTS, run_scheduler=False,
    )
    await hub.start()
    assert hub.demo is not None
    demo = hub.demo
    await wait_until(lambda: demo.ready, 90)
    assert demo.pre_pair_errors == []
    await wait_until(lambda: len(hub.lights) == 2 and all(v.online for v in hub.lights), 30)
    yield hub
    await hub.stop()
