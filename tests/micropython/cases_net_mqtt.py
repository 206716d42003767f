"""MQTT 3.1.1 packet encoding and decoding of hublight.mqtt."""

from hublight.mqtt import (
    CONNACK,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    MqttConnectError,
    MqttError,
    decode_packet,
    decode_varint,
    encode_connect,
    encode_puback,
    encode_publish,
    encode_subscribe,
    encode_varint,
)


def _expect_mqtt_error(fn, *args):
    try:
        fn(*args)
    except MqttError as err:
        return err.reason
    raise AssertionError("expected MqttError")


def test_varint_round_trip_and_limits():
    for value, encoded in ((0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                           (16383, b"\xff\x7f"), (268435455, b"\xff\xff\xff\x7f")):
        assert encode_varint(value) == encoded
        assert decode_varint(encoded) == (value, len(encoded))
    assert decode_varint(b"\x80") is None
    _expect_mqtt_error(decode_varint, b"\xff\xff\xff\xff\x01")


def test_connect_packet_with_will_and_credentials():
    will = {"topic": "l/online", "payload": b"offline", "retain": True, "qos": 1}
    packet = encode_connect("hublight-1", 30, "user", "pw", will)
    expected_body = (b"\x00\x04MQTT\x04" + bytes([0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80]) +
                     b"\x00\x1e" + b"\x00\x0ahublight-1" + b"\x00\x08l/online" +
                     b"\x00\x07offline" + b"\x00\x04user" + b"\x00\x02pw")
    assert packet == b"\x10" + encode_varint(len(expected_body)) + expected_body
    assert encode_connect("c", 0) == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01c"


def test_publish_subscribe_puback_encoding():
    assert encode_publish("a/b", b"hi") == b"\x30\x07\x00\x03a/bhi"
    assert encode_publish("a", b"x", 1, True, 258) == b"\x33\x06\x00\x01a\x01\x02x"
    assert encode_subscribe(7, "a/#", 1) == b"\x82\x08\x00\x07\x00\x03a/#\x01"
    assert encode_puback(513) == b"\x40\x02\x02\x01"
    for bad in ("", "a/+", "a/#"):
        try:
            encode_publish(bad, b"")
        except ValueError:
            continue
        raise AssertionError("topic accepted: " + repr(bad))


def test_decode_broker_packets():
    assert decode_packet(0x20, b"\x01\x00") == (CONNACK, {"session_present": True, "code": 0})
    packet_type, fields = decode_packet(0x33, b"\x00\x03a/b\x00\x05payload")
    assert packet_type == PUBLISH
    assert fields == {"topic": "a/b", "payload": b"payload", "qos": 1, "retain": True,
                      "dup": False, "packet_id": 5}
    assert decode_packet(0x40, b"\x00\x09") == (PUBACK, {"packet_id": 9})
    assert decode_packet(0x90, b"\x00\x01\x01") == (SUBACK, {"packet_id": 1, "codes": [1]})
    assert decode_packet(0xD0, b"") == (PINGRESP, {})


def test_malformed_broker_packets():
    for first, body in ((0x20, b"\x00"), (0x36, b"\x00\x01a"), (0x30, b"\x00\x09ab"),
                        (0x30, b"\x00"), (0x32, b"\x00\x01a"), (0x32, b"\x00\x01a\x00\x00"),
                        (0x30, b"\x00\x02\xff\xfe"), (0x30, b"\x00\x00"), (0x40, b"\x00"),
                        (0x90, b"\x00\x01"), (0xD0, b"\x00"), (0x10, b""), (0x00, b""),
                        (0xC0, b"")):
        _expect_mqtt_error(decode_packet, first, body)


def test_connack_refusal_reason():
    err = MqttConnectError(5)
    assert err.code == 5 and "not authorized" in err.reason
