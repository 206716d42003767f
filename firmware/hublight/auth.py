"""Digest authentication of RPC requests (protocol.md, "Authentication").

Frame auth (``HA2 = H("dummy_method:dummy_uri")``) and HTTP digest headers (RFC 7616, qop=auth),
SHA-256 and, when the platform has it and ``sys.auth_md5`` allows, MD5. Nonces are issued here,
expire after 10 minutes, at most 16 are outstanding, and each remembers the highest ``nc`` seen so
a replayed answer is refused. 10 failures within a minute from one peer address block that peer
for 30 s (429); other peers are not affected. At most 16 peers are tracked (least recently failed
dropped); requests without a peer address (MQTT) share one bucket.
"""

import binascii
import hashlib
import json

from hublight.rpc import RpcError

try:
    from typing import TYPE_CHECKING, Any, Callable
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.logbuf import LogBuffer

USERNAME = "admin"
NONCE_LIFETIME_MS = 10 * 60 * 1000
MAX_NONCES = 16
FAILURE_WINDOW_MS = 60 * 1000
MAX_FAILURES = 10
BLOCK_MS = 30 * 1000
MAX_PEERS = 16
FRAME_HA2_INPUT = "dummy_method:dummy_uri"


def _random_u31() -> int:
    try:
        import os

        return int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    except (ImportError, AttributeError, NotImplementedError):
        import random

        return random.getrandbits(31)


def hex_digest(algorithm: str, text: str) -> "str | None":
    """H(text) as lower-case hex for "SHA-256" or "MD5"; None when unavailable here."""
    if algorithm == "SHA-256":
        h = hashlib.sha256(text.encode())
    elif algorithm == "MD5":
        md5 = getattr(hashlib, "md5", None)
        if md5 is None:
            return None
        h = md5(text.encode())
    else:
        return None
    return binascii.hexlify(h.digest()).decode()


def digest_response(algorithm: str, username: str, realm: str, password: str, nonce: str,
                    nc_hex: str, cnonce: str, ha2_input: str) -> "str | None":
    """The qop=auth digest response; ``ha2_input`` is "method:uri" (frame auth: dummy)."""
    ha1 = hex_digest(algorithm, "%s:%s:%s" % (username, realm, password))
    ha2 = hex_digest(algorithm, ha2_input)
    if ha1 is None or ha2 is None:
        return None
    return hex_digest(algorithm, "%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc_hex, cnonce, ha2))


def normalize_setup_code(code: str) -> str:
    """Setup codes compare without dashes or spaces and case-insensitively."""
    return code.replace("-", "").replace(" ", "").upper()


def setup_code_passwords(code: str) -> list[str]:
    """Accepted spellings of a setup code as a digest password: "ABCD2345", "ABCD-2345" and
    their lower-case forms (the client hashes whatever the user typed)."""
    plain = normalize_setup_code(code)
    dashed = plain[:4] + "-" + plain[4:] if len(plain) == 8 else plain
    out = []
    for candidate in (plain, dashed, plain.lower(), dashed.lower()):
        if candidate not in out:
            out.append(candidate)
    return out


def parse_digest_header(value: str) -> "dict[str, str] | None":
    """Parse ``Authorization: Digest k=v, k="v", ...``. -> dict (keys lower case) or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[:7].lower() != "digest ":
        return None
    pos = 7
    out: dict[str, str] = {}
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " \t,":
            pos += 1
        if pos >= n:
            break
        eq = text.find("=", pos)
        if eq < 0:
            return None
        name = text[pos:eq].strip().lower()
        pos = eq + 1
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == '"':
            pos += 1
            chars = []
            while pos < n and text[pos] != '"':
                if text[pos] == "\\" and pos + 1 < n:
                    pos += 1
                chars.append(text[pos])
                pos += 1
            if pos >= n:
                return None  # unterminated quoted string
            pos += 1
            val = "".join(chars)
        else:
            end = text.find(",", pos)
            if end < 0:
                end = n
            val = text[pos:end].strip()
            pos = end
        if not name:
            return None
        out[name] = val
    return out


def www_authenticate(challenge: dict[str, Any]) -> str:
    """The WWW-Authenticate header value for a challenge dict (see ``DigestAuth.challenge``)."""
    return 'Digest qop="auth", realm="%s", nonce="%s", algorithm=%s' % (
        challenge["realm"], challenge["nonce"], challenge.get("algorithm", "SHA-256"))


def _nc_hex(nc: Any) -> "str | None":
    if isinstance(nc, bool):
        return None
    if isinstance(nc, int):
        if nc < 1 or nc > 0xFFFFFFFF:
            return None
        return "%08x" % nc
    if isinstance(nc, str) and len(nc) == 8:
        try:
            int(nc, 16)
        except ValueError:
            return None
        return nc.lower()
    return None


class DigestAuth:
    """Verifier of one light. ``passwords()`` -> the accepted passwords now (the LAN secret once
    paired, else the spellings of the setup code); ``md5_allowed()`` -> sys.auth_md5."""

    def __init__(self, realm: str, ticks_ms: "Callable[[], int]",
                 ticks_diff: "Callable[[int, int], int]", passwords: "Callable[[], list[str]]",
                 md5_allowed: "Callable[[], bool]", log: "LogBuffer") -> None:
        self.realm = realm
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._passwords = passwords
        self._md5_allowed = md5_allowed
        self.log = log
        self.nonces: dict[str, list[int]] = {}  # nonce text -> [issued_ms, highest nc]
        self.nonce_order: list[str] = []
        # peer key -> [blocked_since ms or None, [failure ms, ...]]; ``peer_order``
        # lists the keys, least recently failed first (at most MAX_PEERS).
        self.peers: dict[str, list[Any]] = {}
        self.peer_order: list[str] = []

    # --- challenges -----------------------------------------------------------------------
    def challenge(self) -> dict[str, Any]:
        """Issue a fresh nonce. -> the challenge dict of protocol.md."""
        nonce = _random_u31()
        while str(nonce) in self.nonces:
            nonce = _random_u31()
        key = str(nonce)
        self.nonces[key] = [self._ticks_ms(), 0]
        self.nonce_order.append(key)
        while len(self.nonce_order) > MAX_NONCES:
            self.nonces.pop(self.nonce_order.pop(0), None)
        return {"auth_type": "digest", "nonce": nonce, "nc": 1, "realm": self.realm,
                "algorithm": "SHA-256"}

    def challenge_error(self) -> RpcError:
        """RpcError(401) whose message is the challenge JSON."""
        return RpcError(401, json.dumps(self.challenge()))

    # --- verification ---------------------------------------------------------------------
    def check_request(self, frame_auth: Any, http: "dict[str, Any] | None" = None,
                      peer: Any = None) -> None:
        """Accept a request (frame auth, else the HTTP Authorization header) or raise
        RpcError(401 with a fresh challenge) or RpcError(429). ``peer`` is the client's address
        (None: no address, e.g. MQTT): failures are counted and blocked per peer."""
        key = "" if peer is None else str(peer)
        self._check_blocked(key)
        if frame_auth is not None:
            if not isinstance(frame_auth, dict):
                raise self.challenge_error()
            if not frame_auth:
                raise self.challenge_error()  # "auth": {} asks for a nonce: not a failure
            self._verify(frame_auth, FRAME_HA2_INPUT, key)
            return
        header = http.get("authorization") if isinstance(http, dict) else None
        if not header:
            raise self.challenge_error()
        fields = parse_digest_header(header)
        if fields is None or fields.get("qop", "auth") != "auth":
            raise self._fail(key, "malformed Authorization header")
        uri = fields.get("uri", "")
        request_uri = http.get("uri") if isinstance(http, dict) else None
        if request_uri and uri.split("?")[0] != str(request_uri).split("?")[0]:
            raise self._fail(key, "digest uri does not match the request")
        method = http.get("method", "POST") if isinstance(http, dict) else "POST"
        self._verify(fields, "%s:%s" % (method, uri), key)

    def blocked(self, peer: Any = None) -> bool:
        """Whether ``peer`` is blocked now (for tests and diagnostics)."""
        try:
            self._check_blocked("" if peer is None else str(peer))
        except RpcError:
            return True
        return False

    def _check_blocked(self, key: str) -> None:
        entry = self.peers.get(key)
        if entry is None or entry[0] is None:
            return
        if self._ticks_diff(self._ticks_ms(), entry[0]) < BLOCK_MS:
            raise RpcError(429, "too many failed authentication attempts, try again later")
        self.peers.pop(key, None)  # the block is over: start afresh
        if key in self.peer_order:
            self.peer_order.remove(key)

    def _fail(self, key: str, why: str) -> RpcError:
        """Count a failed attempt of peer ``key``. -> the error to raise (a fresh challenge)."""
        now = self._ticks_ms()
        entry = self.peers.get(key)
        if entry is None:
            entry = [None, []]
            self.peers[key] = entry
        else:
            self.peer_order.remove(key)
        self.peer_order.append(key)
        while len(self.peer_order) > MAX_PEERS:
            self.peers.pop(self.peer_order.pop(0), None)
        times = [t for t in entry[1] if self._ticks_diff(now, t) < FAILURE_WINDOW_MS]
        times.append(now)
        entry[1] = times
        self.log.warn("auth: rejected (%s)" % why)
        if len(times) >= MAX_FAILURES:
            entry[0] = now
            self.log.warn("auth: too many failures from %s, blocking it for %d s"
                          % (key or "mqtt", BLOCK_MS // 1000))
        return self.challenge_error()

    def _verify(self, fields: dict[str, Any], ha2_input: str, key: str) -> None:
        algorithm = fields.get("algorithm")
        if not algorithm:
            if not self._md5_allowed():
                # RFC 7616: absent means MD5, which is off; an old client, not an attack.
                raise self.challenge_error()
            algorithm = "MD5"
        if isinstance(algorithm, str):
            algorithm = algorithm.upper()
        if algorithm == "SHA256":
            algorithm = "SHA-256"
        if algorithm == "MD5" and not self._md5_allowed():
            raise self._fail(key, "MD5 answers are disabled")
        if algorithm not in ("SHA-256", "MD5"):
            raise self._fail(key, "unsupported algorithm")
        nonce = fields.get("nonce")
        if isinstance(nonce, int) and not isinstance(nonce, bool):
            nonce = str(nonce)
        entry = self.nonces.get(nonce) if isinstance(nonce, str) else None
        if entry is None or self._ticks_diff(self._ticks_ms(), entry[0]) >= NONCE_LIFETIME_MS:
            # Unknown or expired nonce (e.g. issued before a reboot): a new challenge, no penalty.
            raise self.challenge_error()
        nc_hex = _nc_hex(fields.get("nc"))
        cnonce = fields.get("cnonce")
        response = fields.get("response")
        if nc_hex is None or not isinstance(cnonce, str) or not isinstance(response, str):
            raise self._fail(key, "incomplete digest")
        if fields.get("username") != USERNAME or fields.get("realm") != self.realm:
            raise self._fail(key, "wrong username or realm")
        ok = False
        for password in self._passwords():
            expected = digest_response(algorithm, USERNAME, self.realm, password, str(nonce),
                                       nc_hex, cnonce, ha2_input)
            if expected is not None and expected == response.lower():
                ok = True
                break
        if not ok:
            raise self._fail(key, "wrong password")
        nc = int(nc_hex, 16)
        if nc <= entry[1]:
            self.log.warn("auth: replayed nc refused")
            raise self.challenge_error()
        entry[1] = nc
