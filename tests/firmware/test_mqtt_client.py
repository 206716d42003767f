"""hublight.mqtt against a real Mosquitto (anonymous, passwords, TLS) and paho-mqtt as a peer."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from hublight.board import Board
from hublight.mqtt import MqttClient, MqttConnectError, MqttError

from hub_app.testing import MosquittoBroker

pytestmark = pytest.mark.mosquitto

TIMEOUT = 30.0


class NetBoard(Board):
    """A thin real Board for network tests: only streams (with TLS) and the clock."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []

    def ticks_ms(self) -> int:
        return int(time.monotonic() * 1000)

    def time(self) -> float:
        return time.time()

    async def open_connection(
        self, host: str, port: int, tls: dict[str, Any] | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context: ssl.SSLContext | None = None
        server_hostname: str | None = None
        if tls is not None:
            ca = tls.get("ca") or ""
            context = (ssl.create_default_context(cadata=ca) if ca
                       else ssl.create_default_context())
            server_hostname = tls.get("server_hostname") or host
        reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                       server_hostname=server_hostname)
        self.writers.append(writer)
        return reader, writer

    def power_cut(self) -> None:
        """Abort every socket without a FIN or DISCONNECT (as a light losing power)."""
        for writer in self.writers:
            writer.transport.abort()


class Received:
    """Collects on_message calls."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue()

    def __call__(self, topic: str, payload: bytes, retain: bool) -> None:
        self.queue.put_nowait((topic, payload, retain))

    async def next(self) -> tuple[str, bytes, bool]:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)


class PahoWatcher:
    """A paho subscriber on its own thread."""

    def __init__(self, broker: MosquittoBroker, topic: str, client_id: str = "watcher") -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        subscribed: queue.Queue[bool] = queue.Queue()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = lambda c, u, m: self.messages.put(
            (m.topic, m.payload, bool(m.retain)))
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.put(True)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        subscribed.get(timeout=TIMEOUT)

    async def next(self) -> tuple[str, bytes, bool]:
        return await asyncio.to_thread(self.messages.get, True, TIMEOUT)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
async def board() -> AsyncIterator[NetBoard]:
    net = NetBoard()
    yield net
    for writer in net.writers:
        writer.close()


def client_for(board: NetBoard, broker: MosquittoBroker, client_id: str = "hublight-test",
               **options: Any) -> MqttClient:
    return MqttClient(board, client_id, broker.host, broker.port, **options)


async def test_publish_subscribe_qos0_and_qos1(board: NetBoard,
                                               mosquitto: MosquittoBroker) -> None:
    client = client_for(board, mosquitto)
    received = Received()
    client.on_message = received
    await client.connect()
    try:
        assert await client.subscribe("light/#", qos=1) == 1
        await client.publish("light/a", b"zero", qos=0)
        assert await received.next() == ("light/a", b"zero", False)
        await client.publish("light/b", "one", qos=1)
        assert await received.next() == ("light/b", b"one", False)
        await client.publish("light/retained", b"kept", retain=True, qos=1)
        assert await received.next() == ("light/retained", b"kept", False)
        assert await client.subscribe("light/retained") == 1
        assert await received.next() == ("light/retained", b"kept", True)
        big = bytes(range(256)) * 200
        await client.publish("light/big", big, qos=1)
        assert await received.next() == ("light/big", big, False)
    finally:
        await client.disconnect()
    await asyncio.wait_for(client.run(), TIMEOUT)  # returns quietly after disconnect()


async def test_incoming_qos1_from_paho_and_handler_errors(board: NetBoard,
                                                          mosquitto: MosquittoBroker) -> None:
    client = client_for(board, mosquitto)
    received = Received()

    def handler(topic: str, payload: bytes, retain: bool) -> None:
        if payload == b"crash":
            raise ValueError("handler bug")
        received(topic, payload, retain)

    client.on_message = handler
    await client.connect()
    watcher = PahoWatcher(mosquitto, "unused/#")
    try:
        await client.subscribe("cmd/#")
        await asyncio.to_thread(watcher.publish, "cmd/x", b"crash")
        await asyncio.to_thread(watcher.publish, "cmd/x", b"after")
        assert await received.next() == ("cmd/x", b"after", False)
        assert client.connected
    finally:
        watcher.close()
        await client.disconnect()


async def test_coroutine_handler_may_publish_qos1(board: NetBoard,
                                                 mosquitto: MosquittoBroker) -> None:
    client = client_for(board, mosquitto)
    replies = Received()

    async def handler(topic: str, payload: bytes, retain: bool) -> None:
        if topic == "in":
            # Waits for a PUBACK that the reader must receive while this handler runs.
            await client.publish("out", payload + b"!", qos=1)
        else:
            replies(topic, payload, retain)

    client.on_message = handler
    await client.connect()
    try:
        await client.subscribe("in")
        await client.subscribe("out")
        await client.publish("in", b"ping", qos=1)
        assert await replies.next() == ("out", b"ping!", False)
    finally:
        await client.disconnect()


async def test_password_broker(board: NetBoard, mosquitto_factory: Any) -> None:
    broker = mosquitto_factory(users={"hublight": "p@ss w=rd&+"})
    good = client_for(board, broker, user="hublight", password="p@ss w=rd&+")
    await good.connect()
    await good.publish("t", b"x", qos=1)
    await good.disconnect()
    for user, password in (("hublight", "wrong"), (None, None)):
        bad = client_for(board, broker, "bad-client", user=user, password=password)
        with pytest.raises(MqttConnectError) as refused:
            await bad.connect()
        assert refused.value.code in (4, 5)
        assert "CONNACK" in refused.value.reason
        assert not bad.connected


async def test_tls_broker_verified_with_its_ca(board: NetBoard, mosquitto_factory: Any) -> None:
    broker = mosquitto_factory(tls=True)
    other = mosquitto_factory(tls=True)
    client = client_for(board, broker, tls={"ca": broker.tls.ca_pem,
                                            "server_hostname": "localhost"})
    received = Received()
    client.on_message = received
    await client.connect()
    try:
        await client.subscribe("secure")
        await client.publish("secure", b"tls works", qos=1)
        assert await received.next() == ("secure", b"tls works", False)
    finally:
        await client.disconnect()
    untrusted = client_for(board, broker, tls={"ca": other.tls.ca_pem,
                                               "server_hostname": "localhost"})
    with pytest.raises(MqttError, match="cannot connect"):
        await untrusted.connect()


async def test_last_will_reaches_subscriber_when_socket_is_aborted(
        board: NetBoard, mosquitto: MosquittoBroker) -> None:
    watcher = PahoWatcher(mosquitto, "hublight-1/online")
    try:
        will = {"topic": "hublight-1/online", "payload": b"offline", "retain": True, "qos": 1}
        client = client_for(board, mosquitto, "hublight-1", will=will, keepalive=30)
        await client.connect()
        await client.publish("hublight-1/online", b"online", retain=True, qos=1)
        assert await watcher.next() == ("hublight-1/online", b"online", False)
        board.power_cut()
        assert await watcher.next() == ("hublight-1/online", b"offline", False)
        with pytest.raises(MqttError):
            await asyncio.wait_for(client.run(), TIMEOUT)
        # The will was retained: a late subscriber sees "offline".
        late = PahoWatcher(mosquitto, "hublight-1/online", "late")
        try:
            assert await late.next() == ("hublight-1/online", b"offline", True)
        finally:
            late.close()
    finally:
        watcher.close()


async def test_clean_disconnect_does_not_fire_the_will(board: NetBoard,
                                                       mosquitto: MosquittoBroker) -> None:
    watcher = PahoWatcher(mosquitto, "hublight-2/#")
    try:
        will = {"topic": "hublight-2/online", "payload": b"offline", "retain": True, "qos": 1}
        client = client_for(board, mosquitto, "hublight-2", will=will)
        await client.connect()
        await client.disconnect()
        await asyncio.to_thread(watcher.publish, "hublight-2/marker", b"m")
        assert await watcher.next() == ("hublight-2/marker", b"m", False)
    finally:
        watcher.close()


async def test_broker_restart_drops_run_and_reconnect_works(
        board: NetBoard, mosquitto: MosquittoBroker) -> None:
    client = client_for(board, mosquitto)
    await client.connect()
    running = asyncio.create_task(client.run())
    await mosquitto.arestart()
    with pytest.raises(MqttError):
        await asyncio.wait_for(running, TIMEOUT)
    assert not client.connected
    with pytest.raises(MqttError):
        await client.publish("t", b"x", qos=1)
    received = Received()
    client.on_message = received
    await client.connect()
    try:
        await client.subscribe("again")
        await client.publish("again", b"back", qos=1)
        assert await received.next() == ("again", b"back", False)
    finally:
        await client.disconnect()


async def test_frozen_broker_detected_by_keepalive(board: NetBoard,
                                                   mosquitto: MosquittoBroker) -> None:
    client = client_for(board, mosquitto, keepalive=1)
    await client.connect()
    mosquitto.pause()
    try:
        with pytest.raises(MqttError, match="PINGRESP"):
            await asyncio.wait_for(client.run(), TIMEOUT)
    finally:
        mosquitto.resume()


async def test_unacknowledged_qos1_publish_fails_loudly(board: NetBoard,
                                                        mosquitto: MosquittoBroker) -> None:
    client = client_for(board, mosquitto, keepalive=60, ack_timeout_s=1.0)
    await client.connect()
    mosquitto.pause()
    try:
        with pytest.raises(MqttError, match="PUBACK"):
            await client.publish("lost", b"x", qos=1)
        # A publish waiting when the connection drops fails too.
        pending = asyncio.create_task(client.publish("lost", b"y", qos=1))
        await asyncio.sleep(0.1)
        board.power_cut()
        with pytest.raises(MqttError):
            await asyncio.wait_for(pending, TIMEOUT)
    finally:
        mosquitto.resume()
        with contextlib.suppress(MqttError):
            await client.disconnect()


async def test_connect_to_closed_port_is_a_clear_error(board: NetBoard) -> None:
    from hub_app.testing import free_port

    client = MqttClient(board, "x", "127.0.0.1", free_port())
    with pytest.raises(MqttError, match="cannot connect"):
        await client.connect()
    with pytest.raises(MqttError, match="not connected"):
        await client.publish("t", b"x")


# --- a misbehaving broker: a real TCP server that sends broken packets ----------------------

CONNACK_OK = b"\x20\x02\x00\x00"


@pytest.mark.parametrize(("name", "after_connack"), [
    ("qos3_publish", b"\x36\x03\x00\x01a"),
    ("topic_too_long", b"\x30\x04\x00\x09ab"),
    ("varint_5_bytes", b"\x30\xff\xff\xff\xff\x01"),
    ("connect_from_server", b"\x10\x00"),
    ("type_zero", b"\x00\x00"),
    ("bad_suback", b"\x90\x01\x00"),
    ("oversized", b"\x30\xff\xff\xff\x7f"),
    ("bad_utf8_topic", b"\x30\x04\x00\x02\xff\xfe"),
    ("truncated", b"\x30\x10\x00\x01a"),
])
async def test_malformed_broker_packets_raise_mqtt_error(board: NetBoard, name: str,
                                                         after_connack: bytes) -> None:
    async def broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # CONNECT
        writer.write(CONNACK_OK + after_connack)
        await writer.drain()
        if name == "truncated":
            writer.close()
            return
        await reader.read(1024)  # hold the connection until the client closes it

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        client = MqttClient(board, "x", "127.0.0.1", port, keepalive=0)
        await client.connect()
        with pytest.raises(MqttError):
            await asyncio.wait_for(client.run(), TIMEOUT)
        assert not client.connected
    finally:
        server.close()
        await server.wait_closed()


async def test_refused_and_garbage_connack(board: NetBoard) -> None:
    answers = [b"\x20\x02\x00\x02", b"\x20\x03\x00\x00\x00", b"HTTP/1.1 400 Bad Request\r\n\r\n"]

    async def broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(MqttConnectError) as refused:
            await MqttClient(board, "x", "127.0.0.1", port).connect()
        assert refused.value.code == 2
        for _ in range(2):
            with pytest.raises(MqttError):
                await MqttClient(board, "x", "127.0.0.1", port).connect()
    finally:
        server.close()
        await server.wait_closed()
