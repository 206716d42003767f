"""MQTT 3.1.1 client over the board's streams (TLS comes from `board.open_connection`).

    client = MqttClient(board, "hublight-1a2b3c", "broker", 1883, will={...})
    client.on_message = fn          # fn(topic: str, payload: bytes, retain: bool)
    await client.connect()          # raises MqttConnectError (CONNACK code) or MqttError
    await client.subscribe("hublight-1a2b3c/rpc")
    await client.publish("hublight-1a2b3c/online", b"online", retain=True, qos=1)
    await client.run()              # returns after disconnect(); raises MqttError on a drop

A background reader handles acknowledgements, incoming messages and keepalive pings from
connect() on, so subscribe/publish work before run() is awaited. A QoS 1 publish that is not
acknowledged raises MqttError; it never vanishes silently. Malformed packets from the broker drop
the connection with an MqttError; they never crash the caller.
"""

import struct

try:
    import asyncio
except ImportError:  # pragma: no cover - very old MicroPython
    import uasyncio as asyncio  # type: ignore[import-not-found,no-redef]

try:
    from typing import Any, Callable
except ImportError:  # MicroPython: annotations are not evaluated there
    pass

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"


class MqttError(Exception):
    """The MQTT connection failed or dropped; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MqttConnectError(MqttError):
    """The broker refused the connection; `code` is the CONNACK return code (1..5)."""

    def __init__(self, code: int) -> None:
        super().__init__("connection refused: %s (CONNACK %d)"
                           % (CONNACK_REASONS.get(code, "unknown reason"), code))
        self.code = code


# --- packet encoding and decoding (pure) -------------------------------------------------------

def encode_varint(value: int) -> bytes:
    """MQTT remaining-length encoding (1..4 bytes)."""
    if value < 0 or value > 268435455:
        raise ValueError("remaining length out of range")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, offset: int = 0) -> "tuple[int, int] | None":
    """-> (value, bytes used), None if more bytes are needed; MqttError if longer than 4 bytes."""
    value = 0
    for i in range(4):
        if offset + i >= len(data):
            return None
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise MqttError("malformed remaining length")


def _string(value: "str | bytes") -> bytes:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if len(raw) > 65535:
        raise ValueError("MQTT string longer than 65535 bytes")
    return struct.pack(">H", len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_varint(len(body)) + body


def encode_connect(client_id: str, keepalive: int, user: "str | None" = None,
                   password: "str | None" = None, will: "dict[str, Any] | None" = None,
                   clean_session: bool = True) -> bytes:
    """A CONNECT packet (protocol level 4). will: {"topic", "payload", "retain"?, "qos"?}."""
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if will is not None:
        will_qos = int(will.get("qos", 0))
        if will_qos not in (0, 1, 2):
            raise ValueError("will qos must be 0, 1 or 2")
        flags |= 0x04 | (will_qos << 3) | (0x20 if will.get("retain") else 0)
        payload += _string(will["topic"]) + _string(will.get("payload", b""))
    if user is not None:
        flags |= 0x80
        payload += _string(user)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    if not 0 <= keepalive <= 65535:
        raise ValueError("keepalive out of range")
    body = _string("MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive) + payload
    return _packet(CONNECT << 4, body)


def encode_publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                   packet_id: int = 0, dup: bool = False) -> bytes:
    """A PUBLISH packet (packet_id is required for qos 1)."""
    if qos not in (0, 1):
        raise ValueError("only qos 0 and 1 are supported")
    if not topic or "+" in topic or "#" in topic:
        raise ValueError("invalid topic for publish: %r" % (topic,))
    first = (PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = _string(topic)
    if qos:
        body += struct.pack(">H", packet_id)
    return _packet(first, body + bytes(payload))


def encode_subscribe(packet_id: int, topic: str, qos: int = 1) -> bytes:
    """A SUBSCRIBE packet for one topic filter."""
    if not topic:
        raise ValueError("empty topic filter")
    body = struct.pack(">H", packet_id) + _string(topic) + bytes([qos])
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def encode_puback(packet_id: int) -> bytes:
    """A PUBACK packet."""
    return _packet(PUBACK << 4, struct.pack(">H", packet_id))


def decode_packet(first_byte: int, body: bytes) -> "tuple[int, dict[str, Any]]":
    """Decode a packet a broker may send. -> (type, fields). Raises MqttError when malformed."""
    packet_type = first_byte >> 4
    flags = first_byte & 0x0F
    if packet_type == CONNACK:
        if len(body) != 2 or flags:
            raise MqttError("malformed CONNACK")
        return CONNACK, {"session_present": bool(body[0] & 1), "code": body[1]}
    if packet_type == PUBLISH:
        qos = (flags >> 1) & 0x03
        if qos == 3:
            raise MqttError("malformed PUBLISH: qos 3")
        if len(body) < 2:
            raise MqttError("malformed PUBLISH: no topic")
        topic_length = struct.unpack(">H", body[:2])[0]
        offset = 2 + topic_length
        if offset > len(body):
            raise MqttError("malformed PUBLISH: topic longer than the packet")
        try:
            topic = bytes(body[2:offset]).decode()
        except UnicodeError:
            raise MqttError("malformed PUBLISH: topic is not UTF-8")
        if not topic:
            raise MqttError("malformed PUBLISH: empty topic")
        packet_id = 0
        if qos:
            if offset + 2 > len(body):
                raise MqttError("malformed PUBLISH: no packet id")
            packet_id = struct.unpack(">H", body[offset:offset + 2])[0]
            offset += 2
            if packet_id == 0:
                raise MqttError("malformed PUBLISH: packet id 0")
        return PUBLISH, {"topic": topic, "payload": bytes(body[offset:]), "qos": qos,
                         "retain": bool(flags & 1), "dup": bool(flags & 8),
                         "packet_id": packet_id}
    if packet_type in (PUBACK, PUBREC, PUBCOMP, UNSUBACK) or packet_type == PUBREL:
        if len(body) != 2:
            raise MqttError("malformed acknowledgement (type %d)" % packet_type)
        return packet_type, {"packet_id": struct.unpack(">H", body)[0]}
    if packet_type == SUBACK:
        if len(body) < 3:
            raise MqttError("malformed SUBACK")
        return SUBACK, {"packet_id": struct.unpack(">H", body[:2])[0],
                        "codes": list(bytes(body[2:]))}
    if packet_type == PINGRESP:
        if body or flags:
            raise MqttError("malformed PINGRESP")
        return PINGRESP, {}
    raise MqttError("unexpected packet type %d from the broker" % packet_type)


# --- the client ----------------------------------------------------------------------------

class MqttClient:
    """An MQTT 3.1.1 client (clean session, QoS 0/1). See the module docstring."""

    def __init__(self, board: Any, client_id: str, host: str, port: int,
                 user: "str | None" = None, password: "str | None" = None, keepalive: int = 30,
                 will: "dict[str, Any] | None" = None, tls: "dict[str, Any] | None" = None,
                 log: Any = None, connect_timeout_s: float = 10.0,
                 ack_timeout_s: "float | None" = None, max_packet: int = 65536) -> None:
        self.board = board
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.will = will
        self.tls = tls
        self.log = log
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s if ack_timeout_s is not None else \
            max(float(keepalive), 10.0)
        self.max_packet = max_packet
        self.on_message: "Callable[[str, bytes, bool], Any] | None" = None
        self.connected = False
        self._reader = None  # type: Any
        self._writer = None  # type: Any
        self._write_lock = asyncio.Lock()
        self._waiters = {}  # type: dict[int, list[Any]]
        self._next_packet_id = 0
        self._tasks = []  # type: list[Any]
        self._done = asyncio.Event()
        self._error = None  # type: MqttError | None
        self._ping_outstanding = False
        self._closing = False
        self._disconnecting = False

    def _log(self, level: str, message: str) -> None:
        if self.log is not None:
            try:
                self.log.add(level, "mqtt: " + message)
            except Exception:  # noqa: BLE001 - logging must never break the client
                pass

    async def connect(self) -> None:
        """Open the connection and wait for CONNACK."""
        if self.connected:
            raise MqttError("already connected")
        self._done = asyncio.Event()
        self._error = None
        self._ping_outstanding = False
        self._closing = False
        self._disconnecting = False
        try:
            self._reader, self._writer = await asyncio.wait_for(
                self.board.open_connection(self.host, self.port, self.tls),
                self.connect_timeout_s)
        except asyncio.TimeoutError:
            raise MqttError("timed out connecting to %s:%d" % (self.host, self.port))
        except OSError as exc:
            raise MqttError("cannot connect to %s:%d: %s" % (self.host, self.port, exc))
        try:
            await self._write(encode_connect(self.client_id, int(self.keepalive), self.user,
                                             self.password, self.will))
            packet_type, fields = await asyncio.wait_for(self._read_packet(),
                                                         self.connect_timeout_s)
        except asyncio.TimeoutError:
            await self._close_stream()
            raise MqttError("no CONNACK from %s:%d" % (self.host, self.port))
        except MqttError:
            await self._close_stream()
            raise
        except (OSError, EOFError) as exc:
            await self._close_stream()
            raise MqttError("connection lost during CONNECT: %r" % (exc,))
        if packet_type != CONNACK:
            await self._close_stream()
            raise MqttError("expected CONNACK, got packet type %d" % packet_type)
        if fields["code"] != 0:
            await self._close_stream()
            raise MqttConnectError(fields["code"])
        self.connected = True
        self._tasks = [asyncio.create_task(self._read_loop())]
        if self.keepalive > 0:
            self._tasks.append(asyncio.create_task(self._ping_loop()))
        self._log("info", "connected to %s:%d" % (self.host, self.port))

    async def run(self) -> None:
        """Wait while connected. Returns after disconnect(); raises MqttError when it drops."""
        if not self.connected and not self._closing and not self._done.is_set():
            raise MqttError("not connected")
        await self._done.wait()
        if self._error is not None:
            raise self._error

    async def publish(self, topic: str, payload: "bytes | str", retain: bool = False,
                      qos: int = 0) -> None:
        """Publish; with qos=1 wait for PUBACK (MqttError if it does not come)."""
        if isinstance(payload, str):
            payload = payload.encode()
        self._require_connected()
        if qos == 0:
            await self._send(encode_publish(topic, payload, 0, retain))
            return
        packet_id = self._new_packet_id()
        await self._request(encode_publish(topic, payload, 1, retain, packet_id), packet_id,
                            "PUBACK for %s" % topic)

    async def subscribe(self, topic: str, qos: int = 1) -> int:
        """Subscribe to a topic filter. -> granted qos; MqttError if the broker refuses."""
        self._require_connected()
        packet_id = self._new_packet_id()
        fields = await self._request(encode_subscribe(packet_id, topic, qos), packet_id,
                                     "SUBACK for %s" % topic)
        granted = fields["codes"][0] if fields.get("codes") else 0x80
        if granted == 0x80:
            raise MqttError("subscription to %s refused by the broker" % topic)
        return int(granted)

    async def disconnect(self) -> None:
        """Send DISCONNECT (the broker then does not publish the Last Will) and close."""
        if self.connected:
            self._disconnecting = True
            try:
                await self._send(DISCONNECT_PACKET)
            except MqttError:
                pass
        await self._shutdown(None)

    # --- internals ---------------------------------------------------------------------------
    def _require_connected(self) -> None:
        if not self.connected:
            raise self._error or MqttError("not connected")

    def _new_packet_id(self) -> int:
        for _ in range(65535):
            self._next_packet_id = self._next_packet_id % 65535 + 1
            if self._next_packet_id not in self._waiters:
                return self._next_packet_id
        raise MqttError("no free packet id")

    async def _request(self, packet: bytes, packet_id: int, what: str) -> "dict[str, Any]":
        waiter = [asyncio.Event(), None]  # type: list[Any]
        self._waiters[packet_id] = waiter
        try:
            await self._send(packet)
            try:
                await asyncio.wait_for(waiter[0].wait(), self.ack_timeout_s)
            except asyncio.TimeoutError:
                raise MqttError("no %s within %s s" % (what, self.ack_timeout_s))
        finally:
            self._waiters.pop(packet_id, None)
        if waiter[1] is None:
            raise self._error or MqttError("connection closed before %s" % what)
        return waiter[1]  # type: ignore[no-any-return]

    async def _write(self, packet: bytes) -> None:
        await self._write_lock.acquire()
        try:
            self._writer.write(packet)
            await asyncio.wait_for(self._writer.drain(), self.connect_timeout_s)
        finally:
            self._write_lock.release()

    async def _send(self, packet: bytes) -> None:
        try:
            await self._write(packet)
        except (OSError, asyncio.TimeoutError) as exc:
            error = MqttError("write failed: %r" % (exc,))
            await self._shutdown(error)
            raise error

    async def _read_packet(self) -> "tuple[int, dict[str, Any]]":
        first = await self._reader.readexactly(1)
        length_bytes = b""
        while True:
            length_bytes += await self._reader.readexactly(1)
            decoded = decode_varint(length_bytes)
            if decoded is not None:
                break
        length = decoded[0]
        if length > self.max_packet:
            raise MqttError("packet of %d bytes is larger than %d" % (length, self.max_packet))
        body = await self._reader.readexactly(length) if length else b""
        return decode_packet(first[0], body)

    async def _read_loop(self) -> None:
        error = None  # type: MqttError | None
        try:
            while True:
                packet_type, fields = await self._read_packet()
                await self._handle(packet_type, fields)
        except MqttError as exc:
            error = exc
        except (OSError, EOFError) as exc:
            error = MqttError("connection lost: %r" % (exc,) if str(exc) else
                              "connection closed by the broker")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - never let the loop die without a reason
            error = MqttError("internal error: %r" % (exc,))
        if self.connected:
            self._log("warn", error.reason if error else "closed")
            await self._shutdown(error or MqttError("connection closed"))

    async def _handle(self, packet_type: int, fields: "dict[str, Any]") -> None:
        if packet_type == PUBLISH:
            if fields["qos"] == 2:
                raise MqttError("broker sent a QoS 2 message (we subscribe with QoS <= 1)")
            self._deliver(fields["topic"], fields["payload"], fields["retain"])
            if fields["qos"] == 1:
                await self._send(encode_puback(fields["packet_id"]))
        elif packet_type in (PUBACK, SUBACK, UNSUBACK):
            waiter = self._waiters.get(fields["packet_id"])
            if waiter is not None:
                waiter[1] = fields
                waiter[0].set()
        elif packet_type == PINGRESP:
            self._ping_outstanding = False
        elif packet_type == CONNACK:
            raise MqttError("unexpected second CONNACK")
        else:
            raise MqttError("unexpected packet type %d" % packet_type)

    def _deliver(self, topic: str, payload: bytes, retain: bool) -> None:
        handler = self.on_message
        if handler is None:
            return
        try:
            result = handler(topic, payload, retain)
            if result is not None and hasattr(result, "send"):
                # A coroutine handler runs as its own task, so it may publish with QoS 1
                # (waiting for a PUBACK that this reader must receive).
                self._tasks.append(asyncio.create_task(self._run_handler(result)))
        except Exception as exc:  # noqa: BLE001 - a handler bug must not drop the connection
            self._log("error", "on_message failed for %s: %r" % (topic, exc))

    async def _run_handler(self, coroutine: Any) -> None:
        try:
            await coroutine
        except Exception as exc:  # noqa: BLE001
            self._log("error", "on_message failed: %r" % (exc,))

    async def _ping_loop(self) -> None:
        while self.connected:
            await asyncio.sleep(self.keepalive)
            if not self.connected:
                return
            if self._ping_outstanding:
                await self._shutdown(MqttError("no PINGRESP within keepalive (%s s)"
                                               % self.keepalive))
                return
            self._ping_outstanding = True
            try:
                await self._send(PINGREQ_PACKET)
            except MqttError:
                return

    async def _close_stream(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 2)
        except Exception:  # noqa: BLE001 - closing a broken stream may fail; it is gone anyway
            pass

    async def _shutdown(self, error: "MqttError | None") -> None:
        if self._closing or self._done.is_set():
            if asyncio.current_task() not in self._tasks:
                await self._done.wait()
            return
        if self._disconnecting:
            error = None  # the broker closing after our DISCONNECT is no failure
        self._closing = True
        self.connected = False
        if self._error is None:
            self._error = error
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._tasks = []
        for waiter in list(self._waiters.values()):
            waiter[0].set()  # waiter[1] stays None: the request failed
        await self._close_stream()
        self._done.set()
