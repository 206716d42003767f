"""Digest authentication: frame auth, HTTP headers, nonces, replay, rate limit, setup code."""
# ruff: noqa: UP031

import binascii
import hashlib
import json

from hublight.auth import DigestAuth, parse_digest_header, setup_code_passwords, www_authenticate
from hublight.rpc import RpcError
from mpcheck import FakeClock, MemoryLog

REALM = "hublight-1a2b3c"
CODE = "ABCD2345"


def sha(text):
    return binascii.hexlify(hashlib.sha256(text.encode()).digest()).decode()


def answer(password, nonce, nc, cnonce="c0ffee", ha2_input="dummy_method:dummy_uri",
           realm=REALM, user="admin"):
    """What a client computes (written out here, independent of the firmware's helper)."""
    ha1 = sha("%s:%s:%s" % (user, realm, password))
    ha2 = sha(ha2_input)
    return sha("%s:%s:%08x:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))


class Setup:
    def __init__(self, secret=""):
        self.clock = FakeClock()
        self.log = MemoryLog()
        self.secret = secret
        self.md5 = True
        self.auth = DigestAuth(REALM, self.clock.ticks_ms, self.clock.ticks_diff,
                               self.passwords, lambda: self.md5, self.log.buf)

    def passwords(self):
        return [self.secret] if self.secret else setup_code_passwords(CODE)

    def frame_auth(self, password, nonce, nc, **kw):
        return {"realm": REALM, "username": "admin", "nonce": nonce, "cnonce": "c0ffee",
                "response": answer(password, nonce, nc, **kw), "algorithm": "SHA-256", "nc": nc}


def check(setup, frame_auth, http=None, peer="192.168.1.50"):
    try:
        setup.auth.check_request(frame_auth, http, peer)
    except RpcError as err:
        return err
    return None


def test_challenge_shape():
    s = Setup()
    ch = s.auth.challenge()
    assert ch["auth_type"] == "digest" and ch["realm"] == REALM and ch["nc"] == 1
    assert ch["algorithm"] == "SHA-256" and isinstance(ch["nonce"], int)
    err = check(s, None)
    assert err.code == 401
    parsed = json.loads(err.message)
    assert parsed["realm"] == REALM
    header = www_authenticate(parsed)
    assert header.startswith('Digest qop="auth", realm="hublight-1a2b3c", nonce="')
    assert header.endswith("algorithm=SHA-256")


def test_frame_auth_with_setup_code_spellings():
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    assert check(s, s.frame_auth("ABCD2345", nonce, 1)) is None
    assert check(s, s.frame_auth("abcd-2345", nonce, 2)) is None
    assert check(s, s.frame_auth("ABCD-2345", nonce, 3)) is None
    # nc may come as the 8-hex-digit string too
    fa = s.frame_auth("ABCD2345", nonce, 4)
    fa["nc"] = "00000004"
    assert check(s, fa) is None


def test_secret_replaces_setup_code():
    s = Setup(secret="0123456789abcdef-lan-secret")
    nonce = s.auth.challenge()["nonce"]
    assert check(s, s.frame_auth("ABCD2345", nonce, 1)).code == 401
    assert check(s, s.frame_auth("0123456789abcdef-lan-secret", nonce, 2)) is None


def test_replayed_nc_is_refused_with_fresh_challenge():
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    fa = s.frame_auth(CODE, nonce, 1)
    assert check(s, fa) is None
    err = check(s, fa)
    assert err is not None and err.code == 401
    assert json.loads(err.message)["nonce"] != nonce
    assert check(s, s.frame_auth(CODE, nonce, 2)) is None


def test_unknown_and_expired_nonces():
    s = Setup()
    assert check(s, s.frame_auth(CODE, 12345, 1)).code == 401
    nonce = s.auth.challenge()["nonce"]
    s.clock.now += 10 * 60 * 1000
    assert check(s, s.frame_auth(CODE, nonce, 1)).code == 401


def test_at_most_16_nonces_outstanding():
    s = Setup()
    first = s.auth.challenge()["nonce"]
    for _ in range(16):
        s.auth.challenge()
    assert len(s.auth.nonces) == 16
    assert check(s, s.frame_auth(CODE, first, 1)).code == 401


def test_rate_limit_after_10_failures():
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    for i in range(10):
        assert check(s, s.frame_auth("WRONG999", nonce, i + 1)).code == 401
    err = check(s, s.frame_auth(CODE, nonce, 20))
    assert err.code == 429
    assert check(s, None).code == 429
    s.clock.now += 30 * 1000
    nonce = s.auth.challenge()["nonce"]
    assert check(s, s.frame_auth(CODE, nonce, 1)) is None


def test_rate_limit_is_per_peer():
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    for i in range(10):
        assert check(s, s.frame_auth("WRONG999", nonce, i + 1), peer="192.168.4.2").code == 401
    assert check(s, s.frame_auth(CODE, nonce, 20), peer="192.168.4.2").code == 429
    # the hub (another address) and MQTT (no address) are not locked out
    assert check(s, s.frame_auth(CODE, nonce, 21), peer="192.168.1.10") is None
    assert check(s, s.frame_auth(CODE, nonce, 22), peer=None) is None
    assert s.auth.blocked("192.168.4.2") and not s.auth.blocked("192.168.1.10")
    # failures of one peer do not add up with another's
    for _ in range(9):
        nonce = s.auth.challenge()["nonce"]  # (each failure issues a challenge: 16 at most)
        assert check(s, s.frame_auth("WRONG999", nonce, 1), peer="10.0.0.1").code == 401
        assert check(s, s.frame_auth("WRONG999", nonce, 1), peer="10.0.0.2").code == 401
    nonce = s.auth.challenge()["nonce"]
    assert check(s, s.frame_auth(CODE, nonce, 1), peer="10.0.0.1") is None


def test_rate_limit_tracks_at_most_16_peers():
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    for i in range(10):
        check(s, s.frame_auth("WRONG999", nonce, i + 1), peer="10.0.1.1")
    assert s.auth.blocked("10.0.1.1")
    for peer in range(40):
        nonce = s.auth.challenge()["nonce"]
        assert check(s, s.frame_auth("WRONG999", nonce, 1), peer="10.0.2.%d" % peer).code == 401
    assert len(s.auth.peers) <= 16 and len(s.auth.peer_order) <= 16
    assert not s.auth.blocked("10.0.1.1")  # dropped as the oldest


def test_nonce_requests_and_stale_nonces_are_not_failures():
    s = Setup()
    s.md5 = False
    nonce = s.auth.challenge()["nonce"]
    for i in range(30):
        assert check(s, {}).code == 401  # "auth": {} asks for a nonce
        fa = s.frame_auth(CODE, nonce, i + 1)
        del fa["algorithm"]  # an old client: means MD5, which is off
        assert check(s, fa).code == 401
        assert check(s, s.frame_auth(CODE, 12345 + i, 1)).code == 401  # unknown nonce
    assert not s.auth.blocked("192.168.1.50")
    nonce = s.auth.challenge()["nonce"]
    assert check(s, s.frame_auth(CODE, nonce, 1)) is None


def test_wrong_password_is_logged_without_secrets():
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    check(s, s.frame_auth("WRONG999", nonce, 1))
    assert "WRONG999" not in s.log.text() and CODE not in s.log.text()
    assert "rejected" in s.log.text()


def test_http_digest_header():
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    resp = answer(CODE, nonce, 1, cnonce="abc", ha2_input="POST:/rpc/Light.Set")
    header = ('Digest username="admin", realm="%s", nonce="%s", uri="/rpc/Light.Set", '
              'algorithm=SHA-256, response="%s", qop=auth, nc=00000001, cnonce="abc"'
              % (REALM, nonce, resp))
    http = {"method": "POST", "uri": "/rpc/Light.Set", "authorization": header}
    assert check(s, None, http) is None
    assert check(s, None, http).code == 401  # replay
    http["authorization"] = header.replace("nc=00000001", "nc=00000002")
    assert check(s, None, http).code == 401  # nc changed, response no longer matches


def test_md5_answers_when_available_and_allowed():
    md5 = getattr(hashlib, "md5", None)
    s = Setup()
    nonce = s.auth.challenge()["nonce"]
    if md5 is None:
        return  # this port has no MD5: SHA-256 only (covered above)

    def h(text):
        return binascii.hexlify(md5(text.encode()).digest()).decode()

    ha1 = h("admin:%s:%s" % (REALM, CODE))
    ha2 = h("dummy_method:dummy_uri")
    fa = {"realm": REALM, "username": "admin", "nonce": nonce, "cnonce": "x",
          "response": h("%s:%s:00000001:x:auth:%s" % (ha1, nonce, ha2)), "algorithm": "MD5",
          "nc": 1}
    assert check(s, fa) is None
    s.md5 = False
    fa["nc"] = 2
    fa["response"] = h("%s:%s:00000002:x:auth:%s" % (ha1, nonce, ha2))
    assert check(s, fa).code == 401


def test_parse_digest_header_robustly():
    parsed = parse_digest_header('Digest username="ad\\"min", realm="r, x",nonce=5,  qop=auth')
    assert parsed == {"username": 'ad"min', "realm": "r, x", "nonce": "5", "qop": "auth"}
    assert parse_digest_header("Basic abc") is None
    assert parse_digest_header('Digest username="unterminated') is None
    assert parse_digest_header(None) is None
