"""DeviceClient against raw servers on real sockets: failures, malformed replies, Mongoose/Shelly.

These servers stand in for misbehaving or foreign devices that the simulator cannot be made into.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hublight import auth as firmware_auth

from hub_app.device import (
    AuthError,
    BadReplyError,
    ConnectionEvent,
    ConnectionState,
    DeviceClient,
    DeviceConnectionError,
    DeviceKind,
    DeviceTimeoutError,
    Notification,
    RpcError,
    RpcTrace,
    probe,
)
from hub_app.device.digest import parse_www_authenticate

from .conftest import eventually

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Start = Callable[[Handler], Awaitable[tuple[str, int]]]


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[str, int]]:
    """A TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    traces: list[RpcTrace] = []
    client = DeviceClient(session, "127.0.0.1", free_port(), trace=traces.append, timeout=30)
    with pytest.raises(DeviceConnectionError) as caught:
        await client.call("RPC.Ping")
    assert "refused" in str(caught.value).lower()
    with pytest.raises(DeviceConnectionError):
        await client.connect_ws()
    assert not client.ws_connected
    assert traces[0].error and traces[0].reply is None
    await client.close()


async def test_no_answer_times_out(
    session: aiohttp.ClientSession, silent_server: tuple[str, int]
) -> None:
    traces: list[RpcTrace] = []
    client = DeviceClient(session, *silent_server, timeout=30, trace=traces.append)
    with pytest.raises(DeviceTimeoutError) as caught:
        await client.call("RPC.Ping", timeout=0.3)
    assert "did not answer RPC.Ping" in str(caught.value)
    assert traces[-1].error == str(caught.value)
    with pytest.raises(DeviceTimeoutError):
        await client.connect_ws(timeout=0.3)
    await client.close()


def reply_with(body: bytes | str, status: int = 200, **headers: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        text = body if isinstance(body, str) else body.decode("latin-1")
        return web.Response(text=text, status=status, headers=headers)

    return handler


def reply_frame(build: Callable[[dict[str, Any]], Any], status: int = 200) -> Any:
    async def handler(request: web.Request) -> web.Response:
        frame = await request.json()
        return web.json_response(build(frame), status=status)

    return handler


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (reply_with("<html>hello</html>"), "not JSON"),
        (reply_with(b"\xff\xfe\x00garbage"), "not JSON"),
        (reply_with("[1, 2, 3]"), "not a JSON object"),
        (reply_frame(lambda f: {"id": f["id"] + 1, "result": 1}), "expected"),
        (reply_frame(lambda f: {"id": str(f["id"]), "result": 1}), "expected"),
        (reply_frame(lambda f: {"result": 1}), "expected"),
        (reply_frame(lambda f: {"id": f["id"], "error": "boom"}), "malformed error"),
        (reply_frame(lambda f: {"id": f["id"], "error": {"code": "x"}}), "malformed error"),
        (reply_with("<h1>Internal</h1>", status=500), "HTTP 500"),
        (reply_with("Not Found", status=404), "HTTP 404"),
    ],
)
async def test_malformed_replies(
    session: aiohttp.ClientSession, raw_server: Start, handler: Any, expected: str
) -> None:
    host, port = await raw_server(handler)
    async with DeviceClient(session, host, port, timeout=30) as client:
        with pytest.raises(BadReplyError) as caught:
            await client.call("Sys.GetInfo")
        assert expected in str(caught.value)


async def test_mongoose_conventions(session: aiohttp.ClientSession, raw_server: Start) -> None:
    seen: list[dict[str, Any]] = []

    def build(frame: dict[str, Any]) -> dict[str, Any]:
        seen.append(frame)
        if frame["method"] == "Config.Save":
            return {"id": frame["id"], "src": "esp32_0A1B2C", "error": {"code": 0, "message": ""}}
        if frame["method"] == "Sys.Reboot":
            return {"id": frame["id"], "src": "esp32_0A1B2C"}  # no result at all: null
        return {"id": frame["id"], "error": {"code": -1, "message": "generic failure"}}

    host, port = await raw_server(reply_frame(build))
    async with DeviceClient(session, host, port, timeout=30, src="hub-test") as client:
        assert await client.call("Config.Save", {"reboot": False}) is None
        assert await client.call("Sys.Reboot") is None
        with pytest.raises(RpcError) as caught:
            await client.call("FS.List")
        assert caught.value.code == -1 and "generic failure" in str(caught.value)
        assert client.device_id == "esp32_0A1B2C"
    assert all(isinstance(f["id"], int) and f["src"] == "hub-test" and "params" in f for f in seen)
    assert seen[0]["params"] == {"reboot": False} and seen[1]["params"] == {}


async def test_challenge_from_www_authenticate_only(
    session: aiohttp.ClientSession, raw_server: Start
) -> None:
    """A device that answers 401 with only a header (no JSON body) still gets authenticated."""
    nonces = iter(range(1000, 2000))
    current = {"nonce": "0"}
    password = "s3cret-pass"

    async def handler(request: web.Request) -> web.Response:
        frame = await request.json()
        auth = frame.get("auth")
        if auth:
            expected = firmware_auth.digest_response(
                auth["algorithm"], "admin", "dev-1", password, str(auth["nonce"]),
                f"{auth['nc']:08x}", auth["cnonce"], firmware_auth.FRAME_HA2_INPUT,
            )
            if str(auth["nonce"]) == current["nonce"] and auth["response"] == expected:
                return web.json_response({"id": frame["id"], "result": {"ok": auth["nc"]}})
        current["nonce"] = str(next(nonces))
        header = f'Digest qop="auth", realm="dev-1", nonce="{current["nonce"]}", algorithm=MD5'
        return web.Response(status=401, text="", headers={"WWW-Authenticate": header})

    host, port = await raw_server(handler)
    async with DeviceClient(session, host, port, password=password, timeout=30) as client:
        assert await client.call("Shelly.GetStatus") == {"ok": 1}
        assert await client.call("Shelly.GetStatus") == {"ok": 2}  # same nonce, next nc
        client.set_password("wrong")
        with pytest.raises(AuthError) as caught:
            await client.call("Shelly.GetStatus")
        assert caught.value.reason == "wrong_credentials"
    assert parse_www_authenticate(
        f'Digest realm="dev-1", nonce="{current["nonce"]}"'
    ).algorithm == "MD5"


async def test_http_429_is_rate_limited(session: aiohttp.ClientSession, raw_server: Start) -> None:
    host, port = await raw_server(reply_with("", status=429))
    async with DeviceClient(session, host, port, password="x" * 16, timeout=30) as client:
        with pytest.raises(AuthError) as caught:
            await client.call("Light.GetStatus")
        assert caught.value.reason == "rate_limited"


async def test_callbacks_that_raise_do_not_break_calls(
    session: aiohttp.ClientSession, raw_server: Start
) -> None:
    host, port = await raw_server(reply_frame(lambda f: {"id": f["id"], "result": "pong"}))

    def bad_trace(record: RpcTrace) -> None:
        raise ValueError("trace consumer bug")

    async with DeviceClient(session, host, port, trace=bad_trace, timeout=30) as client:
        assert await client.call("RPC.Ping") == "pong"


class FakeWsDevice:
    """A WebSocket device that sends `prelude` frames before answering each request."""

    def __init__(self) -> None:
        self.prelude: list[str | bytes] = []
        self.silent_methods: set[str] = set()
        self.sockets: list[web.WebSocketResponse] = []
        self.connections = 0
        self.received: dict[str, asyncio.Event] = {"Hangs": asyncio.Event()}

    async def handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connections += 1
        async for message in ws:
            frame = json.loads(message.data)
            self.received.setdefault(frame["method"], asyncio.Event()).set()
            for junk in self.prelude:
                await (ws.send_bytes(junk) if isinstance(junk, bytes) else ws.send_str(junk))
            if frame["method"] in self.silent_methods:
                continue
            await ws.send_json({"id": frame["id"], "src": "fake-1", "result": frame["method"]})
            await ws.send_json({"src": "fake-1", "method": "NotifyEvent",
                                "params": {"after": frame["method"]}})
        return ws


async def test_websocket_survives_garbage_and_unknown_ids(
    session: aiohttp.ClientSession, raw_server: Start
) -> None:
    device = FakeWsDevice()
    device.prelude = [
        "not json at all", "[1,2]", "42", b"\x00\xffbinary junk", '{"id": 999999, "result": 1}',
        '{"id": "weird", "result": 1}', '{"method": "NotifyStatus", "params": [1]}',
        '{"method": 5}', '{"id": 7, "src": "fake-1", "method": "Request.FromDevice"}',
    ]
    device.silent_methods = {"Never.Answered"}
    host, port = await raw_server(device.handler)
    client = DeviceClient(session, host, port, timeout=30, reconnect=False)
    notes: list[Notification] = []

    def broken(note: Notification) -> None:
        raise RuntimeError("subscriber bug")

    client.subscribe(broken)
    client.subscribe(notes.append)
    await client.connect_ws()
    assert await client.call("First.Call") == "First.Call"
    with pytest.raises(DeviceTimeoutError):
        await client.call("Never.Answered", timeout=0.3)
    assert await client.call("Second.Call", transport="ws") == "Second.Call"
    await eventually(lambda: any(n.params.get("after") == "Second.Call" for n in notes))
    assert all(n.method == "NotifyEvent" and n.src == "fake-1" for n in notes)
    assert client.ws_connected
    await client.close()


async def test_websocket_loss_fails_pending_calls(
    session: aiohttp.ClientSession, raw_server: Start
) -> None:
    device = FakeWsDevice()
    device.silent_methods = {"Hangs"}
    host, port = await raw_server(device.handler)
    client = DeviceClient(session, host, port, timeout=30, reconnect=False)
    events: list[ConnectionEvent] = []
    client.subscribe_connection(events.append)
    await client.connect_ws()
    pending = asyncio.ensure_future(client.call("Hangs"))
    await asyncio.wait_for(device.received["Hangs"].wait(), 30)
    await device.sockets[-1].close()
    with pytest.raises(DeviceConnectionError):
        await pending
    assert [e.state for e in events] == [ConnectionState.CONNECTED, ConnectionState.DISCONNECTED]
    with pytest.raises(DeviceConnectionError):
        await client.call("Any", transport="ws")
    with pytest.raises(BadReplyError) as caught:  # "auto" falls back to HTTP, which this
        await client.call("Any", transport="auto")  # WebSocket-only fake does not speak
    assert "HTTP 400" in str(caught.value)
    await client.close()


async def test_probe_mongoose_and_shelly(session: aiohttp.ClientSession, raw_server: Start) -> None:
    def mongoose(frame: dict[str, Any]) -> dict[str, Any]:
        if frame["method"] == "Sys.GetInfo":
            return {"id": frame["id"], "src": "esp32_0A1B2C", "result": {
                "id": "esp32_0A1B2C", "app": "smart-light", "fw_version": "1.0",
                "fw_id": "20190101-000000", "arch": "esp32"}}
        return {"id": frame["id"], "error": {"code": 404, "message": "No handler"}}

    def shelly(frame: dict[str, Any]) -> dict[str, Any]:
        if frame["method"] == "Shelly.GetDeviceInfo":
            return {"id": frame["id"], "src": "shellyplus1-abc", "result": {
                "name": None, "id": "shellyplus1-abc", "mac": "A8032ABCDEF0",
                "model": "SNSW-001X16EU", "gen": 2, "fw_id": "20230912-082220/1.0.3",
                "ver": "1.0.3", "app": "Plus1",
                "auth_en": True, "auth_domain": "shellyplus1-abc"}}
        return {"id": frame["id"], "src": "shellyplus1-abc",
                "error": {"code": 404, "message": f"No handler for {frame['method']}"}}

    host, port = await raw_server(reply_frame(mongoose))
    found = await probe(session, host, port)
    assert (found.kind, found.device_id, found.auth_required) == (
        DeviceKind.MONGOOSE_OS, "esp32_0A1B2C", False)

    host, port = await raw_server(reply_frame(shelly))
    found = await probe(session, host, port)
    assert (found.kind, found.device_id, found.model, found.fw_version, found.auth_required) == (
        DeviceKind.SHELLY_GEN2, "shellyplus1-abc", "SNSW-001X16EU", "1.0.3", True)

    host, port = await raw_server(reply_frame(lambda f: {"id": f["id"], "result": {"x": 1}}))
    with pytest.raises(BadReplyError):
        await probe(session, host, port)
