"""Digest authentication for MG-RPC (frame auth) and HTTP (RFC 7616), MD5 and SHA-256.

The light challenges with a nonce; `DigestAuth` keeps the latest challenge and answers every
request with that nonce and an increasing `nc` (the light refuses an `nc` that does not increase).
A fresh challenge (a 401) replaces the nonce and restarts `nc` at 1.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from hub_app.device.errors import BadReplyError

__all__ = [
    "FRAME_HA2_TEXT",
    "Challenge",
    "DigestAuth",
    "digest_response",
    "parse_challenge_message",
    "parse_www_authenticate",
]

FRAME_HA2_TEXT = "dummy_method:dummy_uri"
"""What MG-RPC frame auth hashes as HA2 (there is no HTTP method or URI in a frame)."""

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _hash(algorithm: str, text: str) -> str:
    try:
        factory = _HASHES[algorithm.upper()]
    except KeyError:
        raise BadReplyError(
            f"the light asks for an unsupported digest algorithm: {algorithm!r}"
        ) from None
    return factory(text.encode()).hexdigest()


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    nonce: str,
    nc: int,
    cnonce: str,
    ha2_text: str,
    qop: str = "auth",
) -> str:
    """The digest `response`: H(HA1:nonce:nc:cnonce:qop:HA2), `nc` written as 8 hex digits.

    HA1 = H(username:realm:password); HA2 = H(ha2_text), which is "METHOD:uri" for HTTP and
    `FRAME_HA2_TEXT` for MG-RPC frame auth.
    """
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    ha2 = _hash(algorithm, ha2_text)
    return _hash(algorithm, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


@dataclass(frozen=True)
class Challenge:
    """A digest challenge from the light. `nonce` keeps its wire type (MG-RPC sends a number)."""

    realm: str
    nonce: int | str
    algorithm: str = "SHA-256"
    qop: str = "auth"
    opaque: str | None = None


def _challenge_from_fields(fields: dict[str, Any], where: str) -> Challenge:
    realm = fields.get("realm")
    nonce = fields.get("nonce")
    algorithm = fields.get("algorithm") or "MD5"  # RFC 7616: MD5 when absent
    if not isinstance(realm, str):
        raise BadReplyError(f"{where}: the authentication challenge has no realm")
    if isinstance(nonce, bool) or not isinstance(nonce, int | str) or nonce == "":
        raise BadReplyError(f"{where}: the authentication challenge has no nonce")
    if not isinstance(algorithm, str) or algorithm.upper() not in _HASHES:
        raise BadReplyError(
            f"{where}: the light asks for an unsupported digest algorithm: {algorithm!r}"
        )
    qop = fields.get("qop") or "auth"
    if not isinstance(qop, str) or "auth" not in [q.strip() for q in qop.split(",")]:
        raise BadReplyError(f"{where}: the light asks for an unsupported qop: {qop!r}")
    opaque = fields.get("opaque")
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=algorithm.upper(),
        qop="auth",
        opaque=opaque if isinstance(opaque, str) else None,
    )


def parse_challenge_message(message: str) -> Challenge:
    """Parse the JSON challenge carried as the `message` of an MG-RPC 401 error."""
    try:
        fields = json.loads(message)
    except (TypeError, ValueError):
        raise BadReplyError(
            "the 401 error does not carry a JSON authentication challenge"
        ) from None
    if not isinstance(fields, dict):
        raise BadReplyError("the 401 error does not carry a JSON authentication challenge")
    auth_type = fields.get("auth_type", "digest")
    if auth_type != "digest":
        raise BadReplyError(f"the light asks for unsupported authentication: {auth_type!r}")
    return _challenge_from_fields(fields, "401 error")


def _parse_auth_params(text: str) -> dict[str, str]:
    """Parse `k=v, k="quoted, \\"escaped\\""` auth-params (RFC 7235)."""
    fields: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        start = i
        while i < n and text[i] not in "= \t,":
            i += 1
        name = text[start:i].strip().lower()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            if name:
                raise BadReplyError(f"WWW-Authenticate: parameter {name!r} has no value")
            break
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            value: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            if i >= n:
                raise BadReplyError("WWW-Authenticate: unterminated quoted string")
            i += 1
            fields[name] = "".join(value)
        else:
            start = i
            while i < n and text[i] not in ", \t":
                i += 1
            fields[name] = text[start:i]
    return fields


def parse_www_authenticate(header: str) -> Challenge:
    """Parse an HTTP `WWW-Authenticate: Digest ...` header."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        raise BadReplyError(f"the light asks for unsupported HTTP authentication: {scheme!r}")
    return _challenge_from_fields(dict(_parse_auth_params(rest)), "WWW-Authenticate")


class DigestAuth:
    """Credentials plus the current challenge; answers requests with an increasing `nc`."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password
        self.challenge: Challenge | None = None
        self._nc = 0

    def __repr__(self) -> str:
        return f"DigestAuth(username={self.username!r}, password=<redacted>)"

    @property
    def nc(self) -> int:
        """The last `nc` used with the current nonce (0 before the first answer)."""
        return self._nc

    def update(self, challenge: Challenge) -> None:
        """Use a fresh challenge from now on (`nc` restarts at 1)."""
        self.challenge = challenge
        self._nc = 0

    def _next(self, ha2_text: str, cnonce: str | None) -> tuple[Challenge, int, str, str]:
        challenge = self.challenge
        if challenge is None:
            raise RuntimeError("no challenge yet: call update() with the light's challenge first")
        self._nc += 1
        cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
        response = digest_response(
            algorithm=challenge.algorithm,
            username=self.username,
            realm=challenge.realm,
            password=self._password,
            nonce=str(challenge.nonce),
            nc=self._nc,
            cnonce=cnonce,
            ha2_text=ha2_text,
        )
        return challenge, self._nc, cnonce, response

    def frame_auth(self, *, cnonce: str | None = None) -> dict[str, Any]:
        """The `auth` object of an MG-RPC request frame (uses the next `nc`)."""
        challenge, nc, cnonce, response = self._next(FRAME_HA2_TEXT, cnonce)
        return {
            "realm": challenge.realm,
            "username": self.username,
            "nonce": challenge.nonce,
            "cnonce": cnonce,
            "response": response,
            "algorithm": challenge.algorithm,
            "nc": nc,
        }

    def http_authorization(self, method: str, uri: str, *, cnonce: str | None = None) -> str:
        """An RFC 7616 `Authorization: Digest ...` header value (uses the next `nc`)."""
        challenge, nc, cnonce, response = self._next(f"{method.upper()}:{uri}", cnonce)

        def quote(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(challenge.realm)}",
            f"uri={quote(uri)}",
            f"algorithm={challenge.algorithm}",
            f"nonce={quote(str(challenge.nonce))}",
            f"nc={nc:08x}",
            f"cnonce={quote(cnonce)}",
            "qop=auth",
            f"response={quote(response)}",
        ]
        if challenge.opaque is not None:
            parts.append(f"opaque={quote(challenge.opaque)}")
        return "Digest " + ", ".join(parts)
