"""Serving a firmware file to a light for OTA.Update: a small aiohttp server on a free port.

The server listens on the address of this PC's interface that the light can reach (the one
the hub talks to it from) and serves exactly one file under an unguessable path.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import socket
from pathlib import Path

from aiohttp import web

__all__ = ["FirmwareServer", "local_address_towards", "sha256_file"]


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file (blocking: run in an executor)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_address_towards(host: str, port: int = 80) -> str:
    """The address of this PC's interface used to reach ``host`` (a UDP "connect", nothing
    is sent). Loopback hosts give a loopback address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, port or 80))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1" if family == socket.AF_INET else "::1"


class FirmwareServer:
    """Serves one file at ``url`` until ``stop()``; counts the bytes sent in ``bytes_sent``."""

    def __init__(self, path: str | Path, bind_host: str) -> None:
        self.path = Path(path)
        self.bind_host = bind_host
        self.token = secrets.token_urlsafe(16)
        self.bytes_sent = 0
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The URL to give the light (after ``start()``)."""
        assert self.port is not None, "start() first"
        host = f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host
        return f"http://{host}:{self.port}/fw/{self.token}/{self.path.name}"

    async def start(self) -> str:
        """Listen on a free port of ``bind_host``. -> the URL."""
        app = web.Application()
        app.router.add_get(f"/fw/{self.token}/{{name}}", self._serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.bind_host, 0)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        return self.url

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        data = await asyncio.get_running_loop().run_in_executor(None, self.path.read_bytes)
        self.bytes_sent += len(data)
        return web.Response(body=data, content_type="application/octet-stream")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
