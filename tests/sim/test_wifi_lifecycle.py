"""Wi-Fi set-up paths, reboot, factory reset, WebSocket notifications, OTA, bad input."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from hublight_sim.board import make_sim_image
from hublight_sim.runner import SimLight

from .conftest import join_lan, provision
from .helpers import HOME_PASS, LightRpc, RpcFailure, eventually


@pytest.mark.parametrize(
    ("ssid", "password", "reason"),
    [
        ("HomeNet", "wrong password!", "wrong_password"),
        ("NoSuchNet", "whatever-pass", "network_not_found"),
        ("FastLane-5G", "fastlane-pass", "network_not_found"),
        ("NoDHCP", "no-dhcp-pass", "no_ip"),
        ("Secure3", "wpa3-only-pass", "unsupported_network"),
    ],
)
async def test_failed_join_returns_to_ap_with_reason(
    session: aiohttp.ClientSession, light: SimLight, ap_rpc: LightRpc,
    ssid: str, password: str, reason: str,
) -> None:
    failed = light.wait_event("lan_failed", timeout_s=30)
    await join_lan(light, ap_rpc, ssid, password)
    assert (await failed)["reason"] == reason
    await light.wait_event("ap_started", timeout_s=30, include_past=True)
    assert light.ap_url is not None
    rpc = LightRpc(session, light.ap_url, light.setup_code)

    async def status() -> dict[str, object] | None:
        result = await rpc.call("Wifi.GetStatus")
        return result if result["status"] == "failed" else None

    result = await eventually(status)
    assert result["reason"] == reason and result["ap_enabled"] is True
    assert result["ssid"] == ssid
    assert await rpc.call("Config.Get", {"key": "wifi.sta.enable"}) is False
    if reason == "wrong_password":
        # the same light accepts corrected credentials: no factory reset
        joined = light.wait_event("lan_joined", timeout_s=30)
        await join_lan(light, rpc, ssid, HOME_PASS)
        assert (await joined)["lan_rpc_url"] == light.lan_url


async def test_confirm_timeout_goes_back_to_ap(session: aiohttp.ClientSession,
                                               light: SimLight, ap_rpc: LightRpc) -> None:
    failed = light.wait_event("lan_failed", timeout_s=30)
    await join_lan(light, ap_rpc, extra={"wifi": {"sta": {"enable": True, "ssid": "HomeNet",
                                                          "pass": HOME_PASS},
                                                  "confirm_timeout_ms": 300}})
    assert (await failed)["reason"] == "not_confirmed"
    await eventually(lambda: _ready(light.ap_url))
    assert light.ap_url is not None
    status = await LightRpc(session, light.ap_url, light.setup_code).call("Wifi.GetStatus")
    assert status["reason"] == "not_confirmed"


async def _ready(url: str | None) -> bool:
    return url is not None


async def test_pairing_closes_ap_and_lan_needs_secret(session: aiohttp.ClientSession,
                                                      light: SimLight, ap_rpc: LightRpc) -> None:
    lan = await provision(light, session, ap_rpc)
    world = light.board.world

    async def ap_closed() -> bool:
        return world.access_point(light.device_id) is None and light.ap_url is None

    await eventually(ap_closed)
    info = await lan.call("Sys.GetInfo")
    assert info["paired"] is True and info["setup_state"] == "confirmed"
    assert light.lan_url is not None
    with pytest.raises(RpcFailure) as failure:
        await LightRpc(session, light.lan_url, light.setup_code).call("Config.Get")
    assert failure.value.code == 401


async def test_reboot_restores_light_state(light: SimLight, ap_rpc: LightRpc,
                                           session: aiohttp.ClientSession) -> None:
    before = await ap_rpc.call("Light.Set", {"on": True, "brightness": 42, "rgb": [10, 20, 30],
                                             "transition_ms": 0})
    started = light.wait_event("started", timeout_s=30)
    await ap_rpc.call("Sys.Reboot", {"delay_ms": 10})
    await started
    assert light.ap_url is not None
    after = await LightRpc(session, light.ap_url, light.setup_code).call("Light.GetStatus")
    assert (after["on"], after["brightness"], after["rgb"]) == (True, 42, [10, 20, 30])
    assert after["rev"] >= before["rev"]
    # a power cut too
    light.power_cut()
    started = light.wait_event("started", timeout_s=30)
    await light.power_on()
    await started
    assert light.ap_url is not None
    again = await LightRpc(session, light.ap_url, light.setup_code).call("Light.GetStatus")
    assert (again["on"], again["brightness"], again["rgb"]) == (True, 42, [10, 20, 30])


async def test_factory_reset_rpc_keeps_setup_code(session: aiohttp.ClientSession,
                                                  light: SimLight, ap_rpc: LightRpc) -> None:
    code = light.setup_code
    lan = await provision(light, session, ap_rpc)
    started = light.wait_event("started", timeout_s=30)
    await lan.call("Sys.FactoryReset", {})
    assert (await started)["setup_state"] == "unconfigured"
    assert light.setup_code == code and light.ap_url is not None
    rpc = LightRpc(session, light.ap_url, code)
    assert (await rpc.call("Sys.GetInfo"))["paired"] is False


async def test_factory_reset_by_button(session: aiohttp.ClientSession, light: SimLight,
                                       ap_rpc: LightRpc) -> None:
    await ap_rpc.call("Config.Set", {"config": {"device": {"name": "Desk"}}, "save": True})
    reset = light.wait_event("factory_reset", timeout_s=30)
    light.press_button(3.5)
    assert (await reset)["source"] == "button"
    await light.wait_event("started", timeout_s=30)
    assert light.ap_url is not None
    rpc = LightRpc(session, light.ap_url, light.setup_code)
    assert await rpc.call("Config.Get", {"key": "device.name"}) == ""


async def test_short_press_toggles(light: SimLight, ap_rpc: LightRpc) -> None:
    before = (await ap_rpc.call("Light.GetStatus"))["on"]
    changed = light.wait_event("state_changed", timeout_s=30)
    light.press_button(0.3)
    status = (await changed)["status"]
    assert status["on"] is (not before) and status["source"] == "button"


async def test_websocket_notify_status(session: aiohttp.ClientSession, light: SimLight,
                                       ap_rpc: LightRpc) -> None:
    assert light.ap_url
    async with session.ws_connect(light.ap_url) as ws:
        await ws.send_str(json.dumps({"id": 1, "src": "ws-client", "method": "RPC.Ping"}))
        reply = json.loads((await ws.receive(timeout=10)).data)
        assert reply["result"] == "pong" and reply["dst"] == "ws-client"
        await ap_rpc.call("Light.Set", {"on": True, "brightness": 7})
        while True:
            message = json.loads((await ws.receive(timeout=10)).data)
            if message.get("method") == "NotifyStatus":
                break
        assert message["dst"] == "ws-client"
        assert message["params"]["light:0"]["brightness"] == 7


# --- OTA -------------------------------------------------------------------------------------
@pytest.fixture
async def image_server() -> AsyncIterator[dict[str, bytes | str]]:
    images: dict[str, bytes | str] = {}

    async def serve(request: web.Request) -> web.Response:
        data = images.get(request.match_info["name"])
        if not isinstance(data, bytes):
            raise web.HTTPNotFound()
        return web.Response(body=data)

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    images["base"] = f"http://127.0.0.1:{port}"
    yield images
    await runner.cleanup()


async def _lan_light(session: aiohttp.ClientSession, light: SimLight,
                     ap_rpc: LightRpc) -> LightRpc:
    return await provision(light, session, ap_rpc)


async def test_ota_commit(session: aiohttp.ClientSession, light: SimLight, ap_rpc: LightRpc,
                          image_server: dict[str, bytes | str]) -> None:
    lan = await _lan_light(session, light, ap_rpc)
    image = make_sim_image("0.2.0", b"x" * 50_000)
    image_server["v2"] = image
    started = light.wait_event("started", timeout_s=60)
    await lan.call("OTA.Update", {"url": f"{image_server['base']}/v2",
                                  "sha256": hashlib.sha256(image).hexdigest(),
                                  "commit_timeout": 60})
    assert (await started)["fw_version"] == "0.2.0"
    await eventually(lambda: _ready(light.lan_url))
    assert light.lan_url is not None
    lan = LightRpc(session, light.lan_url, lan.password)
    state = await eventually(lambda: lan.call("OTA.GetBootState"))
    assert state["is_committed"] is False and state["active_slot"] == 1
    assert await lan.call("OTA.Commit", {}) == {"committed": True}
    assert (await lan.call("OTA.GetBootState"))["is_committed"] is True
    assert (await lan.call("Sys.GetInfo"))["fw_version"] == "0.2.0"


async def test_ota_rolls_back_without_commit(session: aiohttp.ClientSession, light: SimLight,
                                             ap_rpc: LightRpc,
                                             image_server: dict[str, bytes | str]) -> None:
    lan = await _lan_light(session, light, ap_rpc)
    image = make_sim_image("0.3.0", b"y" * 1000)
    image_server["v3"] = image
    await lan.call("OTA.Update", {"url": f"{image_server['base']}/v3",
                                  "sha256": hashlib.sha256(image).hexdigest(),
                                  "commit_timeout": 1})
    await light.wait_event("started", lambda f: f.get("fw_version") == "0.3.0", timeout_s=60)
    back = await light.wait_event("started", lambda f: f.get("fw_version") == "0.1.0",
                                  timeout_s=60)
    assert back["fw_version"] == "0.1.0"
    await eventually(lambda: _ready(light.lan_url))
    assert light.lan_url is not None
    lan = LightRpc(session, light.lan_url, lan.password)
    state = await eventually(lambda: lan.call("OTA.GetBootState"))
    assert state["active_slot"] == 0 and state["last_error"]


async def test_ota_wrong_sha256_refused(session: aiohttp.ClientSession, light: SimLight,
                                        ap_rpc: LightRpc,
                                        image_server: dict[str, bytes | str]) -> None:
    lan = await _lan_light(session, light, ap_rpc)
    image_server["bad"] = make_sim_image("0.4.0")
    await lan.call("OTA.Update", {"url": f"{image_server['base']}/bad", "sha256": "0" * 64})

    async def failed() -> bool:
        state = await lan.call("OTA.GetBootState")
        return bool(state["last_error"])

    await eventually(failed)
    assert (await lan.call("Sys.GetInfo"))["fw_version"] == "0.1.0"
    assert light.boots == 2  # one boot for joining the LAN, none for the refused image


# --- bad input --------------------------------------------------------------------------------
async def test_bad_input_keeps_serving(session: aiohttp.ClientSession, light: SimLight,
                                       ap_rpc: LightRpc) -> None:
    assert light.ap_url
    url = light.ap_url
    for body in (b"not json", b"[1,2]", b"{\"id\":1", b"\xff\xfe", b"{\"id\":1,\"method\":5}"):
        async with session.post(url, data=body) as response:
            assert response.status in (200, 400)
            reply = await response.json(content_type=None)
            assert reply.get("error", {}).get("code") == 400, body
    unknown = await ap_rpc.frame({"id": 5, "src": "t", "method": "No.Such"})
    assert unknown["error"]["code"] in (401, 404)
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("No.Such")
    assert failure.value.code == 404
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("Light.Set", {"brightness": "high"})
    assert failure.value.code == 400
    # a 1 MB body: the light closes the connection
    with pytest.raises((aiohttp.ClientError, ConnectionError)):
        async with session.post(url, data=b"{" + b" " * 1_000_000 + b"}") as response:
            assert response.status == 413
            await response.read()
            raise aiohttp.ClientPayloadError("closed")
    # slow and half-open connections do not block others
    host, port = url.split("//")[1].split("/")[0].split(":")
    idle = [await asyncio.open_connection(host, int(port)) for _ in range(3)]
    for _reader, writer in idle:
        writer.write(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\"")
    assert await ap_rpc.call("RPC.Ping", auth=False) == "pong"
    for _reader, writer in idle:
        writer.transport.abort()
    assert (await ap_rpc.call("Light.GetStatus"))["rev"] >= 0
