"""WebSocket frame codec of hublight.wsproto."""

from hublight import wsproto


def _expect_ws_error(code, fn, *args):
    try:
        fn(*args)
    except wsproto.WsProtocolError as err:
        assert err.close_code == code, "expected " + str(code) + ", got " + str(err.close_code)
        return
    raise AssertionError("expected WsProtocolError " + str(code))


def test_accept_key_rfc_example_and_pure_sha1():
    assert wsproto.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert wsproto.sha1_pure(b"abc") == bytes.fromhex("a9993e364706816aba3e25717850c26c9cd0d89d")
    assert wsproto.sha1_pure(b"") == bytes.fromhex("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    long_input = b"a" * 1000
    assert wsproto.sha1_pure(long_input) == wsproto.sha1(long_input)


def test_round_trip_masked_frames_of_all_length_forms():
    mask = b"\x01\x02\x03\x04"
    for size in (0, 5, 125, 126, 300, 65535, 65536):
        payload = bytes([i & 0xFF for i in range(size)])
        frame = wsproto.encode_frame(wsproto.OP_TEXT, payload, True, mask)
        assert wsproto.decode_frame(frame[:-1] if size else frame[:1], 1 << 20) is None
        fin, opcode, decoded, used = wsproto.decode_frame(frame + b"extra", 1 << 20)
        assert (fin, opcode, decoded, used) == (True, wsproto.OP_TEXT, payload, len(frame))


def test_server_frames_are_unmasked():
    frame = wsproto.encode_frame(wsproto.OP_PONG, b"hi")
    assert frame == b"\x8a\x02hi"
    _expect_ws_error(1002, wsproto.decode_frame, frame, 100)
    assert wsproto.decode_frame(frame, 100, False) == (True, wsproto.OP_PONG, b"hi", 4)


def test_protocol_errors():
    mask = b"abcd"
    _expect_ws_error(1002, wsproto.decode_frame, b"\xc1\x80" + mask, 100)  # RSV1
    _expect_ws_error(1002, wsproto.decode_frame, b"\x83\x80" + mask, 100)  # opcode 3
    _expect_ws_error(1002, wsproto.decode_frame, b"\x09\x80" + mask, 100)  # fragmented ping
    _expect_ws_error(1002, wsproto.decode_frame, b"\x89\xfe\x00\x7e" + mask, 1000)  # long ping
    _expect_ws_error(1009, wsproto.decode_frame, b"\x81\xff" + b"\x00\x00\x00\x01" +
                     b"\x00\x00\x00\x00", 16384)
    _expect_ws_error(1002, wsproto.parse_close_payload, b"\x03")
    _expect_ws_error(1002, wsproto.parse_close_payload, b"\x03\xe7")  # 999
    _expect_ws_error(1007, wsproto.parse_close_payload, b"\x03\xe8\xff")
    assert wsproto.parse_close_payload(b"") == (None, "")
    assert wsproto.parse_close_payload(wsproto.close_payload(1000, "bye")) == (1000, "bye")


def test_message_assembler():
    assembler = wsproto.MessageAssembler(10)
    assert assembler.feed(False, wsproto.OP_TEXT, b"ab") is None
    assert assembler.feed(True, wsproto.OP_PING, b"p") == (wsproto.OP_PING, b"p")
    assert assembler.feed(True, wsproto.OP_CONTINUATION, b"cd") == (wsproto.OP_TEXT, b"abcd")
    _expect_ws_error(1002, assembler.feed, True, wsproto.OP_CONTINUATION, b"x")
    assembler.feed(False, wsproto.OP_TEXT, b"a")
    _expect_ws_error(1002, assembler.feed, True, wsproto.OP_TEXT, b"b")
    assembler = wsproto.MessageAssembler(10)
    assembler.feed(False, wsproto.OP_TEXT, b"123456")
    _expect_ws_error(1009, assembler.feed, False, wsproto.OP_CONTINUATION, b"78901")
