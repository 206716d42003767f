"""MQTT 3.1.1 packet encoding and decoding (the subset the embedded broker and test lights use).

Plain functions over bytes; no I/O except `read_packet`, which reads one packet from an asyncio
stream. Every decoder raises `ProtocolError` on malformed input.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

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

# CONNACK return codes
ACCEPTED = 0
REFUSED_PROTOCOL = 1
REFUSED_IDENTIFIER = 2
REFUSED_UNAVAILABLE = 3
REFUSED_BAD_CREDENTIALS = 4
REFUSED_NOT_AUTHORIZED = 5

MAX_PACKET = 256 * 1024


class ProtocolError(Exception):
    """A malformed or forbidden packet: the connection must be closed."""


@dataclass
class Connect:
    client_id: str
    keepalive: int
    clean_session: bool
    username: str | None = None
    password: bytes | None = field(default=None, repr=False)
    will_topic: str | None = None
    will_payload: bytes = b""
    will_qos: int = 0
    will_retain: bool = False
    protocol_level: int = 4


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    packet_id: int | None = None
    dup: bool = False


# --- encoding ---------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise ValueError("string too long for MQTT")
    return struct.pack("!H", len(data)) + data


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + _varint(len(body)) + body


def encode_connect(connect: Connect) -> bytes:
    flags = 0x02 if connect.clean_session else 0
    payload = _string(connect.client_id)
    if connect.will_topic is not None:
        flags |= 0x04 | (connect.will_qos << 3) | (0x20 if connect.will_retain else 0)
        payload += _string(connect.will_topic) + _string(connect.will_payload)
    if connect.username is not None:
        flags |= 0x80
        payload += _string(connect.username)
    if connect.password is not None:
        flags |= 0x40
        payload += _string(connect.password)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", connect.keepalive) + payload
    return packet(CONNECT, 0, body)


def encode_connack(session_present: bool, code: int) -> bytes:
    return packet(CONNACK, 0, bytes([1 if session_present else 0, code]))


def encode_publish(message: Publish) -> bytes:
    flags = (message.qos << 1) | (1 if message.retain else 0) | (0x08 if message.dup else 0)
    body = _string(message.topic)
    if message.qos:
        if message.packet_id is None:
            raise ValueError("QoS > 0 needs a packet id")
        body += struct.pack("!H", message.packet_id)
    return packet(PUBLISH, flags, body + message.payload)


def encode_ack(kind: int, packet_id: int) -> bytes:
    return packet(kind, 2 if kind == PUBREL else 0, struct.pack("!H", packet_id))


def encode_subscribe(packet_id: int, topics: list[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_string(t) + bytes([q]) for t, q in topics)
    return packet(SUBSCRIBE, 2, body)


def encode_suback(packet_id: int, codes: list[int]) -> bytes:
    return packet(SUBACK, 0, struct.pack("!H", packet_id) + bytes(codes))


def encode_unsuback(packet_id: int) -> bytes:
    return packet(UNSUBACK, 0, struct.pack("!H", packet_id))


PINGREQ_PACKET = bytes([PINGREQ << 4, 0])
PINGRESP_PACKET = bytes([PINGRESP << 4, 0])
DISCONNECT_PACKET = bytes([DISCONNECT << 4, 0])


# --- decoding ---------------------------------------------------------------------------------
async def read_packet(
    reader: asyncio.StreamReader, max_size: int = MAX_PACKET
) -> tuple[int, int, bytes]:
    """Read one packet: (type, flags, body). IncompleteReadError at EOF."""
    first = (await reader.readexactly(1))[0]
    length = 0
    multiplier = 1
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            break
        multiplier *= 128
    else:
        raise ProtocolError("malformed remaining length")
    if length > max_size:
        raise ProtocolError(f"packet too large ({length} bytes)")
    body = await reader.readexactly(length) if length else b""
    return first >> 4, first & 0x0F, body


class PacketBuffer:
    """Incremental parser: `feed()` bytes as they arrive, then take complete packets."""

    def __init__(self, max_size: int = MAX_PACKET) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_packet(self) -> tuple[int, int, bytes] | None:
        """(type, flags, body) of the next complete packet, or None if more bytes are needed."""
        buf = self._buf
        if len(buf) < 2:
            return None
        length = 0
        multiplier = 1
        index = 1
        while True:
            if index >= len(buf):
                return None
            byte = buf[index]
            length += (byte & 0x7F) * multiplier
            index += 1
            if not byte & 0x80:
                break
            multiplier *= 128
            if index > 4:
                raise ProtocolError("malformed remaining length")
        if length > self.max_size:
            raise ProtocolError(f"packet too large ({length} bytes)")
        end = index + length
        if len(buf) < end:
            return None
        first = buf[0]
        body = bytes(buf[index:end])
        del buf[:end]
        return first >> 4, first & 0x0F, body


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("packet truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def binary(self) -> bytes:
        return self.take(self.u16())

    def text(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None
        if "\x00" in text:
            raise ProtocolError("string contains NUL")
        return text

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def decode_connect(body: bytes) -> Connect:
    cur = _Cursor(body)
    name = cur.text()
    level = cur.u8()
    if name not in ("MQTT", "MQIsdp"):
        raise ProtocolError("not MQTT")
    flags = cur.u8()
    if flags & 0x01:
        raise ProtocolError("reserved connect flag set")
    keepalive = cur.u16()
    connect = Connect(
        client_id=cur.text(),
        keepalive=keepalive,
        clean_session=bool(flags & 0x02),
        protocol_level=level,
    )
    if flags & 0x04:
        connect.will_topic = cur.text()
        connect.will_payload = cur.binary()
        connect.will_qos = (flags >> 3) & 0x03
        connect.will_retain = bool(flags & 0x20)
        if connect.will_qos > 2:
            raise ProtocolError("bad will QoS")
    if flags & 0x80:
        connect.username = cur.text()
    if flags & 0x40:
        connect.password = cur.binary()
    return connect


def decode_connack(body: bytes) -> tuple[bool, int]:
    if len(body) != 2:
        raise ProtocolError("bad CONNACK")
    return bool(body[0] & 1), body[1]


def decode_publish(flags: int, body: bytes) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos > 2:
        raise ProtocolError("bad QoS")
    cur = _Cursor(body)
    topic = cur.text()
    packet_id = cur.u16() if qos else None
    return Publish(topic, cur.rest(), qos, bool(flags & 1), packet_id, bool(flags & 0x08))


def decode_packet_id(body: bytes) -> int:
    if len(body) < 2:
        raise ProtocolError("packet id missing")
    return int(struct.unpack("!H", body[:2])[0])


def decode_subscribe(body: bytes) -> tuple[int, list[tuple[str, int]]]:
    cur = _Cursor(body)
    packet_id = cur.u16()
    topics = []
    while not cur.done:
        topic = cur.text()
        qos = cur.u8()
        if qos > 2:
            raise ProtocolError("bad subscription QoS")
        topics.append((topic, qos))
    if not topics:
        raise ProtocolError("SUBSCRIBE without topics")
    return packet_id, topics


def decode_unsubscribe(body: bytes) -> tuple[int, list[str]]:
    cur = _Cursor(body)
    packet_id = cur.u16()
    topics = []
    while not cur.done:
        topics.append(cur.text())
    return packet_id, topics


def valid_filter(topic_filter: str) -> bool:
    """A well-formed subscription filter (wildcards only as whole levels, `#` last)."""
    if not topic_filter:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (topics starting with `$` are not matched by leading wildcards)."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    f_levels = topic_filter.split("/")
    t_levels = topic.split("/")
    for index, level in enumerate(f_levels):
        if level == "#":
            return True
        if index >= len(t_levels):
            return False
        if level != "+" and level != t_levels[index]:
            return False
    return len(f_levels) == len(t_levels)
