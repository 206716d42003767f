"""A simulated light over real HTTP: reduced info, digest auth (frame and curl), every method."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import aiohttp
import pytest
from hublight_sim.runner import SimLight

from .helpers import LightRpc, RpcFailure, frame_auth


async def test_reduced_info_without_auth(ap_rpc: LightRpc, light: SimLight) -> None:
    info = await ap_rpc.call("Sys.GetInfo", auth=False)
    assert info == {"id": light.device_id, "model": "HL-S1", "app": "HubLight",
                    "fw_version": "0.1.0", "auth_required": True, "auth_domain": light.device_id}
    assert await ap_rpc.call("RPC.Ping", auth=False) == "pong"


async def test_full_info_with_setup_code(ap_rpc: LightRpc, light: SimLight) -> None:
    info = await ap_rpc.call("Sys.GetInfo")
    assert info["id"] == light.device_id
    assert info["arch"] == "sim"
    assert info["mac"].lower().replace(":", "") == light.mac.replace(":", "")
    assert info["setup_state"] == "unconfigured"
    assert info["paired"] is False
    assert info["fs_size"] > info["fs_free"] > 0
    assert info["ota"]["active_slot"] == 0


async def test_methods_need_auth(ap_rpc: LightRpc) -> None:
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("Config.Get", auth=False)
    assert failure.value.code == 401
    challenge = json.loads(failure.value.message)
    assert challenge["algorithm"] == "SHA-256" and challenge["auth_type"] == "digest"


async def test_wrong_password_and_replay_rejected(session: aiohttp.ClientSession,
                                                  light: SimLight) -> None:
    assert light.ap_url
    wrong = LightRpc(session, light.ap_url, "WRONGCOD")
    with pytest.raises(RpcFailure) as failure:
        await wrong.call("Config.Get")
    assert failure.value.code == 401

    good = LightRpc(session, light.ap_url, light.setup_code)
    await good.call("Light.GetStatus")
    assert good.challenge is not None
    # the very same auth object again: nc not higher -> 401
    replay = {"id": 99, "src": "t", "method": "Light.GetStatus", "auth": good.last_auth}
    reply = await good.frame(replay)
    assert reply["error"]["code"] == 401
    # an nc that is not higher than the last one is refused too, a higher one works
    stale = {"id": 100, "src": "t", "method": "Light.GetStatus",
             "auth": frame_auth(good.challenge, light.setup_code, good.nc)}
    assert (await good.frame(stale))["error"]["code"] == 401
    fresh = {"id": 101, "src": "t", "method": "Light.GetStatus",
             "auth": frame_auth(good.challenge, light.setup_code, good.nc + 5)}
    assert "result" in await good.frame(fresh)


async def test_setup_code_with_dash_and_lower_case(session: aiohttp.ClientSession,
                                                   light: SimLight) -> None:
    assert light.ap_url
    typed = light.setup_code[:4].lower() + "-" + light.setup_code[4:].lower()
    rpc = LightRpc(session, light.ap_url, typed)
    assert (await rpc.call("Light.GetStatus"))["on"] in (True, False)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
async def test_curl_digest(light: SimLight) -> None:
    assert light.ap_url
    url = light.ap_url + "/Sys.GetInfo"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True,
                              text=True, timeout=30, check=False)

    # (Sys.GetInfo answers without a challenge, so curl would never send credentials for it)
    result = await asyncio.to_thread(run, "--digest", "-u", f"admin:{light.setup_code}",
                                     "-X", "POST", "-d", "{}", light.ap_url + "/Wifi.GetStatus")
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200", result
    assert json.loads(body)["setup_state"] == "unconfigured"
    result = await asyncio.to_thread(run, "--digest", "-u", "admin:WRONGPWD", "-X", "POST",
                                     "-d", "{}", light.ap_url + "/Config.Get")
    assert result.stdout.rsplit("\n", 1)[1] == "401"
    # unauthenticated GET of Sys.GetInfo: the reduced info
    result = await asyncio.to_thread(run, url)
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200" and json.loads(body)["auth_required"] is True


async def test_rpc_list_and_describe(ap_rpc: LightRpc) -> None:
    methods = await ap_rpc.call("RPC.List")
    expected = {"RPC.List", "RPC.Describe", "RPC.Ping", "Sys.GetInfo", "Sys.Reboot",
                "Sys.FactoryReset", "Sys.GetLog", "Config.Get", "Config.Set", "Config.Save",
                "Setup.Confirm", "Wifi.Scan", "Wifi.GetStatus", "Light.Set", "Light.Toggle",
                "Light.GetStatus", "OTA.Update", "OTA.Commit", "OTA.Revert", "OTA.GetBootState"}
    assert expected <= set(methods)
    described = await ap_rpc.call("RPC.Describe", {"name": "Light.Set"})
    assert described["name"] == "Light.Set"
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("RPC.Describe", {"name": "No.Such"})
    assert failure.value.code == 404


async def test_light_methods_and_pixels(ap_rpc: LightRpc, light: SimLight) -> None:
    status = await ap_rpc.call("Light.Set", {"on": True, "brightness": 50, "rgb": [255, 0, 0],
                                             "transition_ms": 0})
    assert status["on"] is True and status["brightness"] == 50 and status["rgb"] == [255, 0, 0]
    rev = status["rev"]

    async def lit() -> bool:
        return bool(light.pixels) and light.pixels[0][0] > 0 and light.pixels[0][1] == 0

    from .helpers import eventually

    await eventually(lit)
    toggled = await ap_rpc.call("Light.Toggle", {})
    assert toggled["on"] is False and toggled["rev"] > rev
    assert (await ap_rpc.call("Light.GetStatus", {}))["on"] is False
    for bad in ({"brightness": 101}, {"rgb": [1, 2]}, {"on": "yes"}, {},
                {"transition_ms": 70000, "on": True}):
        with pytest.raises(RpcFailure) as failure:
            await ap_rpc.call("Light.Set", bad)
        assert failure.value.code == 400, bad


async def test_config_get_set_save(ap_rpc: LightRpc) -> None:
    tree = await ap_rpc.call("Config.Get")
    assert tree["device"]["id"].startswith("hublight-")
    assert tree["wifi"]["sta"]["pass_set"] is False
    assert "pass" not in tree["wifi"]["sta"]
    result = await ap_rpc.call("Config.Set", {"config": {"device": {"name": "Küche & Bar's"},
                                                         "wifi": {"sta": {"pass": "secret-pw"}}}})
    assert result["saved"] is False
    assert await ap_rpc.call("Config.Get", {"key": "device.name"}) == "Küche & Bar's"
    assert (await ap_rpc.call("Config.Get", {"key": "wifi.sta"}))["pass_set"] is True
    assert await ap_rpc.call("Config.Save", {}) == {"saved": True}
    for params, code, needle in (
        ({"config": {"wifi": {"sta": {"sid": "x"}}}}, 404, "wifi.sta.sid"),
        ({"config": {"device": {"id": "x"}}}, 403, "device.id"),
        ({"config": {"light": {"pixels": "many"}}}, 400, "light.pixels"),
    ):
        with pytest.raises(RpcFailure) as failure:
            await ap_rpc.call("Config.Set", params)
        assert failure.value.code == code and needle in failure.value.message
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("Config.Get", {"key": "nope.nope"})
    assert failure.value.code == 404
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("Config.Save", "{\"reboot\":true}")
    assert failure.value.code == 400
    # nothing of the failed calls was applied
    assert await ap_rpc.call("Config.Get", {"key": "device.name"}) == "Küche & Bar's"


async def test_wifi_scan_and_status(ap_rpc: LightRpc) -> None:
    scan = await ap_rpc.call("Wifi.Scan")
    ssids = [entry["ssid"] for entry in scan]
    assert "HomeNet" in ssids and 'Café & Bar\'s "Wi-Fi"' in ssids
    assert "FastLane-5G" not in ssids and "HiddenNet" not in ssids
    assert [e["rssi"] for e in scan] == sorted((e["rssi"] for e in scan), reverse=True)
    status = await ap_rpc.call("Wifi.GetStatus")
    assert status["setup_state"] == "unconfigured" and status["ap_enabled"] is True


async def test_sys_getlog_has_no_secrets(ap_rpc: LightRpc, light: SimLight) -> None:
    await ap_rpc.call("Config.Set", {"config": {"wifi": {"sta": {"pass": "TopSecret-42"}}}})
    log = await ap_rpc.call("Sys.GetLog", {"lines": 200})
    text = json.dumps(log)
    assert log["lines"] and "TopSecret-42" not in text and light.setup_code not in text
    later = await ap_rpc.call("Sys.GetLog", {"since": log["next"]})
    assert isinstance(later["lines"], list)


async def test_ota_boot_state_and_errors(ap_rpc: LightRpc) -> None:
    state = await ap_rpc.call("OTA.GetBootState")
    assert state["active_slot"] == 0 and state["is_committed"] is True
    assert state["fw_version"] == "0.1.0"
    for method in ("OTA.Commit", "OTA.Revert"):
        with pytest.raises(RpcFailure) as failure:
            await ap_rpc.call(method, {})
        assert failure.value.code == 409
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("OTA.Update", {"url": "ftp://x", "sha256": "00"})
    assert failure.value.code == 400


async def test_rest_style_and_get_and_cors(session: aiohttp.ClientSession,
                                           light: SimLight) -> None:
    assert light.ap_url
    async with session.post(light.ap_url + "/RPC.Ping") as response:
        assert response.status == 200
        assert await response.json(content_type=None) == "pong"
        assert response.headers.get("Access-Control-Allow-Origin") == "*"
    async with session.get(light.ap_url + "/Sys.GetInfo") as response:
        assert (await response.json(content_type=None))["id"] == light.device_id
    async with session.post(light.ap_url + "/Light.Set", data='{"on":true}') as response:
        assert response.status == 401
        assert "SHA-256" in response.headers["WWW-Authenticate"]
    async with session.options(light.ap_url) as response:
        assert response.status in (200, 204)
