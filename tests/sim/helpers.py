"""Test helpers for whole-light tests: a small MG-RPC client with frame digest auth."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

HOME_SSID = "HomeNet"
HOME_PASS = "correct horse battery"
LAN_SECRET = "lan-secret-0123456789abcdef"


class RpcFailure(Exception):
    """An error reply: ``code`` and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of a UTF-8 string."""
    return hashlib.sha256(text.encode()).hexdigest()


def frame_auth(challenge: dict[str, Any], password: str, nc: int,
               username: str = "admin") -> dict[str, Any]:
    """The ``auth`` object of a frame answering ``challenge`` (SHA-256, as protocol.md)."""
    realm = challenge["realm"]
    nonce = str(challenge["nonce"])
    cnonce = secrets.token_hex(8)
    ha1 = sha256_hex(f"{username}:{realm}:{password}")
    ha2 = sha256_hex("dummy_method:dummy_uri")
    response = sha256_hex(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
    return {"realm": realm, "username": username, "nonce": int(nonce), "cnonce": cnonce,
            "response": response, "algorithm": "SHA-256", "nc": nc}


class LightRpc:
    """Frames over ``POST /rpc`` with frame digest auth (nonce reused with increasing nc)."""

    def __init__(self, session: aiohttp.ClientSession, url: str,
                 password: str | None = None) -> None:
        self.session = session
        self.url = url
        self.password = password
        self.challenge: dict[str, Any] | None = None
        self.nc = 0
        self._ids = itertools.count(1)
        self.last_auth: dict[str, Any] | None = None

    async def frame(self, frame: dict[str, Any], timeout_s: float = 20.0) -> dict[str, Any]:
        """POST one raw frame; -> the reply frame."""
        async with self.session.post(self.url, data=json.dumps(frame),
                                     timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            body = await response.read()
        reply: dict[str, Any] = json.loads(body)
        return reply

    async def fetch_challenge(self) -> None:
        """Get a nonce: an unauthenticated call of a protected method answers 401."""
        reply = await self.frame({"id": 0, "src": "test", "method": "Config.Get",
                                  "params": {"key": "device.id"}})
        error = reply.get("error") or {}
        if error.get("code") == 401:
            self.challenge = json.loads(error["message"])
            self.nc = 0

    async def call(self, method: str, params: Any = None, *, auth: bool = True) -> Any:
        """Call a method; retries once on 401 with the new challenge. Raises RpcFailure."""
        if auth and self.password is not None and self.challenge is None:
            await self.fetch_challenge()
        for _attempt in range(2):
            frame: dict[str, Any] = {"id": next(self._ids), "src": "test", "method": method}
            if params is not None:
                frame["params"] = params
            if auth and self.password is not None and self.challenge is not None:
                self.nc += 1
                frame["auth"] = frame_auth(self.challenge, self.password, self.nc)
                self.last_auth = frame["auth"]
            reply = await self.frame(frame)
            error = reply.get("error")
            if error is None:
                return reply.get("result")
            if error.get("code") == 401 and auth and self.password is not None and _attempt == 0:
                self.challenge = json.loads(error["message"])
                self.nc = 0
                continue
            raise RpcFailure(int(error.get("code", -1)), str(error.get("message", "")))
        raise AssertionError("unreachable")


async def eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 20.0,
                     interval_s: float = 0.05) -> Any:
    """Poll an async check until it returns a truthy value (or raise its last error)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last_exc: BaseException | None = None
    while True:
        try:
            value = await check()
            if value:
                return value
        except Exception as exc:  # not ready yet
            last_exc = exc
        if loop.time() > deadline:
            if last_exc is not None:
                raise AssertionError(f"condition not met: {last_exc!r}") from last_exc
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval_s)
