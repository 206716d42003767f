"""WebSocket (RFC 6455) pieces for the server side: handshake key, frame encoding and decoding.

Pure functions over bytes, so they run (and are tested) under MicroPython and CPython alike.
"""

import binascii
import hashlib
import struct

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are not evaluated there
    pass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013


class WsProtocolError(Exception):
    """The peer broke the protocol; close_code is what to close the connection with."""

    def __init__(self, close_code: int, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.message = message


def _rol(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & 0xFFFFFFFF


def sha1_pure(data: bytes) -> bytes:
    """SHA-1 in pure Python, for MicroPython builds without hashlib.sha1."""
    h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
    length_bits = len(data) * 8
    padded = bytearray(data)
    padded.append(0x80)
    while len(padded) % 64 != 56:
        padded.append(0)
    padded += struct.pack(">Q", length_bits)
    for block_start in range(0, len(padded), 64):
        w = list(struct.unpack(">16I", bytes(padded[block_start:block_start + 64])))
        for i in range(16, 80):
            w.append(_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1))
        a, b, c, d, e = h0, h1, h2, h3, h4
        for i in range(80):
            if i < 20:
                f = (b & c) | (~b & d)
                k = 0x5A827999
            elif i < 40:
                f = b ^ c ^ d
                k = 0x6ED9EBA1
            elif i < 60:
                f = (b & c) | (b & d) | (c & d)
                k = 0x8F1BBCDC
            else:
                f = b ^ c ^ d
                k = 0xCA62C1D6
            temp = (_rol(a, 5) + (f & 0xFFFFFFFF) + e + k + w[i]) & 0xFFFFFFFF
            e = d
            d = c
            c = _rol(b, 30)
            b = a
            a = temp
        h0 = (h0 + a) & 0xFFFFFFFF
        h1 = (h1 + b) & 0xFFFFFFFF
        h2 = (h2 + c) & 0xFFFFFFFF
        h3 = (h3 + d) & 0xFFFFFFFF
        h4 = (h4 + e) & 0xFFFFFFFF
    return struct.pack(">5I", h0, h1, h2, h3, h4)


def sha1(data: bytes) -> bytes:
    """SHA-1 digest: hashlib's when present, else the pure-Python one."""
    if hasattr(hashlib, "sha1"):
        return hashlib.sha1(data).digest()
    return sha1_pure(data)


def accept_key(client_key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    digest = sha1(client_key.strip().encode() + GUID)
    return binascii.b2a_base64(digest).decode().strip()


def apply_mask(mask: bytes, payload: bytes) -> bytes:
    """XOR payload with the 4-byte mask (masking and unmasking are the same)."""
    out = bytearray(payload)
    for i in range(len(out)):
        out[i] ^= mask[i & 3]
    return bytes(out)


def encode_frame(opcode: int, payload: bytes, fin: bool = True,
                 mask: "bytes | None" = None) -> bytes:
    """One frame. Servers send unmasked frames; pass mask (4 bytes) to build a client frame."""
    first = (0x80 if fin else 0) | (opcode & 0x0F)
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length < 126:
        header = struct.pack(">BB", first, mask_bit | length)
    elif length < 65536:
        header = struct.pack(">BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack(">BBQ", first, mask_bit | 127, length)
    if mask is not None:
        return header + mask + apply_mask(mask, payload)
    return header + payload


def close_payload(code: int, reason: str = "") -> bytes:
    """The body of a close frame."""
    return struct.pack(">H", code) + reason.encode()[:123]


def parse_close_payload(payload: bytes) -> "tuple[int | None, str]":
    """-> (code or None, reason) of a close frame body; raises WsProtocolError when invalid."""
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte body")
    code = struct.unpack(">H", payload[:2])[0]
    if code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000 or code >= 5000:
        raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "invalid close code %d" % code)
    try:
        reason = payload[2:].decode()
    except UnicodeError:
        raise WsProtocolError(CLOSE_INVALID_DATA, "close reason is not UTF-8")
    return code, reason


def parse_frame_header(data: bytes, max_payload: int,
                       require_mask: bool = True) -> "tuple[Any, ...] | None":
    """Parse a frame header at the start of data.

    -> None when more bytes are needed, else (fin, opcode, mask or None, payload_length,
    header_length). Raises WsProtocolError for reserved bits, unknown opcodes, bad control frames,
    an unmasked client frame, or a payload larger than max_payload (close 1009).
    """
    if len(data) < 2:
        return None
    first = data[0]
    second = data[1]
    fin = bool(first & 0x80)
    if first & 0x70:
        raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension agreed)")
    opcode = first & 0x0F
    if opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
        raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "unknown opcode %d" % opcode)
    masked = bool(second & 0x80)
    if require_mask and not masked:
        raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
    length = second & 0x7F
    offset = 2
    if length == 126:
        if len(data) < 4:
            return None
        length = struct.unpack(">H", data[2:4])[0]
        offset = 4
    elif length == 127:
        if len(data) < 10:
            return None
        length = struct.unpack(">Q", data[2:10])[0]
        offset = 10
    if opcode >= OP_CLOSE:
        if not fin:
            raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
        if length > 125:
            raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "control frame longer than 125 bytes")
    if length > max_payload:
        raise WsProtocolError(CLOSE_TOO_BIG, "message larger than %d bytes" % max_payload)
    mask = None
    if masked:
        if len(data) < offset + 4:
            return None
        mask = bytes(data[offset:offset + 4])
        offset += 4
    return fin, opcode, mask, length, offset


def decode_frame(data: bytes, max_payload: int,
                 require_mask: bool = True) -> "tuple[Any, ...] | None":
    """Decode one whole frame at the start of data.

    -> None when incomplete, else (fin, opcode, unmasked payload, bytes consumed).
    """
    header = parse_frame_header(data, max_payload, require_mask)
    if header is None:
        return None
    fin, opcode, mask, length, offset = header
    if len(data) < offset + length:
        return None
    payload = bytes(data[offset:offset + length])
    if mask is not None:
        payload = apply_mask(mask, payload)
    return fin, opcode, payload, offset + length


class MessageAssembler:
    """Joins fragments into messages and enforces the message size limit.

    feed(fin, opcode, payload) -> None, or (opcode, payload) of a complete data message, or
    (opcode, payload) of a control frame (which may arrive between fragments).
    """

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self._opcode: "int | None" = None
        self._parts: "list[bytes]" = []
        self._size = 0

    def feed(self, fin: bool, opcode: int, payload: bytes) -> "tuple[int, bytes] | None":
        if opcode >= OP_CLOSE:
            return opcode, payload
        if opcode == OP_CONTINUATION:
            if self._opcode is None:
                raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "continuation without a start frame")
        else:
            if self._opcode is not None:
                raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
            self._opcode = opcode
            self._parts = []
            self._size = 0
        self._size += len(payload)
        if self._size > self.max_message:
            self._opcode = None
            self._parts = []
            raise WsProtocolError(CLOSE_TOO_BIG, "message larger than %d bytes"
                                  % self.max_message)
        self._parts.append(payload)
        if not fin:
            return None
        message_opcode = self._opcode
        message = b"".join(self._parts)
        self._opcode = None
        self._parts = []
        self._size = 0
        return message_opcode, message
