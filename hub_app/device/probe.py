"""Identify what answers at an address (HubLight, Mongoose OS, Shelly Gen2) without credentials."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hub_app.device.client import DeviceClient
from hub_app.device.errors import AuthError, BadReplyError, RpcError

__all__ = ["DeviceKind", "ProbeResult", "probe"]


class DeviceKind(enum.StrEnum):
    """What kind of MG-RPC device answered."""

    HUBLIGHT = "hublight"
    MONGOOSE_OS = "mongoose_os"
    SHELLY_GEN2 = "shelly_gen2"


@dataclass(frozen=True)
class ProbeResult:
    """What `probe()` learnt. `info` is the raw (unauthenticated) reply it was decided from."""

    kind: DeviceKind
    device_id: str | None
    model: str | None
    app: str | None
    fw_version: str | None
    auth_required: bool
    info: dict[str, Any] = field(default_factory=dict)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def probe(
    session: aiohttp.ClientSession, host: str, port: int = 80, *, timeout: float = 5.0  # noqa: ASYNC109
) -> ProbeResult:
    """Ask the device at `host:port` who it is, without credentials.

    HubLight: `Sys.GetInfo` has `app == "HubLight"`. Mongoose OS: `Sys.GetInfo` has `fw_id` or
    `arch`. Shelly Gen2: `Shelly.GetDeviceInfo` answers (it has no `Sys.GetInfo`).
    Raises DeviceConnectionError / DeviceTimeoutError when nothing answers, BadReplyError when
    something answers that is none of these.
    """
    client = DeviceClient(session, host, port, timeout=timeout, transport="http", reconnect=False)
    try:
        sys_auth_required = False
        try:
            info = await client.call("Sys.GetInfo")
        except AuthError:
            info, sys_auth_required = None, True
        except RpcError:
            info = None
        if isinstance(info, dict):
            app = _str(info.get("app"))
            kind = (
                DeviceKind.HUBLIGHT if app == "HubLight"
                else DeviceKind.MONGOOSE_OS if "fw_id" in info or "arch" in info
                else None
            )
            if kind is not None:
                return ProbeResult(
                    kind=kind,
                    device_id=_str(info.get("id")) or client.device_id,
                    model=_str(info.get("model")),
                    app=app,
                    fw_version=_str(info.get("fw_version")),
                    auth_required=bool(info.get("auth_required", False)),
                    info=info,
                )
        try:
            shelly = await client.call("Shelly.GetDeviceInfo")
        except (RpcError, AuthError):
            shelly = None
        if isinstance(shelly, dict) and ("gen" in shelly or "auth_en" in shelly):
            return ProbeResult(
                kind=DeviceKind.SHELLY_GEN2,
                device_id=_str(shelly.get("id")) or client.device_id,
                model=_str(shelly.get("model")),
                app=_str(shelly.get("app")),
                fw_version=_str(shelly.get("ver")) or _str(shelly.get("fw_id")),
                auth_required=bool(shelly.get("auth_en", False)),
                info=shelly,
            )
        if sys_auth_required:
            # An MG-RPC 401 frame, but no Shelly: a Mongoose OS device with auth on.
            return ProbeResult(
                kind=DeviceKind.MONGOOSE_OS, device_id=client.device_id, model=None, app=None,
                fw_version=None, auth_required=True,
            )
        raise BadReplyError(f"{host}:{port} speaks MG-RPC but is not a known kind of device")
    finally:
        await client.close()
