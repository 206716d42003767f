"""Power cuts: kill -9 of hub-light-sim during saves never breaks config; rev never goes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import SimLight

from .helpers import LightRpc

ITERATIONS = 24


async def _start_sim(flash: Path) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hublight_sim.cli", "--count", "1", "--json", "--flash-dir",
        str(flash), "--seed", "power-cut", "--join-delay", "0", "--reboot-delay", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise AssertionError("hub-light-sim exited before it started")
        event = json.loads(line)
        if event["event"] == "started":
            return process, event


async def _hammer(rpc: LightRpc, written: list[str], stop: asyncio.Event) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        name = f"name-{number}-" + "x" * (number % 50)
        written.append(name)
        with contextlib.suppress(Exception):
            await rpc.call("Config.Set", {"config": {"device": {"name": name},
                                                     "light": {"pixels": 1 + number % 60}},
                                          "save": True})
            await rpc.call("Light.Set", {"on": number % 2 == 0, "brightness": number % 101,
                                         "transition_ms": 0})


@pytest.mark.slow
async def test_kill_during_saves_never_breaks_config(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    rng = random.Random(20261122)
    written: list[str] = [""]
    async with aiohttp.ClientSession() as session:
        for iteration in range(ITERATIONS + 1):
            process, started = await _start_sim(flash)
            try:
                rpc = LightRpc(session, started["ap_rpc_url"], started["setup_code"])
                # the light booted from what the last kill left: a valid config, old or new
                name = await rpc.call("Config.Get", {"key": "device.name"})
                assert name in written, (iteration, name)
                pixels = await rpc.call("Config.Get", {"key": "light.pixels"})
                assert isinstance(pixels, int) and 1 <= pixels <= 1024
                status = await rpc.call("Light.GetStatus")
                assert 0 <= status["brightness"] <= 100
                config_file = flash / "light-0" / "config.json"
                if config_file.exists():
                    json.loads(config_file.read_text())  # whole, never torn
                if iteration == ITERATIONS:
                    break
                stop = asyncio.Event()
                hammer = asyncio.create_task(_hammer(rpc, written, stop))
                await asyncio.sleep(rng.uniform(0.02, 0.4))
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)  # the power cut
                await process.wait()
            stop.set()
            await hammer
        # the last boot was clean-shutdown-free; the setup code never changed
        factory = json.loads((flash / "light-0" / "factory.json").read_text())
        assert factory["setup_code"] == started["setup_code"]


async def test_rev_never_goes_back_after_a_power_cut(light: SimLight, ap_rpc: LightRpc,
                                                      session: aiohttp.ClientSession) -> None:
    handed_out = []
    for level in (11, 22, 33, 44, 55):
        status = await ap_rpc.call("Light.Set", {"brightness": level, "transition_ms": 0})
        handed_out.append(status["rev"])
    light.power_cut()  # within the 1 s state-save debounce: the last changes may be lost
    started = light.wait_event("started", timeout_s=30)
    await light.power_on()
    await started
    assert light.ap_url is not None
    rpc = LightRpc(session, light.ap_url, light.setup_code)
    booted = await rpc.call("Light.GetStatus")
    assert booted["rev"] >= max(handed_out) and booted["source"] == "boot"
    after = await rpc.call("Light.Toggle")
    assert after["rev"] > max(handed_out), (handed_out, booted, after)
    # and a second cut right after that change
    light.power_cut()
    started = light.wait_event("started", timeout_s=30)
    await light.power_on()
    await started
    rpc = LightRpc(session, light.ap_url, light.setup_code)
    again = await rpc.call("Light.Toggle")
    assert again["rev"] > after["rev"]
