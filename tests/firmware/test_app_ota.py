"""OTA on the simulator: download from a real local HTTP server, verify, stage, commit, reject."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hublight_sim.board import make_sim_image
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import WifiWorld
from test_app import LAN_SECRET, TIMEOUT, Caller, reboot_and_wait, wait_until

IMAGE = make_sim_image("0.2.0", b"x" * 50000)


@pytest.fixture
async def image_url() -> AsyncIterator[str]:
    async def image(request: web.Request) -> web.StreamResponse:
        if request.path == "/moved":
            raise web.HTTPFound("/fw.bin")
        return web.Response(body=IMAGE)

    app = web.Application()
    app.router.add_get("/fw.bin", image)
    app.router.add_get("/moved", image)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def confirmed_on_lan(light: SimLight, session: aiohttp.ClientSession) -> str:
    """Take a fresh light through set-up onto the LAN (OTA needs a network). -> its LAN url."""
    url = await wait_until(lambda: light.ap_url)
    await reboot_and_wait(light, Caller(session, light.setup_code), url, "Config.Set", {
        "config": {"wifi": {"sta": {"enable": True, "ssid": "HomeNet",
                                    "pass": "correct horse battery"}},
                   "hub": {"secret": LAN_SECRET}},
        "save": True, "reboot": True})
    lan: str = await wait_until(lambda: light.lan_url)
    await Caller(session, LAN_SECRET).call(lan, "Setup.Confirm")
    return lan


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Simulator]:
    simulator = Simulator(WifiWorld(), count=1, flash_root=tmp_path / "flash",
                          seed=secrets.token_hex(4))
    await simulator.start()
    await simulator.wait_started(TIMEOUT)
    try:
        yield simulator
    finally:
        await simulator.stop()


async def test_update_follows_redirect_then_commit(sim: Simulator, image_url: str) -> None:
    light = sim.lights[0]
    async with aiohttp.ClientSession() as session:
        url = await confirmed_on_lan(light, session)
        caller = Caller(session, LAN_SECRET)
        boots = light.boots
        result = await caller.call(url, "OTA.Update", {
            "url": image_url + "/moved", "sha256": hashlib.sha256(IMAGE).hexdigest(),
            "commit_timeout": 600})
        assert result == {"started": True}
        await wait_until(lambda: light.boots > boots)
        url = await wait_until(lambda: light.lan_url)
        caller = Caller(session, LAN_SECRET)
        state = await caller.call(url, "OTA.GetBootState")
        assert state["fw_version"] == "0.2.0" and state["is_committed"] is False
        assert state["revert_slot"] is not None
        assert await caller.call(url, "OTA.Commit") == {"committed": True}
        assert (await caller.frame(url, "OTA.Commit"))["error"]["code"] == 409
        assert (await caller.call(url, "OTA.GetBootState"))["is_committed"] is True


async def test_bad_checksum_is_refused_without_reboot(sim: Simulator, image_url: str) -> None:
    light = sim.lights[0]
    async with aiohttp.ClientSession() as session:
        url = await confirmed_on_lan(light, session)
        caller = Caller(session, LAN_SECRET)
        boots = light.boots
        await caller.call(url, "OTA.Update", {"url": image_url + "/fw.bin", "sha256": "0" * 64})

        async def failed() -> bool:
            state = await caller.call(url, "OTA.GetBootState")
            return bool(state["last_error"])

        loop_ok = False
        for _ in range(500):
            if await failed():
                loop_ok = True
                break
            await asyncio.sleep(0.05)
        assert loop_ok
        state = await caller.call(url, "OTA.GetBootState")
        assert "sha256 mismatch" in state["last_error"] and state["fw_version"] == "0.1.0"
        assert light.boots == boots
        reply = await caller.frame(url, "OTA.Update", {"url": "ftp://x", "sha256": "0" * 64})
        assert reply["error"]["code"] == 400
