"""LightApp end to end on the simulator's SimBoard: real HTTP to the light's RPC servers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import WifiWorld

TIMEOUT = 60.0
LAN_SECRET = "lan-secret-0123456789abcdef"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Caller:
    """A minimal MG-RPC-over-HTTP client with frame digest auth (retries once on 401)."""

    def __init__(self, session: aiohttp.ClientSession, password: str | None) -> None:
        self.session = session
        self.password = password
        self.challenge: dict[str, Any] | None = None
        self.nc = 0
        self.next_id = 1

    def _auth(self) -> dict[str, Any] | None:
        if self.password is None or self.challenge is None:
            return None
        self.nc += 1
        realm, nonce, cnonce = self.challenge["realm"], self.challenge["nonce"], "cafe"
        ha1 = sha(f"admin:{realm}:{self.password}")
        ha2 = sha("dummy_method:dummy_uri")
        response = sha(f"{ha1}:{nonce}:{self.nc:08x}:{cnonce}:auth:{ha2}")
        return {"realm": realm, "username": "admin", "nonce": nonce, "cnonce": cnonce,
                "response": response, "algorithm": "SHA-256", "nc": self.nc}

    async def frame(self, url: str, method: str, params: Any = None) -> dict[str, Any]:
        """POST a whole frame. -> the reply frame."""
        for _attempt in range(2):
            frame: dict[str, Any] = {"id": self.next_id, "src": "test-hub", "method": method}
            self.next_id += 1
            if params is not None:
                frame["params"] = params
            auth = self._auth()
            if auth is not None:
                frame["auth"] = auth
            timeout = aiohttp.ClientTimeout(total=TIMEOUT)
            async with self.session.post(url, data=json.dumps(frame), timeout=timeout) as resp:
                reply: dict[str, Any] = json.loads(await resp.text())
            error = reply.get("error")
            if error and error.get("code") == 401 and self.password is not None:
                self.challenge = json.loads(error["message"])
                self.nc = 0
                continue
            return reply
        return reply

    async def call(self, url: str, method: str, params: Any = None) -> Any:
        if self.challenge is None and self.password is not None and method == "Sys.GetInfo":
            await self.frame(url, "RPC.List")  # fetch a challenge: GetInfo alone never asks
        reply = await self.frame(url, method, params)
        assert "error" not in reply, reply
        return reply["result"]


async def wait_until(predicate: Callable[[], Any], timeout_s: float = TIMEOUT) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


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


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def ap_url(light: SimLight) -> str:
    url = light.ap_url
    assert url is not None
    return url


async def reboot_and_wait(light: SimLight, caller: Caller, url: str, method: str,
                          params: Any) -> None:
    boots = light.boots
    await caller.call(url, method, params)
    await wait_until(lambda: light.boots > boots)
    await light.wait_event("started", timeout_s=TIMEOUT, include_past=True)


async def test_unauthenticated_access_is_limited(sim: Simulator,
                                                 session: aiohttp.ClientSession) -> None:
    light = sim.lights[0]
    url = await wait_until(lambda: light.ap_url)
    anon = Caller(session, None)
    assert await anon.call(url, "RPC.Ping") == "pong"
    info = await anon.call(url, "Sys.GetInfo")
    assert info == {"id": light.device_id, "model": "HL-S1", "app": "HubLight",
                    "fw_version": info["fw_version"], "auth_required": True,
                    "auth_domain": light.device_id}
    reply = await anon.frame(url, "Config.Get")
    assert reply["error"]["code"] == 401
    assert json.loads(reply["error"]["message"])["realm"] == light.device_id
    wrong = Caller(session, "WRONG-CODE")
    assert (await wrong.frame(url, "Config.Get"))["error"]["code"] == 401


async def test_setup_code_gives_full_info_and_redacted_config(
        sim: Simulator, session: aiohttp.ClientSession) -> None:
    light = sim.lights[0]
    url = await wait_until(lambda: light.ap_url)
    code = light.setup_code
    caller = Caller(session, code[:4].lower() + "-" + code[4:].lower())  # as typed from a label
    info = await caller.call(url, "Sys.GetInfo")
    assert info["setup_state"] == "unconfigured" and info["paired"] is False
    assert info["wifi"]["ap_ip"] and info["arch"] == "sim"
    result = await caller.call(url, "Config.Set", {"config": {
        "wifi": {"sta": {"ssid": "HomeNet", "pass": "correct horse battery"}},
        "device": {"name": "Hall lamp"}}})
    assert result == {"saved": False, "restart_required": True}
    tree = await caller.call(url, "Config.Get")
    assert tree["wifi"]["sta"] == {"enable": False, "ssid": "HomeNet", "pass_set": True}
    assert "correct horse battery" not in json.dumps(tree)
    reply = await caller.frame(url, "Config.Set", {"config": {"wifi": {"sta": {"sid": "x"}}}})
    assert reply["error"] == {"code": 404, "message": "unknown config key: wifi.sta.sid"}
    reply = await caller.frame(url, "Config.Save", "reboot")
    assert reply["error"]["code"] == 400
    log = await caller.call(url, "Sys.GetLog", {"lines": 200})
    assert "correct horse battery" not in json.dumps(log) and code not in json.dumps(log)


async def test_light_state_survives_reboot(sim: Simulator,
                                           session: aiohttp.ClientSession) -> None:
    light = sim.lights[0]
    url = await wait_until(lambda: light.ap_url)
    caller = Caller(session, light.setup_code)
    status = await caller.call(url, "Light.Set", {"on": True, "rgb": [255, 0, 0],
                                                  "brightness": 100, "transition_ms": 0})
    assert status["on"] is True and status["source"] == "rpc"
    rev = status["rev"]
    await wait_until(lambda: light.pixels and light.pixels[0] == (255, 0, 0))
    reply = await caller.frame(url, "Light.Set", {"brightness": 300})
    assert reply["error"]["code"] == 400 and "brightness" in reply["error"]["message"]
    await reboot_and_wait(light, caller, url, "Sys.Reboot", {"delay_ms": 0})
    url = await wait_until(lambda: light.ap_url)
    caller = Caller(session, light.setup_code)
    restored = await caller.call(url, "Light.GetStatus")
    assert restored["on"] is True and restored["rgb"] == [255, 0, 0]
    assert restored["rev"] == rev and restored["source"] == "boot"
    await wait_until(lambda: light.pixels and light.pixels[0] == (255, 0, 0))
    toggled = await caller.call(url, "Light.Toggle")
    assert toggled["on"] is False and toggled["rev"] == rev + 1


async def test_wrong_password_returns_to_ap_with_reason(
        sim: Simulator, session: aiohttp.ClientSession) -> None:
    light = sim.lights[0]
    url = await wait_until(lambda: light.ap_url)
    caller = Caller(session, light.setup_code)
    await reboot_and_wait(light, caller, url, "Config.Set", {
        "config": {"wifi": {"sta": {"enable": True, "ssid": "HomeNet", "pass": "wrong-pass"}}},
        "save": True, "reboot": True})
    await light.wait_event("lan_failed", timeout_s=TIMEOUT, include_past=True)
    url = await wait_until(lambda: light.ap_url)
    status = await caller.call(url, "Wifi.GetStatus")
    assert status["status"] == "failed" and status["reason"] == "wrong_password"
    assert status["setup_state"] == "unconfigured" and status["ssid"] == "HomeNet"
    sta = await caller.call(url, "Config.Get", {"key": "wifi.sta"})
    assert sta == {"enable": False, "ssid": "HomeNet", "pass_set": True}


async def test_join_pair_confirm_then_factory_reset(
        sim: Simulator, session: aiohttp.ClientSession) -> None:
    light = sim.lights[0]
    url = await wait_until(lambda: light.ap_url)
    caller = Caller(session, light.setup_code)
    await reboot_and_wait(light, caller, url, "Config.Set", {
        "config": {"wifi": {"sta": {"enable": True, "ssid": "HomeNet",
                                    "pass": "correct horse battery"}},
                   "hub": {"secret": LAN_SECRET}},
        "save": True, "reboot": True})
    lan = await wait_until(lambda: light.lan_url)
    assert light.ap_url is not None  # AP+STA while awaiting confirmation
    hub = Caller(session, LAN_SECRET)
    info = await hub.call(lan, "Sys.GetInfo")
    assert info["setup_state"] == "awaiting_confirm" and info["paired"] is True
    assert (await Caller(session, light.setup_code).frame(lan, "Config.Get"))["error"][
        "code"] == 401
    assert await hub.call(lan, "Setup.Confirm") == {"confirmed": True}
    await wait_until(lambda: light.ap_url is None)
    assert (await hub.call(lan, "Wifi.GetStatus"))["setup_state"] == "confirmed"
    assert await hub.call(lan, "Setup.Confirm") == {"confirmed": True}
    # a confirmed light comes back on the LAN only
    await reboot_and_wait(light, hub, lan, "Sys.Reboot", {"delay_ms": 0})
    lan = await wait_until(lambda: light.lan_url)
    assert light.ap_url is None
    await reboot_and_wait(light, hub, lan, "Sys.FactoryReset", {})
    url = await wait_until(lambda: light.ap_url)
    fresh = Caller(session, light.setup_code)
    info = await fresh.call(url, "Sys.GetInfo")
    assert info["setup_state"] == "unconfigured" and info["paired"] is False
