"""DeviceClient against the real firmware running in the simulator (real sockets, zero delays)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import SimLight

from hub_app.device import (
    AuthError,
    Backoff,
    ConnectionEvent,
    ConnectionState,
    DeviceClient,
    DeviceKind,
    Notification,
    RpcError,
    RpcTrace,
    probe,
)
from hub_app.device.digest import DigestAuth, parse_challenge_message, parse_www_authenticate

from .conftest import LAN_SECRET, eventually, host_port, pair_on_lan

FAST = Backoff(initial=0.05, maximum=0.2, jitter=0.1)


def ap_client(
    session: aiohttp.ClientSession, light: SimLight, password: str | None = None, **kwargs: Any
) -> DeviceClient:
    host, port = host_port(light.ap_url)
    kwargs.setdefault("timeout", 30)
    return DeviceClient(session, host, port, password=password, **kwargs)


async def test_setup_code_gives_full_info_and_status(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    traces: list[RpcTrace] = []
    async with ap_client(session, ap_light, ap_light.setup_code, trace=traces.append) as client:
        info = await client.get_info()
        assert info["id"] == ap_light.device_id and info["app"] == "HubLight"
        assert info["paired"] is False and "mac" in info  # the full info, not the reduced one
        assert client.device_id == ap_light.device_id
        status = await client.get_status()
        assert set(status) >= {"on", "brightness", "rgb", "transition_ms", "rev", "source"}
        new = await client.set_light(on=True, brightness=40, rgb=(10, 20, 30), transition_ms=0)
        assert (new["on"], new["brightness"], new["rgb"]) == (True, 40, [10, 20, 30])
        assert new["rev"] > status["rev"]
        assert await client.call("RPC.Ping") == "pong"
    assert [t.method for t in traces] == [
        "Sys.GetInfo", "Light.GetStatus", "Light.Set", "RPC.Ping"
    ]
    assert all(t.error is None and t.transport == "http" and t.elapsed_s >= 0 for t in traces)
    # the nonce is reused: after the first challenge every call takes one request (ids 2, 3, 4)
    ids = [t.request["id"] for t in traces]
    assert ids[1:] == [ids[0] + 1, ids[0] + 2, ids[0] + 3]
    text = json.dumps([t.request for t in traces] + [t.reply for t in traces])
    assert ap_light.setup_code not in text
    assert all(t.request["auth"] == "<redacted>" for t in traces)


async def test_setup_code_as_printed_on_the_label(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    code = ap_light.setup_code
    async with ap_client(session, ap_light, f"{code[:4]}-{code[4:]}") as client:
        assert (await client.get_status())["source"]


async def test_without_password(session: aiohttp.ClientSession, ap_light: SimLight) -> None:
    async with ap_client(session, ap_light) as client:
        reduced = await client.get_info()
        assert reduced["auth_required"] is True and reduced["id"] == ap_light.device_id
        assert "mac" not in reduced
        with pytest.raises(AuthError) as caught:
            await client.get_status()
        assert caught.value.reason == "missing_credentials"
        client.set_password(ap_light.setup_code)
        assert "on" in await client.get_status()


async def test_wrong_password_then_rate_limited(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    async with ap_client(session, ap_light, "WRONG-CODE") as client:
        with pytest.raises(AuthError) as caught:
            await client.get_info()  # with a password, get_info() insists on the full info
        assert caught.value.reason == "wrong_credentials"
        assert "WRONG-CODE" not in str(caught.value)
        with pytest.raises(AuthError) as caught:
            await client.get_status()
        assert caught.value.reason == "wrong_credentials"
        assert "WRONG-CODE" not in str(caught.value)
        reasons = []
        for _ in range(12):
            with pytest.raises(AuthError) as caught:
                await client.get_status()
            reasons.append(caught.value.reason)
            if caught.value.reason == "rate_limited":
                break
        assert reasons[-1] == "rate_limited"
        client.set_password(ap_light.setup_code)  # even the right code waits out the block
        with pytest.raises(AuthError) as caught:
            await client.get_status()
        assert caught.value.reason == "rate_limited"


async def test_rpc_errors_carry_code_and_method(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    async with ap_client(session, ap_light, ap_light.setup_code) as client:
        with pytest.raises(RpcError) as caught:
            await client.call("No.SuchMethod")
        assert (caught.value.code, caught.value.method) == (404, "No.SuchMethod")
        with pytest.raises(RpcError) as caught:
            await client.config_set({"wifi": {"sta": {"sid": "typo"}}})
        assert caught.value.code == 404 and "wifi.sta.sid" in caught.value.message
        with pytest.raises(RpcError) as caught:
            await client.set_light(brightness=101)
        assert caught.value.code == 400
        with pytest.raises(RpcError) as caught:
            await client.config_set({"device": {"id": "x"}})
        assert caught.value.code == 403


async def test_config_helpers_and_secrets_stay_out_of_traces(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    traces: list[RpcTrace] = []
    async with ap_client(session, ap_light, ap_light.setup_code, trace=traces.append) as client:
        result = await client.config_set(
            {"device": {"name": "Desk"}, "mqtt": {"pass": "mqtt-pass-in-test"}}
        )
        assert result["saved"] is False
        assert await client.config_get("device.name") == "Desk"
        tree = await client.config_get()
        assert tree["mqtt"]["pass_set"] is True and "pass" not in tree["mqtt"]
        assert (await client.config_save())["saved"] is True
        networks = await client.wifi_scan()
        assert networks and {"ssid", "bssid", "auth", "channel", "rssi"} <= set(networks[0])
        status = await client.wifi_status()
        assert status["setup_state"] == "unconfigured"
    text = json.dumps([(t.request, t.reply) for t in traces])
    assert "mqtt-pass-in-test" not in text and ap_light.setup_code not in text
    assert '"pass": "<redacted>"' in text


async def test_md5_and_http_digest_header_against_the_firmware(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    host, port = host_port(ap_light.ap_url)
    url = f"http://{host}:{port}/rpc"
    frame: dict[str, Any] = {"id": 1, "src": "t", "method": "Light.GetStatus", "params": {}}
    async with session.post(url, json=frame) as resp:
        assert resp.status == 401
        body = await resp.json()
        header = parse_www_authenticate(resp.headers["WWW-Authenticate"])
    challenge = parse_challenge_message(body["error"]["message"])
    assert str(challenge.nonce) == str(header.nonce) and challenge.realm == ap_light.device_id

    auth = DigestAuth("admin", ap_light.setup_code)
    auth.update(parse_challenge_message(body["error"]["message"].replace("SHA-256", "MD5")))
    first_answer = auth.frame_auth()
    async with session.post(url, json={**frame, "id": 2, "auth": first_answer}) as resp:
        assert (await resp.json())["result"]["source"]
    # the same nonce with the next nc, as an HTTP digest header (what curl --digest sends)
    headers = {"Authorization": auth.http_authorization("POST", "/rpc")}
    async with session.post(url, json={**frame, "id": 3}, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["id"] == 3
    # a replayed answer (nc not higher) is refused with a fresh challenge
    async with session.post(url, json={**frame, "id": 4, "auth": first_answer}) as resp:
        assert resp.status == 401
        fresh = parse_challenge_message((await resp.json())["error"]["message"])
    assert fresh.nonce != challenge.nonce


async def test_lan_secret_after_pairing(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    host, port = await pair_on_lan(session, ap_light)
    async with DeviceClient(session, host, port, password=LAN_SECRET, timeout=30) as client:
        info = await client.get_info()
        assert info["setup_state"] == "awaiting_confirm"
        assert (await client.call("Setup.Confirm"))["confirmed"] is True
    async with DeviceClient(session, host, port, password=ap_light.setup_code) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_status()
        assert caught.value.reason == "wrong_credentials"


async def test_websocket_calls_and_notifications(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    traces: list[RpcTrace] = []
    client = ap_client(session, ap_light, ap_light.setup_code, trace=traces.append)
    events: list[ConnectionEvent] = []
    client.subscribe_connection(events.append)
    await client.connect_ws()
    assert client.ws_connected
    first: list[Notification] = []
    second: list[Notification] = []
    unsubscribe_first = client.subscribe(first.append)
    client.subscribe(second.append)

    status = await client.set_light(on=True, brightness=55)
    assert traces[-1].transport == "ws"
    await eventually(lambda: any(
        n.method == "NotifyStatus" and n.params.get("light:0", {}).get("rev") == status["rev"]
        for n in first
    ))
    note = next(n for n in first if n.method == "NotifyStatus")
    assert note.src == ap_light.device_id and note.params["light:0"]["brightness"] == 55

    unsubscribe_first()
    unsubscribe_first()  # twice is harmless
    seen = len(first)
    # changed by another client over HTTP: notifications reach us all the same
    async with ap_client(session, ap_light, ap_light.setup_code, transport="http") as other:
        changed = await other.set_light(brightness=20)
    await eventually(lambda: any(
        n.params.get("light:0", {}).get("rev") == changed["rev"] for n in second
    ))
    assert len(first) == seen  # delivered in the same loop turn as `second`: no wait needed
    await client.close()
    assert events[0].state is ConnectionState.CONNECTED
    assert events[-1].state is ConnectionState.CLOSED


async def test_websocket_reconnects_after_reboot(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    client = ap_client(session, ap_light, ap_light.setup_code, backoff=FAST)
    events: list[ConnectionEvent] = []
    client.subscribe_connection(events.append)
    notes: list[Notification] = []
    client.subscribe(notes.append)
    await client.connect_ws()
    boots = ap_light.boots
    await client.reboot(delay_ms=0)
    await eventually(lambda: events[-1].state is ConnectionState.CONNECTED and len(events) > 1, 60)
    assert ap_light.boots > boots
    states = [e.state for e in events]
    assert states[0] is ConnectionState.CONNECTED
    assert ConnectionState.RECONNECTING in states
    # resubscribed: the rebooted light pushes to us again; the stale nonce is renewed by itself
    status = await client.set_light(on=True, brightness=77)
    await eventually(lambda: any(
        n.params.get("light:0", {}).get("rev") == status["rev"] for n in notes
    ))
    await client.close()


async def test_power_cut_fails_pending_and_reconnects_after_power_on(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    client = ap_client(session, ap_light, ap_light.setup_code, backoff=FAST)
    events: list[ConnectionEvent] = []
    client.subscribe_connection(events.append)
    await client.connect_ws()
    ap_light.power_cut()
    await eventually(lambda: any(e.state is ConnectionState.RECONNECTING and e.attempt >= 1
                               for e in events))
    assert not client.ws_connected
    assert any(e.error for e in events if e.state is ConnectionState.RECONNECTING)
    await ap_light.power_on()
    await ap_light.wait_event("ap_started", timeout_s=60)
    await eventually(lambda: events[-1].state is ConnectionState.CONNECTED, 60)
    assert events[-1].attempt >= 1
    assert (await client.get_status())["source"]
    await client.close()


async def test_close_leaves_no_tasks(session: aiohttp.ClientSession, ap_light: SimLight) -> None:
    def ours() -> set[asyncio.Task[Any]]:
        found = set()
        for task in asyncio.all_tasks():
            code = getattr(task.get_coro(), "cr_code", None)
            if code is not None and "hub_app/device" in code.co_filename.replace("\\", "/"):
                found.add(task)
        return found

    client = ap_client(session, ap_light, ap_light.setup_code, backoff=FAST)
    events: list[ConnectionEvent] = []
    client.subscribe_connection(events.append)
    await client.connect_ws()
    assert ours()  # the receive task runs
    ap_light.power_cut()  # a reconnect run starts and keeps failing
    await eventually(lambda: any(e.attempt >= 1 for e in events))
    assert ours()  # the reconnect task runs
    await client.close()
    await client.close()  # idempotent
    assert not ours()
    with pytest.raises(RuntimeError):
        await client.call("RPC.Ping")


async def test_probe_identifies_a_hublight(
    session: aiohttp.ClientSession, ap_light: SimLight
) -> None:
    host, port = host_port(ap_light.ap_url)
    result = await probe(session, host, port)
    assert result.kind is DeviceKind.HUBLIGHT
    assert result.device_id == ap_light.device_id and result.model == "HL-S1"
    assert result.auth_required is True


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_many_concurrent_calls(
    session: aiohttp.ClientSession, ap_light: SimLight, transport: str
) -> None:
    """More calls at once than the light takes connections (8), sharing one nonce."""
    async with ap_client(session, ap_light, ap_light.setup_code) as client:
        if transport == "ws":
            await client.connect_ws()
        results = await asyncio.gather(*(client.get_status() for _ in range(24)))
        assert all("rev" in r for r in results)
        levels = await asyncio.gather(*(client.set_light(brightness=b) for b in range(1, 13)))
        assert sorted(r["brightness"] for r in levels) == list(range(1, 13))
