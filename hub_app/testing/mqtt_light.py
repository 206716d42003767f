"""A lightweight MQTT light for tests and benchmarks (NOT the firmware).

`MqttLight` speaks the MQTT part of docs/protocol.md from the light's side with a minimal asyncio
MQTT 3.1.1 client (`AsyncMqttClient`): Last Will `offline` (retained, QoS 1), `online` retained
after connecting, retained `<id>/state` with an increasing `rev`, `Light.Set` / `Light.GetStatus`
/ `Light.Toggle` / `RPC.Ping` on `<id>/rpc` with replies on `<src>/rpc`, retained requests ignored.
`power_cut()` drops the TCP connection without a word (the broker then publishes the will).

It exists so that backend tests can run before / beside the real simulated firmware
(firmware/hublight_sim), and so that benchmarks can run thousands of lights in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Callable
from typing import Any

from hub_app.broker_client import mqtt_codec as codec
from hub_app.broker_client.mqtt_codec import Connect, Publish

_LOGGER = logging.getLogger(__name__)

MessageHandler = Callable[[Publish], None]


class ConnectRefused(ConnectionError):
    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"CONNACK refused with code {code}")


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AsyncMqttClient:
    """Minimal MQTT 3.1.1 client on asyncio streams (QoS 0/1, no retransmission)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        will: Publish | None = None,
        ssl_context: ssl.SSLContext | None = None,
        on_message: MessageHandler | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.username = username
        self._password = password
        self.keepalive = keepalive
        self.will = will
        self.ssl_context = ssl_context
        self.on_message = on_message
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._next_id = 0
        self._acks: dict[int, asyncio.Future[bytes]] = {}
        self.closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"AsyncMqttClient({self.client_id!r}, {self.host}:{self.port})"

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.transport.is_closing()

    async def connect(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            self._reader, self._writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=self.ssl_context,
            )
            will = self.will
            self._writer.write(
                codec.encode_connect(
                    Connect(
                        client_id=self.client_id,
                        keepalive=self.keepalive,
                        clean_session=True,
                        username=self.username,
                        password=None if self._password is None else self._password.encode(),
                        will_topic=None if will is None else will.topic,
                        will_payload=b"" if will is None else will.payload,
                        will_qos=0 if will is None else will.qos,
                        will_retain=False if will is None else will.retain,
                    )
                )
            )
            kind, _flags, body = await codec.read_packet(self._reader)
        if kind != codec.CONNACK:
            self.abort()
            raise ConnectionError("expected CONNACK")
        _present, code = codec.decode_connack(body)
        if code != codec.ACCEPTED:
            self.abort()
            raise ConnectRefused(code)
        self.closed.clear()
        self._spawn(self._read_loop())
        if self.keepalive:
            self._spawn(self._ping_loop())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                kind, flags, body = await codec.read_packet(self._reader)
                if kind == codec.PUBLISH:
                    message = codec.decode_publish(flags, body)
                    if message.qos and message.packet_id is not None and self._writer is not None:
                        self._writer.write(codec.encode_ack(codec.PUBACK, message.packet_id))
                    if self.on_message is not None:
                        try:
                            self.on_message(message)
                        except Exception:
                            _LOGGER.exception("%s: message handler failed", self.client_id)
                elif kind in (codec.PUBACK, codec.SUBACK, codec.UNSUBACK):
                    future = self._acks.pop(codec.decode_packet_id(body), None)
                    if future is not None and not future.done():
                        future.set_result(body)
        except (asyncio.IncompleteReadError, ConnectionError, codec.ProtocolError, OSError):
            pass
        finally:
            self.closed.set()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self._acks.clear()
            if self._writer is not None:
                self._writer.transport.abort()

    async def _ping_loop(self) -> None:
        with contextlib.suppress(ConnectionError, OSError, AttributeError):
            while self.connected:
                await asyncio.sleep(self.keepalive * 0.5)
                if self._writer is not None:
                    self._writer.write(codec.PINGREQ_PACKET)

    async def _wait_ack(self, packet_id: int, timeout: float) -> bytes:  # noqa: ASYNC109
        future = asyncio.get_running_loop().create_future()
        self._acks[packet_id] = future
        async with asyncio.timeout(timeout):
            body: bytes = await future
            return body

    async def subscribe(self, topics: list[tuple[str, int]], timeout: float = 20.0) -> list[int]:  # noqa: ASYNC109
        if self._writer is None:
            raise ConnectionError("not connected")
        packet_id = self._packet_id()
        self._writer.write(codec.encode_subscribe(packet_id, topics))
        body = await self._wait_ack(packet_id, timeout)
        return list(body[2:])

    def publish_nowait(
        self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False
    ) -> None:
        if self._writer is None or self._writer.transport.is_closing():
            raise ConnectionError("not connected")
        data = payload.encode() if isinstance(payload, str) else payload
        packet_id = self._packet_id() if qos else None
        self._writer.write(
            codec.encode_publish(Publish(topic, data, min(qos, 1), retain, packet_id))
        )

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        timeout: float = 20.0,  # noqa: ASYNC109
    ) -> None:
        """Publish; with QoS 1 wait for the PUBACK."""
        if self._writer is None:
            raise ConnectionError("not connected")
        data = payload.encode() if isinstance(payload, str) else payload
        if not qos:
            self._writer.write(codec.encode_publish(Publish(topic, data, 0, retain)))
            return
        packet_id = self._packet_id()
        self._writer.write(codec.encode_publish(Publish(topic, data, 1, retain, packet_id)))
        await self._wait_ack(packet_id, timeout)

    async def disconnect(self) -> None:
        """Clean disconnect (no Last Will)."""
        if self._writer is not None and not self._writer.transport.is_closing():
            self._writer.write(codec.DISCONNECT_PACKET)
            with contextlib.suppress(Exception):
                await self._writer.drain()
            self._writer.close()
        await self._stop_tasks()

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT (the broker publishes the Last Will)."""
        if self._writer is not None:
            self._writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def _stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class MqttLight:
    """One light on the broker, protocol.md topics, state kept in memory."""

    def __init__(
        self,
        device_id: str,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        ssl_context: ssl.SSLContext | None = None,
        topic_prefix: str | None = None,
        max_brightness: int = 100,
    ) -> None:
        self.device_id = device_id
        self.prefix = topic_prefix or device_id
        self.max_brightness = max_brightness
        self.state: dict[str, Any] = {
            "on": False,
            "brightness": 50,
            "rgb": [255, 255, 255],
            "transition_ms": 0,
            "rev": 1,
            "source": "boot",
        }
        self.requests: list[dict[str, Any]] = []  # every request frame handled (for tests)
        self.ignored_retained = 0
        self.mute = False  # True: requests are received but neither applied nor answered
        self.reject_with: tuple[int, str] | None = None  # answer Light.Set with this error
        self.auto_reconnect = False  # like the firmware: reconnect when the broker goes away
        self.connections = 0
        self._keeper: asyncio.Task[None] | None = None
        self.client = AsyncMqttClient(
            host,
            port,
            device_id,
            username=username,
            password=password,
            keepalive=keepalive,
            will=Publish(self.prefix + "/online", b"offline", 1, True),
            ssl_context=ssl_context,
            on_message=self._on_message,
        )

    def __repr__(self) -> str:
        return f"MqttLight({self.device_id!r})"

    async def start(self, auto_reconnect: bool = False) -> MqttLight:
        await self._session()
        self.auto_reconnect = auto_reconnect
        if auto_reconnect:
            self._keeper = asyncio.create_task(self._keep_connected())
        return self

    async def _session(self) -> None:
        await self.client.connect()
        self.connections += 1
        await self.client.subscribe([(self.prefix + "/rpc", 1)])
        await self.client.publish(self.prefix + "/online", "online", qos=1, retain=True)
        await self.client.publish(
            self.prefix + "/state", json.dumps(self.state), qos=1, retain=True
        )

    async def _keep_connected(self) -> None:
        while self.auto_reconnect:
            await self.client.closed.wait()
            while self.auto_reconnect:
                await asyncio.sleep(0.2)
                try:
                    await self._session()
                    break
                except (OSError, TimeoutError, ConnectRefused):
                    continue

    async def _stop_keeper(self) -> None:
        self.auto_reconnect = False
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None

    async def stop(self) -> None:
        """Clean shutdown: retained `offline`, then DISCONNECT."""
        await self._stop_keeper()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self.client.publish(
                self.prefix + "/online", "offline", qos=1, retain=True, timeout=5
            )
        await self.client.disconnect()

    async def power_cut(self) -> None:
        """Drop off the network without a word (no reconnect until `start()` again)."""
        await self._stop_keeper()
        self.client.abort()

    def set_state(self, source: str = "button", **fields: Any) -> None:
        """Change the light locally (like its button) and report it."""
        self.state.update(fields)
        self.state["rev"] += 1
        self.state["source"] = source
        self._publish_state()

    def _publish_state(self) -> None:
        with contextlib.suppress(ConnectionError):
            self.client.publish_nowait(
                self.prefix + "/state", json.dumps(self.state), qos=1, retain=True
            )

    def _on_message(self, message: Publish) -> None:
        if message.retain:
            self.ignored_retained += 1
            return
        try:
            frame = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("src"), str):
            return
        self.requests.append(frame)
        if self.mute:
            return
        method = frame.get("method")
        params = frame.get("params") or {}
        reply: dict[str, Any] = {"id": frame.get("id"), "src": self.device_id, "dst": frame["src"]}
        try:
            reply["result"] = self._dispatch(method, params)
        except ValueError as err:
            reply["error"] = {"code": 400, "message": str(err)}
        except LookupError as err:
            reply["error"] = {"code": 404, "message": str(err)}
        except _Refused as err:
            reply["error"] = {"code": err.code, "message": err.message}
        if "id" in frame:
            with contextlib.suppress(ConnectionError):
                self.client.publish_nowait(frame["src"] + "/rpc", json.dumps(reply), qos=1)

    def _dispatch(self, method: Any, params: Any) -> Any:
        if method == "RPC.Ping":
            return "pong"
        if method == "Light.GetStatus":
            return dict(self.state)
        if method == "Light.Toggle":
            self.set_state("rpc", on=not self.state["on"])
            return dict(self.state)
        if method == "Light.Set":
            if not isinstance(params, dict):
                raise ValueError("params must be an object")
            changes: dict[str, Any] = {}
            if "on" in params:
                if not isinstance(params["on"], bool):
                    raise ValueError("on: must be a boolean")
                changes["on"] = params["on"]
            if "brightness" in params:
                value = params["brightness"]
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                    raise ValueError("brightness: must be an integer 0..100")
                changes["brightness"] = min(value, self.max_brightness)
            if "rgb" in params:
                rgb = params["rgb"]
                if not (
                    isinstance(rgb, list)
                    and len(rgb) == 3
                    and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb)
                ):
                    raise ValueError("rgb: must be three integers 0..255")
                changes["rgb"] = rgb
            if "transition_ms" in params:
                changes["transition_ms"] = params["transition_ms"]
            if not changes.keys() & {"on", "brightness", "rgb"}:
                raise ValueError("at least one of on, brightness, rgb")
            if self.reject_with is not None:
                raise _Refused(*self.reject_with)
            self.set_state("mqtt", **changes)
            return dict(self.state)
        raise LookupError(f"no such method: {method}")
