"""Digest auth: RFC 7616 vectors, the firmware's own verifier, challenge parsing."""

from __future__ import annotations

import pytest
from hublight import auth as firmware_auth

from hub_app.device.digest import (
    FRAME_HA2_TEXT,
    Challenge,
    DigestAuth,
    digest_response,
    parse_challenge_message,
    parse_www_authenticate,
)
from hub_app.device.errors import BadReplyError

# RFC 7616 section 3.9.1
RFC = {
    "username": "Mufasa",
    "realm": "http-auth@example.org",
    "password": "Circle of Life",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "nc": 1,
    "ha2_text": "GET:/dir/index.html",
}


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_example(algorithm: str, expected: str) -> None:
    assert digest_response(algorithm=algorithm, **RFC) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
@pytest.mark.parametrize("nc", [1, 2, 255, 0x1234ABCD])
def test_frame_response_matches_firmware(algorithm: str, nc: int) -> None:
    ours = digest_response(
        algorithm=algorithm, username="admin", realm="hublight-1a2b3c", password="ABCD2345",
        nonce="123456789", nc=nc, cnonce="c0ffee", ha2_text=FRAME_HA2_TEXT,
    )
    theirs = firmware_auth.digest_response(
        algorithm, "admin", "hublight-1a2b3c", "ABCD2345", "123456789", f"{nc:08x}", "c0ffee",
        firmware_auth.FRAME_HA2_INPUT,
    )
    assert ours == theirs


def test_http_header_is_accepted_by_firmware_parser() -> None:
    auth = DigestAuth("admin", 'pa"ss\\word')
    auth.update(Challenge(realm="hublight-1a2b3c", nonce=42, algorithm="SHA-256"))
    header = auth.http_authorization("POST", "/rpc", cnonce="abc")
    fields = firmware_auth.parse_digest_header(header)
    assert fields is not None
    assert fields["uri"] == "/rpc" and fields["nc"] == "00000001" and fields["nonce"] == "42"
    expected = firmware_auth.digest_response(
        "SHA-256", "admin", "hublight-1a2b3c", 'pa"ss\\word', "42", "00000001", "abc", "POST:/rpc"
    )
    assert fields["response"] == expected


def test_nonce_reused_with_increasing_nc_and_reset_by_new_challenge() -> None:
    auth = DigestAuth("admin", "secret-password")
    with pytest.raises(RuntimeError):
        auth.frame_auth()
    auth.update(parse_challenge_message(
        '{"auth_type":"digest","nonce":777,"nc":1,"realm":"hublight-000001","algorithm":"SHA-256"}'
    ))
    first, second = auth.frame_auth(), auth.frame_auth()
    assert (first["nonce"], first["nc"]) == (777, 1)
    assert (second["nonce"], second["nc"]) == (777, 2)
    assert first["cnonce"] != second["cnonce"]
    assert set(first) == {"realm", "username", "nonce", "cnonce", "response", "algorithm", "nc"}
    auth.update(Challenge(realm="hublight-000001", nonce=778))
    assert auth.frame_auth()["nc"] == 1
    assert "secret-password" not in repr(auth)


def test_parse_challenge_message() -> None:
    challenge = parse_challenge_message(
        '{"auth_type":"digest","nonce":1695,"nc":1,"realm":"shellypro1-abc","algorithm":"MD5"}'
    )
    assert challenge == Challenge(realm="shellypro1-abc", nonce=1695, algorithm="MD5")


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1, 2]",
        '{"auth_type":"basic","nonce":1,"realm":"x"}',
        '{"auth_type":"digest","realm":"x"}',
        '{"auth_type":"digest","nonce":1}',
        '{"auth_type":"digest","nonce":1,"realm":"x","algorithm":"SHA-512-256"}',
        '{"auth_type":"digest","nonce":true,"realm":"x"}',
    ],
)
def test_parse_challenge_message_rejects_bad_input(message: str) -> None:
    with pytest.raises(BadReplyError):
        parse_challenge_message(message)


def test_parse_www_authenticate() -> None:
    header = 'Digest qop="auth", realm="hublight-1a2b3c", nonce="99", algorithm=SHA-256'
    assert parse_www_authenticate(header) == Challenge(realm="hublight-1a2b3c", nonce="99")
    # the firmware's own header builder
    built = firmware_auth.www_authenticate({"realm": "r", "nonce": 5, "algorithm": "SHA-256"})
    assert parse_www_authenticate(built) == Challenge(realm="r", nonce="5")
    quoted = parse_www_authenticate(
        'Digest realm="a \\"b\\", c", nonce="n", opaque="o", qop="auth,auth-int"'
    )
    assert (quoted.realm, quoted.algorithm, quoted.opaque) == ('a "b", c', "MD5", "o")


@pytest.mark.parametrize(
    "header",
    ['Basic realm="x"', 'Digest realm="x", nonce="unterminated', 'Digest realm="x"',
     'Digest realm="x", nonce="1", qop="auth-int"', "Digest realm"],
)
def test_parse_www_authenticate_rejects_bad_input(header: str) -> None:
    with pytest.raises(BadReplyError):
        parse_www_authenticate(header)
