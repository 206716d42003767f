"""hublight.httpd WebSocket transport: RFC 6455 handshake, frames, notifications, bad frames."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import Any

import aiohttp
import pytest
from hublight import wsproto
from test_httpd import TIMEOUT, Served, ServeFactory, serve, served, session, still_serves

__all__ = ["serve", "served", "session"]  # fixtures shared with test_httpd


class RawWebSocket:
    """A minimal WebSocket client over a plain stream, to send frames aiohttp never would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = b""

    @classmethod
    async def connect(cls, port: int, extra_headers: str = "") -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(("GET /rpc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + key + "\r\n"
                      "Sec-WebSocket-Version: 13\r\n" + extra_headers + "\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert ("Sec-WebSocket-Accept: " + wsproto.accept_key(key)).encode() in head
        return cls(reader, writer)

    async def send_frame(self, opcode: int, payload: bytes, fin: bool = True,
                         masked: bool = True, first_byte: int | None = None) -> None:
        frame = wsproto.encode_frame(opcode, payload, fin, os.urandom(4) if masked else None)
        if first_byte is not None:
            frame = bytes([first_byte]) + frame[1:]
        self.writer.write(frame)
        await self.writer.drain()

    async def receive(self) -> tuple[int, bytes]:
        while True:
            decoded = wsproto.decode_frame(self.buffer, 1 << 20, require_mask=False)
            if decoded is not None:
                self.buffer = self.buffer[decoded[3]:]
                assert decoded[0], "server messages are not fragmented"
                return decoded[1], decoded[2]
            data = await asyncio.wait_for(self.reader.read(4096), TIMEOUT)
            if not data:
                raise ConnectionError("closed")
            self.buffer += data

    async def receive_json(self) -> Any:
        opcode, payload = await self.receive()
        assert opcode == wsproto.OP_TEXT
        return json.loads(payload)

    async def expect_close(self, code: int) -> None:
        opcode, payload = await self.receive()
        assert opcode == wsproto.OP_CLOSE
        assert struct.unpack(">H", payload[:2])[0] == code
        # After the close frame the server closes the TCP connection.
        assert await asyncio.wait_for(self.reader.read(), TIMEOUT) == b""

    def close(self) -> None:
        self.writer.close()


async def test_request_reply_and_notifications(served: Served,
                                               session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(served.url + "/rpc") as ws:
        await ws.send_str(json.dumps({"id": 1, "method": "Echo", "params": [1]}))
        assert json.loads(await ws.receive_str(timeout=TIMEOUT)) == {
            "id": 1, "src": "hublight-1a2b3c", "result": [1]}
        assert served.notifier.subscribers == []  # no src yet: no notifications
        await ws.send_str(json.dumps({"id": 2, "src": "hub-42", "method": "Ctx"}))
        reply = json.loads(await ws.receive_str(timeout=TIMEOUT))
        assert reply["dst"] == "hub-42"
        assert reply["result"] == {"transport": "ws", "iface": "lan", "peer": "127.0.0.1",
                                   "http": None}
        assert len(served.notifier.subscribers) == 1
        served.notifier.publish({"src": "hublight-1a2b3c", "method": "NotifyStatus",
                                 "params": {"ts": 1.0, "light:0": {"on": True}}})
        assert json.loads(await ws.receive_str(timeout=TIMEOUT)) == {
            "src": "hublight-1a2b3c", "dst": "hub-42", "method": "NotifyStatus",
            "params": {"ts": 1.0, "light:0": {"on": True}}}
        # A second src on the same socket does not subscribe twice.
        await ws.send_str(json.dumps({"id": 3, "src": "other", "method": "Echo"}))
        await ws.receive_str(timeout=TIMEOUT)
        assert len(served.notifier.subscribers) == 1
    for _ in range(100):
        if not served.notifier.subscribers:
            break
        await asyncio.sleep(0.02)
    assert served.notifier.subscribers == []


async def test_bad_json_gets_error_frame_and_socket_stays(served: Served,
                                                          session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(served.url + "/rpc") as ws:
        await ws.send_str("{nope")
        reply = json.loads(await ws.receive_str(timeout=TIMEOUT))
        assert reply["error"]["code"] == 400
        await ws.send_str("[1]")
        assert json.loads(await ws.receive_str(timeout=TIMEOUT))["error"]["code"] == 400
        await ws.send_str(json.dumps({"id": 9, "method": "Boom"}))
        assert json.loads(await ws.receive_str(timeout=TIMEOUT)) == {
            "id": 9, "error": {"code": 500, "message": "internal error"}}
        await ws.send_bytes(json.dumps({"id": 10, "method": "Echo", "params": 5}).encode())
        assert json.loads(await ws.receive_str(timeout=TIMEOUT))["result"] == 5


async def test_ping_is_answered_with_pong(served: Served,
                                          session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(served.url + "/rpc", autoping=False) as ws:
        await ws.ping(b"are you there")
        message = await ws.receive(timeout=TIMEOUT)
        assert message.type == aiohttp.WSMsgType.PONG
        assert message.data == b"are you there"


async def test_message_over_16k_closes_with_1009(served: Served,
                                                 session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(served.url + "/rpc") as ws:
        await ws.send_str(json.dumps({"id": 1, "method": "Echo", "params": "x" * 17000}))
        message = await ws.receive(timeout=TIMEOUT)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == 1009
    await still_serves(served, session)


async def test_fragmented_message_with_ping_in_between(served: Served) -> None:
    ws = await RawWebSocket.connect(served.port)
    try:
        text = json.dumps({"id": 5, "method": "Echo", "params": {"frag": "mented"}}).encode()
        await ws.send_frame(wsproto.OP_TEXT, text[:10], fin=False)
        await ws.send_frame(wsproto.OP_PING, b"p")
        await ws.send_frame(wsproto.OP_CONTINUATION, text[10:20], fin=False)
        await ws.send_frame(wsproto.OP_CONTINUATION, text[20:], fin=True)
        assert await ws.receive() == (wsproto.OP_PONG, b"p")
        assert (await ws.receive_json())["result"] == {"frag": "mented"}
        await ws.send_frame(wsproto.OP_CLOSE, wsproto.close_payload(1000, "bye"))
        await ws.expect_close(1000)
    finally:
        ws.close()


async def test_fragments_adding_up_over_the_limit_close_1009(served: Served) -> None:
    ws = await RawWebSocket.connect(served.port)
    try:
        for _ in range(3):
            await ws.send_frame(wsproto.OP_TEXT if _ == 0 else wsproto.OP_CONTINUATION,
                                b" " * 6000, fin=False)
        await ws.expect_close(1009)
    finally:
        ws.close()


@pytest.mark.parametrize(("name", "code"), [
    ("unmasked", 1002), ("reserved_bits", 1002), ("unknown_opcode", 1002),
    ("bad_utf8", 1007), ("orphan_continuation", 1002), ("long_ping", 1002),
    ("fragmented_ping", 1002), ("huge_declared_length", 1009), ("bad_close_code", 1002),
])
async def test_invalid_frames_close_with_the_right_code(
        served: Served, session: aiohttp.ClientSession, name: str, code: int) -> None:
    ws = await RawWebSocket.connect(served.port)
    try:
        if name == "unmasked":
            await ws.send_frame(wsproto.OP_TEXT, b"{}", masked=False)
        elif name == "reserved_bits":
            await ws.send_frame(wsproto.OP_TEXT, b"{}", first_byte=0x80 | 0x40 | 0x1)
        elif name == "unknown_opcode":
            await ws.send_frame(0x3, b"{}", first_byte=0x83)
        elif name == "bad_utf8":
            await ws.send_frame(wsproto.OP_TEXT, b"\xff\xfe")
        elif name == "orphan_continuation":
            await ws.send_frame(wsproto.OP_CONTINUATION, b"{}")
        elif name == "long_ping":
            await ws.send_frame(wsproto.OP_PING, b"x" * 126)
        elif name == "fragmented_ping":
            await ws.send_frame(wsproto.OP_PING, b"x", fin=False)
        elif name == "huge_declared_length":
            # Only the header of a 1 GB frame: the server must not wait for (or buffer) it.
            ws.writer.write(b"\x81\xff" + struct.pack(">Q", 1 << 30) + os.urandom(4))
            await ws.writer.drain()
        elif name == "bad_close_code":
            await ws.send_frame(wsproto.OP_CLOSE, struct.pack(">H", 999))
        await ws.expect_close(code)
    finally:
        ws.close()
    await still_serves(served, session)


async def test_silent_peer_is_pinged_then_dropped(serve: ServeFactory,
                                                  session: aiohttp.ClientSession) -> None:
    served = await serve(ws_ping_interval_s=0.3)
    ws = await RawWebSocket.connect(served.port)
    try:
        opcode, _ = await ws.receive()
        assert opcode == wsproto.OP_PING
        # We never answer: the server gives up on us.
        assert await asyncio.wait_for(ws.reader.read(), TIMEOUT) == b""
    finally:
        ws.close()
    # A client that answers pings (aiohttp's autoping) stays connected across several intervals.
    async with session.ws_connect(served.url + "/rpc") as live:
        for _ in range(4):
            await asyncio.sleep(0.3)
            await live.send_str(json.dumps({"id": 1, "method": "Echo", "params": 1}))
            assert json.loads(await live.receive_str(timeout=TIMEOUT))["result"] == 1


async def test_bad_handshakes_are_refused(served: Served,
                                          session: aiohttp.ClientSession) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /rpc HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13" in answer
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /rpc HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    await still_serves(served, session)


async def test_json_rpc_subprotocol_is_echoed(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /rpc HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Protocol: json-rpc\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    writer.close()
    # The RFC 6455 example key and accept value.
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head
    assert b"Sec-WebSocket-Protocol: json-rpc\r\n" in head


async def test_slow_consumer_backlog_closes_socket(serve: ServeFactory) -> None:
    served = await serve(ws_max_pending=4)
    ws = await RawWebSocket.connect(served.port)
    try:
        await ws.send_frame(wsproto.OP_TEXT, json.dumps(
            {"id": 1, "src": "hub", "method": "Echo"}).encode())
        await ws.receive_json()
        # Many notifications at once, without yielding to the loop: the backlog overflows.
        for n in range(10):
            served.notifier.publish({"method": "NotifyStatus", "params": {"n": n}})
        await ws.expect_close(1013)
    finally:
        ws.close()
    assert served.notifier.subscribers == []


async def test_close_all_sends_going_away(served: Served) -> None:
    ws = await RawWebSocket.connect(served.port)
    try:
        for _ in range(100):
            if served.server.connections and served.server.connections[0].session:
                break
            await asyncio.sleep(0.02)
        await served.server.close_all()
        await ws.expect_close(1001)
    finally:
        ws.close()
